// A general packed matrix product for the training path (backward.cpp), built
// on the per-ISA micro-tile of kernels.h (Kernels<T>::tile), so it runs with
// the widest instruction set the CPU has although the package is compiled
// without -m flags (Eigen's products compile to SSE2 only).
//
//   C[i * c_rs + j] = (accumulate ? C : bias ? bias[j] : 0) + sum_k A(i,k) B(k,j)
//
// for i < M, j < N. Operands are strided views, so transposed operands cost
// nothing extra: they are copied into packed blocks anyway (B into the gate
// panel layout of kernels.h: N columns as panels of 3W, zero-padded; A into
// MR-row slivers). C is row-major with unit column stride; a column-major
// result is the row-major transpose (compute C^T = B^T A^T).
#ifndef GRU_GEMM_H
#define GRU_GEMM_H

#include <exception>
#include <vector>

#include "kernels.h"

namespace gru {
namespace detail {

// Runs f, keeping the first exception for the caller to rethrow after the
// parallel region (an exception must not leave an OpenMP region).
template <typename F>
void keep_error(std::exception_ptr* err, F f) {
  try {
    f();
  } catch (...) {
#pragma omp critical(gru_gemm_err)
    if (!*err) *err = std::current_exception();
  }
}

// Element (i, j) at p[i * rs + j * cs].
template <typename T>
struct View {
  const T* p = nullptr;
  long rs = 0, cs = 0;
  View() = default;
  View(const T* p_, long rs_, long cs_) : p(p_), rs(rs_), cs(cs_) {}
  T operator()(long i, long j) const { return p[i * rs + j * cs]; }
  View offset(long i, long j) const { return View(p + i * rs + j * cs, rs, cs); }
};

// A K x N right operand packed once (e.g. a weight matrix reused every step).
template <typename T>
class PackedB {
 public:
  PackedB() = default;
  PackedB(const Kernels<T>& kern, int K, int N, View<T> b, int threads = 1) {
    pack(kern, K, N, b, threads);
  }
  void pack(const Kernels<T>& kern, int K, int N, View<T> b, int threads = 1);
  int K = 0, N = 0;
  long panel_stride = 0;  // K * 3W
  std::vector<T> data;
  // The rows [k0, k0 + ...) of the packed operand start here.
  const T* rows(int k0) const { return data.data() + static_cast<long>(k0) * 3 * W_; }

 private:
  int W_ = 1;
};

// C = A * Bp(rows k0 .. k0 + K) (+ C). `threads` > 1 opens an OpenMP team
// (split over column panels or row slivers, whichever balances better);
// call it with 1 inside a parallel region. `tuning` (gru.h) is the caller's
// pass's: it changes how, never what.
template <typename T>
void gemm_packed(const Kernels<T>& kern, int M, int N, int K, View<T> A, const T* bp,
                 long panel_stride, T* C, long c_rs, bool accumulate, const T* bias,
                 int threads, const Tuning& tuning);

// C = A * B (+ C), B packed slab by slab on the fly.
template <typename T>
void gemm(const Kernels<T>& kern, int M, int N, int K, View<T> A, View<T> B, T* C,
          long c_rs, bool accumulate, const T* bias, int threads, const Tuning& tuning);

}  // namespace detail
}  // namespace gru

#endif  // GRU_GEMM_H
