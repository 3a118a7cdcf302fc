// How the cuDNN backend maps Keras' masked, possibly backwards sequences onto
// cuDNN's variable-length forward sequences, and back. Shared by the CUDA
// kernels in cuda.cu and by the host emulation in tools/gpu/gru_gpu.cpp, which
// checks this mapping against the CPU path on machines without a GPU.
//
// Row b keeps its first n steps (masks are right-padded; n = T without a mask).
// cuDNN sees the sequence x[b, 0 .. n-1] (forward) or x[b, n-1 .. 0]
// (go_backwards), position j of it being one processed step. Keras'
// processing order k = 0 .. T-1 meets, per row, the kept steps then the masked
// ones (forward), or the masked steps t = T-1 .. n first and then the kept ones
// (go_backwards). Plain C++: compiles with and without nvcc.
#ifndef GRU_CUDA_LAYOUT_H
#define GRU_CUDA_LAYOUT_H

#ifdef __CUDACC__
#define GRU_HOST_DEVICE __host__ __device__
#else
#define GRU_HOST_DEVICE
#endif

namespace gru {
namespace cuda {
namespace layout {

// The input step t that position j of a row's cuDNN sequence reads, or -1 past
// the row's n kept steps.
GRU_HOST_DEVICE inline int source_step(int j, int n, bool backwards) {
  if (j < 0 || j >= n) return -1;
  return backwards ? n - 1 - j : j;
}

// The position j in a row's cuDNN sequence of processing step k, or -1 when
// step k is masked.
GRU_HOST_DEVICE inline int sequence_position(int k, int n, int steps, bool backwards) {
  const int j = backwards ? k - (steps - n) : k;
  return (j >= 0 && j < n) ? j : -1;
}

// A masked step outputs the carried state: the initial state when the masked
// steps come before the kept ones (go_backwards) or there are no kept steps,
// else the row's final state.
GRU_HOST_DEVICE inline bool masked_step_carries_initial(int n, bool backwards) {
  return backwards || n == 0;
}

// Whether the last processed step (k = T - 1) is masked.
GRU_HOST_DEVICE inline bool last_step_masked(int n, int steps, bool backwards) {
  return sequence_position(steps - 1, n, steps, backwards) < 0;
}

// The length cuDNN is given: it rejects empty sequences, so a fully masked row
// runs one step on zeros whose results are then ignored.
GRU_HOST_DEVICE inline int cudnn_length(int n) { return n > 0 ? n : 1; }

}  // namespace layout
}  // namespace cuda
}  // namespace gru

#endif  // GRU_CUDA_LAYOUT_H
