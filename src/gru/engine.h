// The engine's interface to its callers: the one engine header the Rcpp glue
// (src/rcpp_*.cpp) includes. Everything here is R-free (see gru.h):
//   gru.h          Spec, Tuning, the views, PackedWeights, the forward passes
//   activations.h  activations and their derivatives
//   backward.h     the training passes (forward_train, backward) and their workspace
//   buffer.h       LargeArray, for workspaces kept between steps
//   plan.h         the CPU forward pass's work split (for tests)
//   conv1d.h       Conv1D's passes
//   cuda.h         the cuDNN backend (a stub without CUDA)
// and the two facts below. The per-ISA kernels, the packing and the gemm
// stay behind it.
#ifndef GRU_ENGINE_H
#define GRU_ENGINE_H

#include "activations.h"
#include "backward.h"
#include "buffer.h"
#include "conv1d.h"
#include "cuda.h"
#include "gru.h"
#include "plan.h"

namespace gru {

// The CPU kernel set the passes run on this machine: "avx512", "avx2" or
// "generic" (GRU_ISA caps it, see kernels.h).
const char* cpu_kernels_name();

// c = a b for row-major M x K a and K x N b, into row-major c, with the
// engine's own packed product (the training passes'), on `threads` threads:
// what inst/bench/bench-conv1d.R compares Conv1D with.
template <typename T>
void matmul(int M, int N, int K, const T* a, const T* b, T* c, int threads);

}  // namespace gru

#endif  // GRU_ENGINE_H
