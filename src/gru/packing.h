// The CPU forward pass's buffers and its packing of the Keras kernels into
// gate panels (the layout is described in kernels.h).
#ifndef GRU_PACKING_H
#define GRU_PACKING_H

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace gru {
namespace detail {

// A 64-byte aligned, uninitialized buffer (no page is touched before use).
template <typename T>
class Buffer {
 public:
  explicit Buffer(size_t n = 0) { reset(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(p_); }
  void reset(size_t n) {
    std::free(p_);
    p_ = nullptr;
    if (n == 0) return;
    const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (p_ == nullptr) throw std::bad_alloc();
  }
  T* get() const { return p_; }
  T& operator[](size_t i) const { return p_[i]; }
  // Hands the memory over (to be freed with std::free).
  T* release() {
    T* p = p_;
    p_ = nullptr;
    return p;
  }

 private:
  T* p_ = nullptr;
};

// Writes rows [0, kn) of one gate's W columns of a panel: q[k * 3W + u] =
// col0[u * ld + k] for the nu real units, 0 past them. Row by row, so each
// 3W-strided destination row is written whole from nu contiguous source
// streams; the column-by-column loop this replaces wrote every destination
// row W times, one element at a time (S4's U and input kernel: ~12 ms -> 3.4
// ms per full pack, S1's weights 8.9 -> 7.8 us, microbenchmark, best of 3000).
template <typename T, typename S>
inline void pack_gate(const S* col0, size_t ld, int nu, int kn, int W, int W3, T* q) {
  if (nu == 16 && W == 16) {
    for (int k = 0; k < kn; ++k) {
      T* qk = q + static_cast<size_t>(k) * W3;
      const S* sk = col0 + k;
#pragma GCC unroll 16
      for (int u = 0; u < 16; ++u) qk[u] = T(sk[u * ld]);
    }
    return;
  }
  for (int k = 0; k < kn; ++k) {
    T* qk = q + static_cast<size_t>(k) * W3;
    for (int u = 0; u < W; ++u) qk[u] = u < nu ? T(col0[u * ld + k]) : T(0);
  }
}

// Packs a (rows x 3H) column-major matrix into NB gate panels of rows x 3W.
template <typename T, typename S>
void pack_panels(const S* src, int rows, int H, int W, int c0, int c1, T* dst) {
  const int W3 = 3 * W;
  for (int c = c0; c < c1; ++c) {
    T* p = dst + static_cast<size_t>(c) * rows * W3;
    const int nu = std::min(W, H - c * W);
    for (int g = 0; g < 3; ++g) {
      pack_gate<T, S>(src + static_cast<size_t>(g * H + c * W) * rows, rows, nu, rows, W,
                      W3, p + g * W);
    }
  }
}

// Packs rows [k0, k0 + kc) of gate panel c of a (rows x 3H) column-major
// matrix: dst[k * 3W + g * W + u].
template <typename T, typename S>
void pack_slice(const S* src, int rows, int H, int W, int c, int k0, int kc, T* dst) {
  const int W3 = 3 * W;
  const int nu = std::min(W, H - c * W);
  for (int g = 0; g < 3; ++g) {
    pack_gate<T, S>(src + static_cast<size_t>(g * H + c * W) * rows + k0, rows, nu, kc, W,
                    W3, dst + g * W);
  }
}

}  // namespace detail
}  // namespace gru

#endif  // GRU_PACKING_H
