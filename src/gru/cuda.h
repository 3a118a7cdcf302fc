// The cuDNN backend's interface. Two objects implement it: gru/cuda.o (CUDA +
// cuDNN, built when configure's probe succeeds) and gru/cuda_stub.o (CPU-only
// builds). configure chooses one at link time, so no #ifdef spreads through
// the code. Plain C++ types only: this header is included by the Rcpp glue.
#ifndef GRU_CUDA_H
#define GRU_CUDA_H

#include <string>
#include <vector>

#include "gru.h"

namespace gru {
namespace cuda {

struct BuildInfo {
  bool built = false;         // compiled against CUDA + cuDNN
  int cuda_runtime_version = 0;  // cudaRuntimeGetVersion() at build time, 0 if none
  int cudnn_version = 0;      // CUDNN_VERSION at build time, 0 if none
};

// Facts about the build (never touches a device).
BuildInfo build_info();

// GPUs usable now: their names. Empty when none, when the driver is missing
// or too old, or in a stub build. Never throws.
std::vector<std::string> devices();

// The cuDNN forward pass with the CPU path's semantics (Keras' generic path).
// The caller guarantees eligibility: tanh/sigmoid, reset_after, bias, no
// dropout, masks right-padded. Throws gru::Error naming the failed CUDA or
// cuDNN call and its status.
template <typename T>
void forward(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
             const Outputs<T>& out);

}  // namespace cuda
}  // namespace gru

#endif  // GRU_CUDA_H
