// Internal interface between the CPU driver (forward.cpp) and the per-ISA kernels
// (kernels.cpp compiles kernels_impl.inc once per instruction set and picks one
// at run time with __builtin_cpu_supports; no -m flags in Makevars).
//
// Packed layouts (W = the ISA's vector width in elements of T, Hp = H rounded
// up to a multiple of W, NB = Hp / W unit blocks):
//   - a "gate panel" for unit block c holds, for every k of the reduction, the
//     3W columns z[cW, cW+W), r[...], h[...] contiguously: P[k * 3W + g * W + u].
//     Units past H are zero. The recurrent kernel (H x 3H) and the input
//     kernel (F x 3H) are packed into NB such panels once per call.
//   - the input projection XP of a chunk of timesteps is block-major: for
//     unit block c, one row of 3W values (z, r, h) per (timestep, batch row),
//     the chunk's rows contiguous, so a step streams a block's rows and reads
//     the z, r, h pre-activations of a unit block as 3W contiguous values.
//   - the hidden state is row-major B x Hp.
#ifndef GRU_KERNELS_H
#define GRU_KERNELS_H

#include <algorithm>

#include "gru.h"

namespace gru {
namespace detail {

// The per-tile work that follows one step's recurrent product for rows
// [b0, b0 + m) and unit block c.
template <typename T>
struct EpilogueArgs {
  // 0: reset_after = TRUE, tile holds z, r, h of h U + recurrent bias.
  // 1: reset_after = FALSE, first half: tile holds z, r of h U; writes z to
  //    zbuf and r * hsrc2 to rhbuf.
  // 2: reset_after = FALSE, second half: tile's h part holds (r h) U_h.
  int phase = 0;
  int m = 0, b0 = 0, batch = 0, units = 0, hp = 0, block = 0;
  // Blocks [block, block + nblocks) in one call: their work is independent,
  // so the CPU overlaps their latency chains (a batch of one is all latency).
  int nblocks = 1;
  const T* tile = nullptr;  // [m][3W] per block, tile_stride apart
  long tile_stride = 0;
  // XP row of b0 for this timestep, at block `block`. With out_xp, the new
  // state (or the masked output) replaces the block's z slot, which the step
  // has consumed: the driver moves a chunk's outputs from there to R's
  // layout in one pass (contiguous runs, not one page per unit per step).
  T* xp = nullptr;
  bool out_xp = false;
  long xp_stride = 0;       // between rows
  long xp_bstride = 0;      // between blocks
  const T* hprev = nullptr;  // B x Hp
  T* hnext = nullptr;
  T* zbuf = nullptr;
  T* rhbuf = nullptr;
  const T* hsrc2 = nullptr;  // the state the h gate sees (dropout applied)
  int ndrop = 0;             // recurrent dropout blocks to refresh (0, 1, 3)
  T* hd[3] = {nullptr, nullptr, nullptr};              // next dropped states
  const T* dmask[3] = {nullptr, nullptr, nullptr};     // B x Hp row-major
  const int* mask = nullptr;  // mask of this timestep (B entries) or null
  T* out = nullptr;           // element (b, j) at out[b + out_stride * j]
  long out_stride = 0;
  bool zero_output_for_mask = false;
  Activation act = Activation::kTanh, ract = Activation::kSigmoid;
  // The training policy (Kernels::epilogue_train) also records what the
  // backward pass needs: gate activations (z, r, h, rec_gs apart), their
  // derivatives (the same), the candidate term (reset_after: h U_h + c_h;
  // otherwise r * the h gate's state) and the state before the step, row b
  // at + b * rec_rs (g, d) or + b * rec_rs1 (c, s): either the workspace's
  // rows of this timestep, written with streaming stores (rec_stream), or a
  // staging row that the driver moves to the workspace (see forward.cpp).
  T* rec_g = nullptr;
  T* rec_d = nullptr;
  T* rec_c = nullptr;
  T* rec_s = nullptr;
  long rec_rs = 0, rec_rs1 = 0, rec_gs = 0;
  bool rec_stream = false;
};

template <typename T>
struct Kernels {
  const char* isa = "";
  int W = 1;   // units per block (one vector)
  int MR = 1;  // rows per micro-tile
  // For gates g in [g0, g0 + ng) of one gate panel:
  //   C[i * c_rs + g*W + u] = (accumulate ? C : bias ? bias[g*W + u] : 0)
  //                           + sum_k A[i * a_rs + k * a_ks] * Bp[k * 3W + g*W + u]
  // for rows i < m <= MR. Bp, C and bias point at the start of the panel.
  void (*tile)(int m, int g0, int ng, int K, const T* A, long a_rs, long a_ks,
               const T* Bp, T* C, long c_rs, const T* bias, bool accumulate) = nullptr;
  // tile, and while it runs, prefetch pf_lines 64-byte lines from pf into L2
  // (one per step of the reduction, at most K / partial sums of them): the
  // recurrence fetches the next panel of U while it computes this one.
  void (*tile_pf)(int m, int g0, int ng, int K, const T* A, long a_rs, long a_ks,
                  const T* Bp, T* C, long c_rs, const T* bias, bool accumulate,
                  const void* pf, int pf_lines) = nullptr;
  // tile with B read in place from a row-major matrix: Bp[k * 3W + ...]
  // above becomes B[k * b_rs + ...], B at the panel's first column. Every
  // vector of the ng gates must lie inside B's rows.
  void (*tile_b)(int m, int g0, int ng, int K, const T* A, long a_rs, long a_ks,
                 const T* B, long b_rs, T* C, long c_rs, const T* bias,
                 bool accumulate) = nullptr;
  // One row a (a batch of one) times gates [g0, g0 + ng) of nb gate panels,
  // P_c = Bp + c * p_bs, all at once:
  //   C[c * c_bs + g*W + u] = sum_k a[k] * P_c[k * 3W + g*W + u]
  //                           (+ bias[c * 3W + g*W + u] when bias is given).
  void (*row_panels)(int nb, int g0, int ng, int K, const T* a, const T* Bp, long p_bs,
                     T* C, long c_bs, const T* bias) = nullptr;
  // The step's gates and new state: the inference policy (`epilogue`)
  // and the training policy (`epilogue_train`, which also fills the rec_
  // blocks). Both compute the same values by the same operations.
  void (*epilogue)(const EpilogueArgs<T>& a) = nullptr;
  void (*epilogue_train)(const EpilogueArgs<T>& a) = nullptr;
  // dst[i] = src[i] for i < n, with stores that bypass the cache where the
  // ISA has them (the caller issues an sfence before others read dst).
  void (*copy_stream)(T* dst, const T* src, long n) = nullptr;
  // The sequence output's moves into R's array (see kernels_impl.inc):
  //   dst[u * ds + b] = double(src[b * ss + u]), b < nb, u < nu.
  void (*out_columns)(const T* src, long ss, int nb, int nu, double* dst,
                      long ds) = nullptr;
  // The reverse, for the backward's output gradient:
  //   dst[b * ds + u] += T(src[u * ss + b]), b < nb, u < nu.
  void (*add_columns)(const double* src, long ss, int nb, int nu, T* dst,
                      long ds) = nullptr;
  // R's double input packed for the projection: dst[k * MR + i] =
  // T(x[k * xs + i]) for i < m, 0 for m <= i < MR, k < kc.
  void (*pack_x)(const double* x, long xs, int m, int kc, int MR, T* dst) = nullptr;
  // Elementwise activation using the kernel's vector code where it has one.
  void (*activate)(Activation a, T* x, long n) = nullptr;

  // Row kernels of the backward pass (backward.cpp). Every pointer is one
  // row of n contiguous elements; gate blocks of a row-major workspace row
  // (z, r, h) are n apart.
  //
  // train_back_gates: with d = [f'_z f'_r f'_h] and dh_new, the gradients
  //   d_z = f'_z * dh_new * (s - hh), d_h = f'_h * dh_new * (1 - z) and,
  //   with reset_after, d_r = f'_r * d_h * c, then c = d_h * r.
  void (*train_back_gates)(long n, bool reset_after, const T* g, T* d, T* c, const T* s,
                           const T* dh_new) = nullptr;
  // add_to: acc += row.
  void (*add_to)(long n, const T* row, T* acc) = nullptr;
  // train_back_state: dh = back + dh_new * z.
  void (*train_back_state)(long n, const T* back, const T* dh_new, const T* z,
                           T* dh) = nullptr;
};

// The next panel (or slice) of a product, `bytes` from `base`, prefetched
// over the `calls` tile calls that compute the current one: call j takes
// lines(j, k) lines from at(j), at most one per reduction step k.
struct PrefetchSpread {
  const char* base = nullptr;
  long total = 0, per = 0;
  PrefetchSpread(const void* b, long bytes, long calls)
      : base(static_cast<const char*>(b)),
        total((bytes + 63) / 64),
        per(calls > 0 ? (total + calls - 1) / calls : 0) {}
  int lines(long j, int k) const {
    const long n = std::min(std::min(per, total - j * per), static_cast<long>(k));
    return n > 0 ? static_cast<int>(n) : 0;
  }
  const char* at(long j) const { return base + j * per * 64; }
};

// Chooses the widest instruction set the CPU supports; the environment
// variable GRU_ISA (generic, avx2, avx512) caps it for testing.
template <typename T>
const Kernels<T>& select_kernels();

}  // namespace detail
}  // namespace gru

#endif  // GRU_KERNELS_H
