// See conv1d.h.
#include "conv1d.h"

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "parallel.h"

#include "activations.h"
#include "buffer.h"
#include "gemm.h"
#include "gru.h"
#include "kernels.h"

namespace gru {

namespace {

using detail::keep_error;
using detail::Kernels;
using detail::View;

// A pass whose product has fewer multiply-adds (M KC F) than this runs on
// one thread, its products included: ~0.1 ms of work at one thread, where
// a team's fork, join and barriers cost more than they save. With a lower
// bar (the gemm's own 2e5) the backward pass of a text classifier's conv
// (32 x 18 positions, KC = 24, 16 filters: 0.14 ms at one thread) took
// 1.3 ms at two on a machine another process kept busy.
constexpr double kMinParallelWork = 4.0e6;

int team_size(const Conv1dSpec& s, double work, long tasks) {
  if (work < kMinParallelWork) return 1;
  return static_cast<int>(std::max(1L, std::min<long>(s.threads, tasks)));
}

// X(r, i0 + j) for j < n, converted to T, in runs of `run` values `stride`
// apart: dst[(j / run) * stride + j % run] (one row of packed panels when
// run = 3W; the plain row when run = n). Positions past n up to a whole run
// are zeroed. With stride 1 the taps of row r at consecutive positions i are
// consecutive elements of x (i + B (k dilation - pad_left) within channel
// c), so every run is a copy between zeros.
template <typename T>
void gather_row(const Conv1dSpec& s, const double* x, int r, long i0, long n, long run,
                long stride, T* dst) {
  const int K = s.kernel_size, B = s.batch, L = s.steps;
  const int k = r % K, c = r / K;
  const double* xc = x + static_cast<long>(B) * L * c;
  const long offset = static_cast<long>(k) * s.dilation - s.pad_left;
  const long nruns = (n + run - 1) / run;
  if (s.stride == 1) {
    const long shift = static_cast<long>(B) * offset;
    // Valid positions, relative to i0: 0 <= i0 + j + shift < B L, j < n.
    const long lo = std::min(std::max(-shift - i0, 0L), n);
    const long hi = std::max(std::min(static_cast<long>(B) * L - shift - i0, n), lo);
    for (long q = 0; q < nruns; ++q) {
      const long j0 = q * run;
      const long a = std::min(std::max(lo - j0, 0L), run);
      const long e = std::min(std::max(hi - j0, a), run);
      T* d = dst + q * stride;
      for (long j = 0; j < a; ++j) d[j] = T(0);
      if (e > a) {  // x's elements for positions j0 + [a, e): all inside x
        const double* src = xc + (shift + i0 + j0 + a);
        T* da = d + a;
#pragma omp simd
        for (long j = 0; j < e - a; ++j) da[j] = static_cast<T>(src[j]);
      }
      for (long j = e; j < run; ++j) d[j] = T(0);
    }
    return;
  }
  long b = i0 % B, o = i0 / B;
  for (long q = 0; q < nruns; ++q) {
    T* d = dst + q * stride;
    const long m = std::min(run, n - q * run);
    for (long j = 0; j < m; ++j) {
      const long t = o * s.stride + offset;
      d[j] = (t >= 0 && t < L) ? static_cast<T>(xc[b + B * t]) : T(0);
      if (++b == B) {
        b = 0;
        ++o;
      }
    }
    for (long j = m; j < run; ++j) d[j] = T(0);
  }
}

// dx(channel c) += the rows r = k + K c of dX (KC x M, row-major), each
// added back at the steps its taps read (the transpose of gather_row).
template <typename T>
void scatter_channel(const Conv1dSpec& s, const T* dxc, int c, T* dx) {
  const int K = s.kernel_size, B = s.batch, L = s.steps;
  const long M = static_cast<long>(B) * s.out_steps;
  T* out = dx + static_cast<long>(B) * L * c;
  for (int k = 0; k < K; ++k) {
    const T* row = dxc + (static_cast<long>(k) + static_cast<long>(K) * c) * M;
    const long offset = static_cast<long>(k) * s.dilation - s.pad_left;
    if (s.stride == 1) {
      const long shift = static_cast<long>(B) * offset;
      const long lo = std::min(std::max(0L, -shift), M);
      const long hi = std::max(std::min(M, static_cast<long>(B) * L - shift), lo);
      if (hi <= lo) continue;
      T* d = out + (shift + lo);
      const T* src = row + lo;
#pragma omp simd
      for (long i = 0; i < hi - lo; ++i) d[i] += src[i];
      continue;
    }
    for (long o = 0; o < s.out_steps; ++o) {
      const long t = o * s.stride + offset;
      if (t < 0 || t >= L) continue;
      const T* src = row + B * o;
      T* d = out + B * t;
      for (int b = 0; b < B; ++b) d[b] += src[b];
    }
  }
}

// dst[j] = src[j] + b, widened to R's doubles.
template <typename T>
void store(const T* src, T b, long n, double* dst) {
#pragma omp simd
  for (long j = 0; j < n; ++j) dst[j] = static_cast<double>(src[j] + b);
}

}  // namespace

void validate(const Conv1dSpec& s) {
  if (s.batch < 1 || s.steps < 1 || s.channels < 1 || s.filters < 1 ||
      s.kernel_size < 1 || s.stride < 1 || s.dilation < 1 || s.out_steps < 1 ||
      s.pad_left < 0) {
    throw Error("conv1d: sizes, stride and dilation must be positive, padding >= 0");
  }
  // The products index output positions (batch x out_steps) with int.
  if (static_cast<long>(s.batch) * s.out_steps > 2147483647L ||
      static_cast<long>(s.kernel_size) * s.channels > 2147483647L) {
    throw Error("conv1d: more than 2^31 - 1 output positions or kernel rows");
  }
  // The last window must start inside the padded input (a tap may not
  // reach past it by more than the right padding "same" implies).
  const long first_tap_last = static_cast<long>(s.out_steps - 1) * s.stride - s.pad_left;
  if (first_tap_last >= s.steps) {
    throw Error("conv1d: " + std::to_string(s.out_steps) +
                " output steps need more than the " + std::to_string(s.steps) +
                " input steps");
  }
}

template <typename T>
void conv1d_forward(const Conv1dSpec& s, const double* x, const T* kernel, const T* bias,
                    Activation activation, double* out, double* pre) {
  validate(s);
  const Kernels<T>& kern = detail::select_kernels<T>();
  const int P3 = 3 * kern.W;
  const int KC = s.kernel_size * s.channels, F = s.filters;
  const long M = static_cast<long>(s.batch) * s.out_steps;
  // A chunk of output positions: its packed X (KC x nc) fills about a
  // quarter of L2, so it stays there while the F rows of the kernel sweep
  // over it.
  const long panel_bytes = static_cast<long>(KC) * P3 * static_cast<long>(sizeof(T));
  const long per_chunk = std::max(1L, l2_cache_bytes() / 4 / panel_bytes);
  const long nc = per_chunk * P3;
  const long nchunks = (M + nc - 1) / nc;
  [[maybe_unused]] const int nt = team_size(s, static_cast<double>(M) * KC * F, nchunks);
  const long panel_stride = static_cast<long>(KC) * P3;
  const View<T> wt(kernel, KC, 1);  // W^T: (f, r) at kernel[f * KC + r]
  std::exception_ptr err;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    // R's fresh output vectors fault in page by page as they are written
    // (see buffer.h); each thread maps its share at once.
    const std::size_t bytes = static_cast<std::size_t>(M) * F * sizeof(double);
    populate_pages(out, bytes, tid, nth);
    if (pre != nullptr) populate_pages(pre, bytes, tid, nth);
    std::vector<T> packed, c;
    keep_error(&err, [&] {
      packed.resize(static_cast<size_t>(per_chunk) * panel_stride);
      c.resize(static_cast<size_t>(F) * nc);
    });
#pragma omp for schedule(static)
    for (long q = 0; q < nchunks; ++q) {
      if (err) continue;
      keep_error(&err, [&] {
        const long i0 = q * nc, n = std::min(nc, M - i0);
        // Panel p holds columns i0 + p P3 + [0, P3): X(r, .) at r * P3.
        for (int r = 0; r < KC; ++r) {
          gather_row(s, x, r, i0, n, P3, panel_stride,
                     packed.data() + static_cast<long>(r) * P3);
        }
        detail::gemm_packed(kern, F, static_cast<int>(n), KC, wt, packed.data(),
                            panel_stride, c.data(), n, false,
                            static_cast<const T*>(nullptr), 1, Tuning{});
        for (int f = 0; f < F; ++f) {
          const T b = bias != nullptr ? bias[f] : T(0);
          T* row = c.data() + static_cast<long>(f) * n;
          const long at = static_cast<long>(f) * M + i0;
          if (pre == nullptr && activation == Activation::kLinear) {
            store(row, b, n, out + at);  // the common inference case: one pass
            continue;
          }
          for (long j = 0; j < n; ++j) row[j] += b;
          if (pre != nullptr) store(row, T(0), n, pre + at);
          if (activation != Activation::kLinear) activate<T>(activation, row, n);
          store(row, T(0), n, out + at);
        }
      });
    }
  }
  if (err) std::rethrow_exception(err);
}

template <typename T>
void conv1d_backward(const Conv1dSpec& s, const double* x, const T* kernel, const T* grad,
                     T* dx, T* dkernel, T* dbias) {
  validate(s);
  const Kernels<T>& kern = detail::select_kernels<T>();
  const int KC = s.kernel_size * s.channels, F = s.filters, C = s.channels;
  const long M = static_cast<long>(s.batch) * s.out_steps;
  const double work = static_cast<double>(M) * KC * F;
  const int threads = team_size(s, work, s.threads);
  // X whole (KC x M, row-major): the reduction of dW runs over all of M.
  std::vector<T> cols(static_cast<size_t>(KC) * M);
  {
    [[maybe_unused]] const int nt = team_size(s, work, KC);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int r = 0; r < KC; ++r) gather_row(s, x, r, 0, M, M, M, cols.data() + r * M);
  }
  if (dbias != nullptr) {
    for (int f = 0; f < F; ++f) {
      const T* g = grad + static_cast<long>(f) * M;
      T acc = 0;
      for (long i = 0; i < M; ++i) acc += g[i];
      dbias[f] = acc;
    }
  }
  // G (F x M) is R's layout of the gradient, row-major.
  const View<T> g(grad, M, 1);
  // dW^T (F x KC) = G X^T, written in the kernel's layout (row f = filter f).
  detail::gemm(kern, F, KC, static_cast<int>(M), g, View<T>(cols.data(), 1, M), dkernel,
               KC, false, static_cast<const T*>(nullptr), threads, Tuning{});
  if (dx == nullptr) return;
  // dX (KC x M) = W G, into the im2col buffer, then scattered onto x's
  // steps; channels touch disjoint parts of dx.
  detail::gemm(kern, KC, static_cast<int>(M), F, View<T>(kernel, 1, KC), g, cols.data(),
               M, false, static_cast<const T*>(nullptr), threads, Tuning{});
  std::fill(dx, dx + static_cast<long>(s.batch) * s.steps * C, T(0));
  [[maybe_unused]] const int nt = team_size(s, work, C);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int c = 0; c < C; ++c) scatter_channel(s, cols.data(), c, dx);
}

template void conv1d_forward<float>(const Conv1dSpec&, const double*, const float*,
                                    const float*, Activation, double*, double*);
template void conv1d_forward<double>(const Conv1dSpec&, const double*, const double*,
                                     const double*, Activation, double*, double*);
template void conv1d_backward<float>(const Conv1dSpec&, const double*, const float*,
                                     const float*, float*, float*, float*);
template void conv1d_backward<double>(const Conv1dSpec&, const double*, const double*,
                                      const double*, double*, double*, double*);

}  // namespace gru
