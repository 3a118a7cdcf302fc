// The CUDA backend for builds without CUDA: the same interface as cuda.cu,
// reporting "not built" and refusing to run. R never calls forward() here
// (the backend choice in R/backend.R sees cuda_built = FALSE), so reaching it
// is an internal error, reported as such.
#include "cuda.h"

namespace gru {
namespace cuda {

BuildInfo build_info() { return BuildInfo{}; }

std::vector<std::string> devices() { return {}; }

template <typename T>
void forward(const Spec&, const Weights<T>&, const Inputs<T>&, const Outputs<T>&) {
  throw Error("gru was built without CUDA and cuDNN");
}

template void forward<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                             const Outputs<float>&);
template void forward<double>(const Spec&, const Weights<double>&, const Inputs<double>&,
                              const Outputs<double>&);

}  // namespace cuda
}  // namespace gru
