// The gru engine: an R-free GRU recurrence with Keras 3 semantics.
//
// Nothing in src/gru/ includes R.h or Rcpp.h. Engine functions take a Spec
// and non-owning views (pointer + the dimensions in the Spec), write into
// caller-owned memory, keep no global mutable state and report failures by
// throwing gru::Error (the Rcpp glue turns it into an R condition).
//
// Every array is column-major, in Keras' dimension order, exactly as R stores
// it: element [b, t, f] of a (batch, timesteps, features) array lives at
// b + B * t + B * T * f, so the timestep t is a B x F block at offset B * t
// with outer stride B * T.
#ifndef GRU_GRU_H
#define GRU_GRU_H

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>

namespace gru {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Keras activation names. The numeric values cross the R/C++ boundary
// (R/activations.R holds the same table); append, never renumber.
enum class Activation : int {
  kTanh = 0,
  kSigmoid = 1,
  kHardSigmoid = 2,        // Keras 3: relu6(x + 3) / 6
  kHardSigmoidKeras2 = 3,  // Keras 2 / tfjs: clip(0.2 x + 0.5, 0, 1)
  kRelu = 4,
  kLinear = 5,
  kElu = 6,
  kSelu = 7,
  kSoftplus = 8,
  kSoftsign = 9,
  kSilu = 10,  // swish
  kGelu = 11,  // Keras default: approximate = FALSE (erf form)
  kExponential = 12,
  kRelu6 = 13,
  kHardSilu = 14,  // hard_swish: x * relu6(x + 3) / 6
  kMish = 15,
  kLogSigmoid = 16,
};
constexpr int kActivationCount = 17;

// The CPU passes poll for a user interrupt: the calling thread (OpenMP's
// master) asks the check a Spec carries, first after 100 ms of a pass and
// then at most every 100 ms, so short calls never ask (interrupt.h). The
// forward pass asks at the start of a chunk of timesteps and, on true, every
// thread stops at the start of the next chunk (together, so no barrier waits
// on a thread that left); the training passes ask at every step and between
// the weight gradients' products. Then the pass throws Interrupted, and its
// outputs (a backward pass's workspace too) are incomplete. The R glue
// passes a check that runs R's own (R_CheckUserInterrupt inside
// R_ToplevelExec, which never jumps out of C++). Null: no polling.
using InterruptCheck = bool (*)();

// Switches that change how a CPU pass runs, never what it computes (the
// tests flip each and compare results); the R glue reads them from the
// environment on every call (GRU_PF, GRU_DB, GRU_DYN, GRU_STAGE: see
// rcpp_spec.h).
struct Tuning {
  // The recurrent products' prefetch of their next panel: -1 = each engine
  // decides by size, 0 = off, 1 = on.
  int prefetch = -1;
  // Whether the weight gradients may read a right operand in place rather
  // than pack it (see direct_b() in gemm.cpp).
  bool in_place_b = true;
  // Whether two threads on a unit split of the forward's steps claim blocks
  // from opposite ends (else each takes a fixed half).
  bool two_ended = true;
  // Whether a training forward stages each step's records before moving
  // them to the workspace: -1 = by size (plan.cpp), 0 = never, 1 = always.
  int stage = -1;
};

struct Spec {
  int batch = 0;      // B
  int timesteps = 0;  // T
  int input_dim = 0;  // F
  int units = 0;      // H
  Activation activation = Activation::kTanh;
  Activation recurrent_activation = Activation::kSigmoid;
  bool reset_after = true;
  bool go_backwards = false;
  bool return_sequences = false;
  bool zero_output_for_mask = false;
  // Dropout masks (already scaled by 1 / (1 - rate)): 0 = none, 1 = one mask
  // shared by the three gates (implementation 2), 3 = one per gate z, r, h
  // (implementation 1).
  int dropout_gates = 0;
  int recurrent_dropout_gates = 0;
  int threads = 1;  // CPU worker threads (an upper bound); results do not depend on it
  // How to run (no effect on results): the caller's, passed in, so the
  // engine reads no global setting.
  Tuning tuning;
  InterruptCheck interrupt = nullptr;
  // When a pass is interrupted, it writes here (when not null) where it
  // stopped, in processing steps done (the forward pass: the first step it
  // skipped), before it throws Interrupted.
  long* interrupted_step = nullptr;
};

// Keras weight layout. Gate blocks along the 3H axis are z, r, h.
template <typename T>
struct Weights {
  const T* kernel = nullptr;            // F x 3H
  const T* recurrent_kernel = nullptr;  // H x 3H
  // reset_after = FALSE: input_bias is Keras' bias [3H], recurrent_bias null.
  // reset_after = TRUE: row 1 (input) and row 2 (recurrent) of Keras' [2, 3H]
  // bias, each contiguous. Both null when use_bias = FALSE.
  const T* input_bias = nullptr;
  const T* recurrent_bias = nullptr;
};

template <typename T>
struct Inputs {
  const T* x = nullptr;              // B x T x F
  const int* mask = nullptr;         // B x T, nonzero = use the step; null = all
  const T* initial_state = nullptr;  // B x H; null = zeros
  // dropout_gates blocks of B x F, then recurrent_dropout_gates blocks of
  // B x H; each block is a multiplicative mask reused at every step.
  const T* dropout_mask = nullptr;
  const T* recurrent_dropout_mask = nullptr;
};

template <typename T>
struct Outputs {
  // B x H, or B x T x H (in processing order) when spec.return_sequences.
  T* output = nullptr;
  T* state = nullptr;  // B x H, the final state
};

// The CPU forward pass's packed copy of a layer's kernels (gate panels in the
// compute type, see kernels.h), kept by the caller between calls with the
// same weights so that repeated inference calls skip the packing, as
// onnxruntime prepacks its GRU weights when a session is made. Packing
// converts and transposes all of both kernels (S4: 2 x 12.6 MB of floats
// from 50 MB of doubles), ~6% of an S4 call at one thread.
//
// The engine fills an empty cache, or one packed for other arrays, type or
// kernel width, and reuses one that matches; it records the addresses of the
// arrays it packed but cannot see their values change, so the caller must
// clear() it (or drop it) whenever the weights do. Until the engine has
// finished packing, the cache stays empty: a failed call leaves nothing stale.
class PackedWeights {
 public:
  PackedWeights() = default;
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;
  ~PackedWeights() { clear(); }
  // Frees the panels; the next call packs again.
  void clear();
  bool filled() const { return elem_size != 0; }
  // Bytes held (0 when empty).
  size_t bytes() const { return filled() ? nbytes : 0; }

  // Written by the engine only (src/gru/forward.cpp). elem_size == 0: empty.
  int elem_size = 0, width = 0, input_dim = 0, units = 0;
  const void* kernel_src = nullptr;     // the arrays that were packed
  const void* recurrent_src = nullptr;
  void* kernel = nullptr;     // NB panels of F rows x 3W
  void* recurrent = nullptr;  // NB panels of H rows x 3W
  size_t nbytes = 0;
};

// Throws gru::Error when the spec is inconsistent.
void validate(const Spec& spec);

// The CPU forward pass (src/gru/forward.cpp). `cache`: null (pack the kernels
// for this call only) or the caller's PackedWeights for these weights.
template <typename T>
void forward_cpu(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
                 const Outputs<T>& out, PackedWeights* cache = nullptr);

// The float32 forward pass over double-precision arrays: x, the weights and
// the other inputs are converted to float as they are packed, so no float
// copy of them is made beyond the packed panels (which `cache`, when given,
// keeps for the next call), and the float results are written to the double
// outputs as they are moved there. Same numbers as forward_cpu<float>.
void forward_cpu_f32_from_f64(const Spec& spec, const Weights<double>& w,
                              const Inputs<double>& in, const Outputs<double>& out,
                              PackedWeights* cache = nullptr);

// What a pass polling Spec::interrupt throws once the check said stop.
class Interrupted : public std::exception {
 public:
  const char* what() const noexcept override { return "interrupted by the user"; }
};

// Whether this process is a child forked (fork(), as parallel::mclapply()
// does) after the engine was loaded. GNU OpenMP cannot start a team in a
// child forked from a process whose team exists: its first parallel region
// with more than one thread hangs. The glue therefore runs every pass of a
// forked child on one thread (make_spec in src/rcpp_spec.h).
bool in_forked_child();

// The number of processors this process may run on (OpenMP's count, which
// honours CPU affinity; else std::thread::hardware_concurrency(); at least 1).
int cpu_cores();

// Bytes of one core's L2 cache (sysconf; 1 MB when the system does not say).
long l2_cache_bytes();

}  // namespace gru

#endif  // GRU_GRU_H
