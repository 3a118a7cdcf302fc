// The cuDNN backend: Keras' GRU (reset_after = TRUE, tanh/sigmoid, with bias)
// on cudnnRNNForward, returning the CPU path's numbers (src/gru/forward.cpp).
//
// How one call runs, on the current CUDA device:
//  1. R's column-major (B, T, F) input is copied as is, then a transposing
//     kernel (pack_input) writes cuDNN's SEQ_MAJOR_UNPACKED layout,
//     x_seq[(j * B + b) * F + f], where j is the position in row b's cuDNN
//     sequence. go_backwards and masks are folded in here: row b (with n_b
//     kept steps; masks are right-padded) gives cuDNN the sequence
//     x[b, 0 .. n_b - 1], or x[b, n_b - 1 .. 0] with go_backwards.
//  2. cudnnRNNForward (CUDNN_GRU, CUDNN_RNN_DOUBLE_BIAS, padded IO) with the
//     lengths max(n_b, 1): cuDNN rejects empty sequences, so a fully masked
//     row runs one step on zeros and its results are replaced in step 3.
//  3. A second transposing kernel (unpack_output) writes the returned sequence
//     in R's (B, T, H) layout in processing order and fixes up the masked steps
//     with the generic path's numbers: a masked step repeats the carried state
//     (the initial state before a row's first kept step, its final state after
//     the last) or is zero with zero_output_for_mask. The final state and the
//     last output are assembled on the host from hy and h0.
//
// One context per device (cuDNN handle, stream, descriptors and grow-only device
// buffers) is created on first use and reused by later calls under a mutex.
//
// Float32 uses CUDNN_FMA_MATH: TF32 tensor-core math would differ from the CPU
// path by ~1e-3, beyond the conformance tolerance.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda.h"
#include "cuda_check.cuh"
#include "cuda_layout.h"
#include "gru.h"

namespace gru {
namespace cuda {

namespace {

using detail::check;

constexpr int kTile = 32;     // transpose tile edge
constexpr int kTileRows = 8;  // threads per tile column: blocks of 32 x 8

// x_seq[(j * B + b) * F + f] = x[b + B * t + B * T * f], where t is the input
// step row b reads at position j of its cuDNN sequence (zero past its length).
// Tiled through shared memory so reads run along b and writes along f.
template <typename T>
__global__ void pack_input(const T* __restrict__ x, T* __restrict__ x_seq,
                           const int* __restrict__ len, int B, int steps, int F,
                           bool backwards) {
  __shared__ T tile[kTile][kTile + 1];
  const long long rows = static_cast<long long>(B) * steps;
  const long long i0 = static_cast<long long>(blockIdx.x) * kTile;
  const int f0 = blockIdx.y * kTile;

  const long long i = i0 + threadIdx.x;  // row j * B + b of x_seq
  long long src = -1;
  if (i < rows) {
    const int b = static_cast<int>(i % B);
    const int j = static_cast<int>(i / B);
    const int t = layout::source_step(j, len[b], backwards);
    if (t >= 0) src = b + static_cast<long long>(B) * t;
  }
  for (int c = threadIdx.y; c < kTile; c += kTileRows) {
    const int f = f0 + c;
    tile[threadIdx.x][c] = (src >= 0 && f < F) ? x[src + rows * f] : T(0);
  }
  __syncthreads();
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const long long row = i0 + r;
    const int f = f0 + threadIdx.x;
    if (row < rows && f < F) x_seq[row * F + f] = tile[r][threadIdx.x];
  }
}

// out[b + B * k + B * T * u] (processing step k) from y_seq[(j * B + b) * H + u],
// j = layout::sequence_position(k); every other step is masked and repeats the
// carried state (h0 or hy, see cuda_layout.h) or is zero.
template <typename T>
__global__ void unpack_output(const T* __restrict__ y_seq, const T* __restrict__ h0,
                              const T* __restrict__ hy, T* __restrict__ out,
                              const int* __restrict__ len, int B, int steps, int H,
                              bool backwards, bool zero_masked) {
  __shared__ T tile[kTile][kTile + 1];
  const long long rows = static_cast<long long>(B) * steps;
  const long long i0 = static_cast<long long>(blockIdx.x) * kTile;
  const int u0 = blockIdx.y * kTile;

  const int u = u0 + threadIdx.x;
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const long long i = i0 + r;  // row b + B * k of out
    T v = T(0);
    if (i < rows && u < H) {
      const int b = static_cast<int>(i % B);
      const int k = static_cast<int>(i / B);
      const int n = len[b];
      const int j = layout::sequence_position(k, n, steps, backwards);
      if (j >= 0) {
        v = y_seq[(static_cast<long long>(j) * B + b) * H + u];
      } else if (!zero_masked) {
        v = layout::masked_step_carries_initial(n, backwards)
                ? h0[static_cast<long long>(b) * H + u]
                : hy[static_cast<long long>(b) * H + u];
      }
    }
    tile[r][threadIdx.x] = v;
  }
  __syncthreads();
  for (int c = threadIdx.y; c < kTile; c += kTileRows) {
    const long long i = i0 + threadIdx.x;
    const int uu = u0 + c;
    if (i < rows && uu < H) out[i + rows * uu] = tile[threadIdx.x][c];
  }
}

template <typename T>
constexpr cudnnDataType_t data_type() {
  return std::is_same<T, double>::value ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

template <typename T>
constexpr cudnnMathType_t math_type() {
  return std::is_same<T, double>::value ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

// Everything one device reuses across calls. Members are destroyed in reverse
// order, so the handle goes before the stream it uses.
struct Context {
  Context()
      : handle("cudnnCreate"),
        rnn("cudnnCreateRNNDescriptor"),
        dropout("cudnnCreateDropoutDescriptor"),
        h_desc("cudnnCreateTensorDescriptor"),
        matrix_desc("cudnnCreateTensorDescriptor"),
        bias_desc("cudnnCreateTensorDescriptor"),
        x_desc("cudnnCreateRNNDataDescriptor"),
        y_desc("cudnnCreateRNNDataDescriptor") {
    check(cudnnSetStream(handle.get(), stream.get()), "cudnnSetStream");
    // No dropout: no random states are needed.
    check(cudnnSetDropoutDescriptor(dropout.get(), handle.get(), 0.0f, nullptr, 0, 0),
          "cudnnSetDropoutDescriptor");
  }

  std::mutex mu;
  detail::Stream stream;
  detail::CudnnHandle handle;
  detail::RNNDesc rnn;
  detail::DropoutDesc dropout;
  detail::TensorDesc h_desc, matrix_desc, bias_desc;
  detail::RNNDataDesc x_desc, y_desc;

  // What the RNN descriptor is set up for, and where cuDNN keeps each weight
  // matrix and bias of linLayerID 0..5 inside the weight space (in elements).
  bool configured = false;
  cudnnDataType_t dtype = CUDNN_DATA_FLOAT;
  int input_dim = 0;
  int units = 0;
  std::size_t weight_bytes = 0;
  std::array<std::size_t, 6> matrix_offset{};
  std::array<std::size_t, 6> bias_offset{};

  detail::DeviceBuffer weights, work, reserve, x, x_seq, y_seq, out, h0, hy, len, seq_len;
  std::vector<unsigned char> host_weights;  // staging for the weight space
};

// The context of `device`, created on first use. The registry is deliberately
// never destroyed: freeing cuDNN handles and device memory from a static
// destructor at process exit can run after the CUDA runtime has shut down.
Context& context_for(int device) {
  static std::mutex* registry_mu = new std::mutex;
  static auto* registry = new std::map<int, std::unique_ptr<Context>>;
  std::lock_guard<std::mutex> lock(*registry_mu);
  std::unique_ptr<Context>& slot = (*registry)[device];
  if (!slot) slot.reset(new Context());  // a failed constructor leaves it empty
  return *slot;
}

// Where cuDNN's matrix or bias `id` lives, checked against the shape the
// conversion below assumes: a row-major rows x cols matrix, or a vector of rows.
std::size_t locate(cudnnTensorDescriptor_t desc, const void* base, const void* addr,
                   std::size_t elem, int rows, int cols, int id, const char* what) {
  cudnnDataType_t dt;
  int nb = 0;
  int dims[3] = {0, 0, 0};
  int strides[3] = {0, 0, 0};
  check(cudnnGetTensorNdDescriptor(desc, 3, &dt, &nb, dims, strides),
        "cudnnGetTensorNdDescriptor");
  const bool ok = addr != nullptr && nb == 3 && dims[0] == 1 && dims[1] == rows &&
                  dims[2] == cols && strides[2] == 1 && (cols == 1 || strides[1] == cols);
  const std::ptrdiff_t bytes =
      static_cast<const char*>(addr) - static_cast<const char*>(base);
  if (!ok || bytes < 0 || static_cast<std::size_t>(bytes) % elem != 0) {
    throw Error(std::string("unexpected cuDNN GRU weight layout for ") + what +
                " of linLayerID " + std::to_string(id) + ": dims " +
                std::to_string(dims[0]) + " x " + std::to_string(dims[1]) + " x " +
                std::to_string(dims[2]) + ", expected 1 x " + std::to_string(rows) +
                " x " + std::to_string(cols));
  }
  return static_cast<std::size_t>(bytes) / elem;
}

// Sets the RNN descriptor up for (T, F, H) unless it already is, sizes the
// weight space and records where each matrix and bias lives.
template <typename T>
void configure_rnn(Context& c, int F, int H) {
  const cudnnDataType_t dt = data_type<T>();
  if (c.configured && c.dtype == dt && c.input_dim == F && c.units == H) return;
  c.configured = false;
  check(cudnnSetRNNDescriptor_v8(c.rnn.get(), CUDNN_RNN_ALGO_STANDARD, CUDNN_GRU,
                                 CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL,
                                 CUDNN_LINEAR_INPUT, dt, dt, math_type<T>(), F, H, H, 1,
                                 c.dropout.get(), CUDNN_RNN_PADDED_IO_ENABLED),
        "cudnnSetRNNDescriptor_v8");
  std::size_t bytes = 0;
  check(cudnnGetRNNWeightSpaceSize(c.handle.get(), c.rnn.get(), &bytes),
        "cudnnGetRNNWeightSpaceSize");
  void* base = c.weights.reserve(bytes, "cudaMalloc (weight space)");
  for (int id = 0; id < 6; ++id) {
    void* m = nullptr;
    void* b = nullptr;
    check(cudnnGetRNNWeightParams(c.handle.get(), c.rnn.get(), 0, bytes, base, id,
                                  c.matrix_desc.get(), &m, c.bias_desc.get(), &b),
          "cudnnGetRNNWeightParams");
    const int cols = id < 3 ? F : H;
    c.matrix_offset[id] =
        locate(c.matrix_desc.get(), base, m, sizeof(T), H, cols, id, "the weight matrix");
    c.bias_offset[id] =
        locate(c.bias_desc.get(), base, b, sizeof(T), H, 1, id, "the bias");
    if ((c.matrix_offset[id] + static_cast<std::size_t>(H) * cols) * sizeof(T) > bytes ||
        (c.bias_offset[id] + H) * sizeof(T) > bytes) {
      throw Error("cuDNN GRU weight " + std::to_string(id) +
                  " lies outside the weight space");
    }
  }
  c.host_weights.assign(bytes, 0);
  c.weight_bytes = bytes;
  c.dtype = dt;
  c.input_dim = F;
  c.units = H;
  c.configured = true;
}

// The one place that converts Keras' weight layout to cuDNN's.
//
// Keras: kernel (F, 3H) and recurrent_kernel (H, 3H), column-major, gate
// blocks z, r, h along 3H; input_bias and recurrent_bias (3H) in the same
// order. cuDNN's GRU: linLayerID 0, 1, 2 are the input matrices of gates
// r, z, h (row-major H x F) with their input biases; 3, 4, 5 the recurrent
// matrices (H x H) with their recurrent biases. A Keras gate block, element
// (f, j) at f + F * j, has exactly the bytes of cuDNN's row-major H x F matrix,
// element (j, f) at j * F + f, so each block is one contiguous copy and only
// the gate order changes. The equations then agree: cuDNN's
// h' = tanh(W_h x + b_Wh + r * (R_h h + b_Rh)), h = (1 - z) h' + z h_prev is
// Keras' reset_after = TRUE cell.
template <typename T>
void keras_to_cudnn_weights(const Context& c, const Spec& s, const Weights<T>& w,
                            T* space) {
  constexpr int kKerasBlock[3] = {1, 0, 2};  // cuDNN gate r, z, h -> Keras block
  const std::size_t F = s.input_dim, H = s.units;
  for (int g = 0; g < 3; ++g) {
    const std::size_t k = kKerasBlock[g];
    std::copy_n(w.kernel + k * F * H, F * H, space + c.matrix_offset[g]);
    std::copy_n(w.recurrent_kernel + k * H * H, H * H, space + c.matrix_offset[3 + g]);
    std::copy_n(w.input_bias + k * H, H, space + c.bias_offset[g]);
    std::copy_n(w.recurrent_bias + k * H, H, space + c.bias_offset[3 + g]);
  }
}

// The caller (R) only sends eligible configurations; check the invariants the
// conversion relies on rather than computing something else silently.
template <typename T>
void check_eligible(const Spec& s, const Weights<T>& w, const Inputs<T>& in) {
  if (s.activation != Activation::kTanh ||
      s.recurrent_activation != Activation::kSigmoid) {
    throw Error(
        "the cuDNN backend needs activation tanh and recurrent_activation sigmoid");
  }
  if (!s.reset_after) throw Error("the cuDNN backend needs reset_after = TRUE");
  if (w.kernel == nullptr || w.recurrent_kernel == nullptr || w.input_bias == nullptr ||
      w.recurrent_bias == nullptr) {
    throw Error("the cuDNN backend needs the kernels and both bias vectors");
  }
  if (s.dropout_gates != 0 || s.recurrent_dropout_gates != 0 ||
      in.dropout_mask != nullptr || in.recurrent_dropout_mask != nullptr) {
    throw Error("the cuDNN backend does not apply dropout");
  }
  if (in.x == nullptr) throw Error("the cuDNN backend needs an input");
}

// Each row's number of kept steps; the mask (B x T, column-major) must be
// right-padded: kept steps first.
std::vector<int> kept_steps(const Spec& s, const int* mask) {
  const int B = s.batch, steps = s.timesteps;
  std::vector<int> len(B, steps);
  if (mask == nullptr) return len;
  for (int b = 0; b < B; ++b) {
    int n = 0;
    while (n < steps && mask[b + static_cast<std::size_t>(B) * n] != 0) ++n;
    for (int t = n; t < steps; ++t) {
      if (mask[b + static_cast<std::size_t>(B) * t] != 0) {
        throw Error("the cuDNN backend needs a right-padded mask (row " +
                    std::to_string(b + 1) + " keeps a step after a masked one)");
      }
    }
    len[b] = n;
  }
  return len;
}

dim3 transpose_grid(long long rows, int cols) {
  return dim3(static_cast<unsigned>((rows + kTile - 1) / kTile),
              static_cast<unsigned>((cols + kTile - 1) / kTile));
}

template <typename T>
void forward_on(Context& c, const Spec& s, const Weights<T>& w, const Inputs<T>& in,
                const Outputs<T>& out, const std::vector<int>& len) {
  const int B = s.batch, steps = s.timesteps, F = s.input_dim, H = s.units;
  const std::size_t rows = static_cast<std::size_t>(B) * steps;
  const std::size_t bh = static_cast<std::size_t>(B) * H;
  const cudaStream_t st = c.stream.get();
  const cudnnHandle_t handle = c.handle.get();

  configure_rnn<T>(c, F, H);

  std::vector<int> seq_len(B);
  bool any_kept = false;
  for (int b = 0; b < B; ++b) {
    seq_len[b] = layout::cudnn_length(len[b]);
    any_kept = any_kept || len[b] > 0;
  }

  // Host-side staging: h0 as cuDNN's (1, B, H) row-major tensor.
  std::vector<T> h0_host(bh, T(0));
  if (in.initial_state != nullptr) {
    for (int b = 0; b < B; ++b) {
      for (int u = 0; u < H; ++u) {
        h0_host[static_cast<std::size_t>(b) * H + u] =
            in.initial_state[b + static_cast<std::size_t>(B) * u];
      }
    }
  }
  T* weights = static_cast<T*>(c.weights.get());
  keras_to_cudnn_weights<T>(c, s, w, reinterpret_cast<T*>(c.host_weights.data()));

  T* x = static_cast<T*>(c.x.reserve(rows * F * sizeof(T), "cudaMalloc (input)"));
  T* x_seq =
      static_cast<T*>(c.x_seq.reserve(rows * F * sizeof(T), "cudaMalloc (cuDNN input)"));
  T* y_seq =
      static_cast<T*>(c.y_seq.reserve(rows * H * sizeof(T), "cudaMalloc (cuDNN output)"));
  T* h0 = static_cast<T*>(c.h0.reserve(bh * sizeof(T), "cudaMalloc (initial state)"));
  T* hy = static_cast<T*>(c.hy.reserve(bh * sizeof(T), "cudaMalloc (final state)"));
  int* d_len = static_cast<int*>(c.len.reserve(B * sizeof(int), "cudaMalloc (lengths)"));
  int* d_seq_len =
      static_cast<int*>(c.seq_len.reserve(B * sizeof(int), "cudaMalloc (lengths)"));

  check(cudaMemcpyAsync(weights, c.host_weights.data(), c.weight_bytes,
                        cudaMemcpyHostToDevice, st),
        "cudaMemcpyAsync (weights)");
  check(cudaMemcpyAsync(x, in.x, rows * F * sizeof(T), cudaMemcpyHostToDevice, st),
        "cudaMemcpyAsync (input)");
  check(cudaMemcpyAsync(h0, h0_host.data(), bh * sizeof(T), cudaMemcpyHostToDevice, st),
        "cudaMemcpyAsync (initial state)");
  check(cudaMemcpyAsync(d_len, len.data(), B * sizeof(int), cudaMemcpyHostToDevice, st),
        "cudaMemcpyAsync (lengths)");
  check(cudaMemcpyAsync(d_seq_len, seq_len.data(), B * sizeof(int),
                        cudaMemcpyHostToDevice, st),
        "cudaMemcpyAsync (lengths)");

  const dim3 block(kTile, kTileRows);
  pack_input<T><<<transpose_grid(static_cast<long long>(rows), F), block, 0, st>>>(
      x, x_seq, d_len, B, steps, F, s.go_backwards);
  check(cudaGetLastError(), "pack_input (kernel launch)");

  if (any_kept) {
    T padding = T(0);
    check(cudnnSetRNNDataDescriptor(c.x_desc.get(), data_type<T>(),
                                    CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, steps, B, F,
                                    seq_len.data(), &padding),
          "cudnnSetRNNDataDescriptor (input)");
    check(cudnnSetRNNDataDescriptor(c.y_desc.get(), data_type<T>(),
                                    CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, steps, B, H,
                                    seq_len.data(), &padding),
          "cudnnSetRNNDataDescriptor (output)");
    const int h_dims[3] = {1, B, H};
    const int h_strides[3] = {B * H, H, 1};
    check(
        cudnnSetTensorNdDescriptor(c.h_desc.get(), data_type<T>(), 3, h_dims, h_strides),
        "cudnnSetTensorNdDescriptor (state)");

    std::size_t work_bytes = 0, reserve_bytes = 0;
    check(cudnnGetRNNTempSpaceSizes(handle, c.rnn.get(), CUDNN_FWD_MODE_INFERENCE,
                                    c.x_desc.get(), &work_bytes, &reserve_bytes),
          "cudnnGetRNNTempSpaceSizes");
    void* work = c.work.reserve(work_bytes, "cudaMalloc (cuDNN workspace)");
    void* reserve = reserve_bytes > 0
                        ? c.reserve.reserve(reserve_bytes, "cudaMalloc (cuDNN reserve)")
                        : nullptr;
    check(cudnnRNNForward(handle, c.rnn.get(), CUDNN_FWD_MODE_INFERENCE, d_seq_len,
                          c.x_desc.get(), x_seq, c.y_desc.get(), y_seq, c.h_desc.get(),
                          h0, hy, c.h_desc.get(), nullptr, nullptr, c.weight_bytes,
                          weights, work_bytes, work, reserve_bytes, reserve),
          "cudnnRNNForward");
  } else {
    // Every row is fully masked: nothing for cuDNN to do.
    check(cudaMemcpyAsync(hy, h0, bh * sizeof(T), cudaMemcpyDeviceToDevice, st),
          "cudaMemcpyAsync (state)");
  }

  if (s.return_sequences && out.output != nullptr) {
    T* seq = static_cast<T*>(c.out.reserve(rows * H * sizeof(T), "cudaMalloc (output)"));
    unpack_output<T><<<transpose_grid(static_cast<long long>(rows), H), block, 0, st>>>(
        y_seq, h0, hy, seq, d_len, B, steps, H, s.go_backwards, s.zero_output_for_mask);
    check(cudaGetLastError(), "unpack_output (kernel launch)");
    check(cudaMemcpyAsync(out.output, seq, rows * H * sizeof(T), cudaMemcpyDeviceToHost,
                          st),
          "cudaMemcpyAsync (output)");
  }
  std::vector<T> hy_host(bh);
  check(cudaMemcpyAsync(hy_host.data(), hy, bh * sizeof(T), cudaMemcpyDeviceToHost, st),
        "cudaMemcpyAsync (final state)");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize");

  // The final state is the carried state; a fully masked row keeps h0. The last
  // output (return_sequences = FALSE) is the output of the last processed step.
  for (int b = 0; b < B; ++b) {
    const T* hrow =
        (len[b] == 0 ? h0_host.data() : hy_host.data()) + static_cast<std::size_t>(b) * H;
    const bool zero_last =
        s.zero_output_for_mask && layout::last_step_masked(len[b], steps, s.go_backwards);
    for (int u = 0; u < H; ++u) {
      const std::size_t at = b + static_cast<std::size_t>(B) * u;
      if (out.state != nullptr) out.state[at] = hrow[u];
      if (!s.return_sequences && out.output != nullptr) {
        out.output[at] = zero_last ? T(0) : hrow[u];
      }
    }
  }
}

}  // namespace

BuildInfo build_info() {
  BuildInfo info;
  info.built = true;
  info.cuda_runtime_version = CUDART_VERSION;
  info.cudnn_version = CUDNN_VERSION;
  return info;
}

std::vector<std::string> devices() {
  // CUDA 13 compiles nothing for GPUs older than Turing (compute capability 7.5).
  constexpr int kMinComputeCapability = CUDART_VERSION >= 13000 ? 75 : 50;
  std::vector<std::string> names;
  try {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the error: no driver, or none usable
      return {};
    }
    for (int i = 0; i < n; ++i) {
      cudaDeviceProp p;
      int mode = 0, major = 0, minor = 0;
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess ||
          cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, i) != cudaSuccess ||
          cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, i) !=
              cudaSuccess ||
          cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, i) !=
              cudaSuccess) {
        cudaGetLastError();
        continue;
      }
      if (mode == cudaComputeModeProhibited) continue;
      if (major * 10 + minor < kMinComputeCapability) continue;
      names.emplace_back(p.name);
    }
  } catch (...) {
    return {};
  }
  return names;
}

template <typename T>
void forward(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
             const Outputs<T>& out) {
  validate(spec);
  check_eligible(spec, w, in);
  const std::vector<int> len = kept_steps(spec, in.mask);
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  Context& c = context_for(device);
  std::lock_guard<std::mutex> lock(c.mu);
  forward_on<T>(c, spec, w, in, out, len);
}

template void forward<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                             const Outputs<float>&);
template void forward<double>(const Spec&, const Weights<double>&, const Inputs<double>&,
                              const Outputs<double>&);

}  // namespace cuda
}  // namespace gru
