// See gemm.h. Blocking: a slab of kKC reduction rows; per thread, blocks of
// kMC rows of A packed into MR-row slivers (kMC x kKC: 128 KB in float, in
// L2), each multiplied by the thread's panels (kKC x 3W: 48 KB with AVX-512,
// reused across the block's slivers from L1/L2).
#include "gemm.h"

#include <algorithm>
#include <exception>

#include "engine.h"
#include "parallel.h"
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace gru {
namespace detail {

namespace {

constexpr int kKC = 256;
constexpr int kMC = 128;

// OpenMP workers run in the calling thread's floating-point mode (the
// backward pass flushes subnormals; MXCSR is per thread).
class FpMode {
 public:
#if defined(__SSE2__)
  explicit FpMode(unsigned int csr) : old_(_mm_getcsr()) { _mm_setcsr(csr); }
  ~FpMode() { _mm_setcsr(old_); }
  static unsigned int current() { return _mm_getcsr(); }

 private:
  unsigned int old_;
#else
  explicit FpMode(unsigned int) {}
  static unsigned int current() { return 0; }
#endif
};

// Per thread scratch (grown, never shrunk: the step loops allocate nothing).
template <typename T>
T* scratch(size_t n, int which) {
  thread_local std::vector<T> buf[3];
  if (buf[which].size() < n) buf[which].resize(n);
  return buf[which].data();
}

// A barrier of the enclosing team (orphaned: binds to the caller's region).
inline void team_barrier() {
#pragma omp barrier
}

// A sliver: dst[k * MR + i] = row i of A at k, for rows i < m whose k runs
// contiguously from src + i * rs. A transpose; in float done 4x4 with SSE
// (baseline x86-64), as scalar stores it was ~10% of a training step.
template <typename T>
void pack_rows(const T* src, long rs, int m, int kc, int MR, T* dst) {
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < kc; ++k) dst[k * MR + i] = src[i * rs + k];
}
#if defined(__SSE2__)
template <>
void pack_rows<float>(const float* src, long rs, int m, int kc, int MR, float* dst) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    const float* r0 = src + i * rs;
    const float* r1 = r0 + rs;
    const float* r2 = r1 + rs;
    const float* r3 = r2 + rs;
    int k = 0;
    for (; k + 4 <= kc; k += 4) {
      __m128 a = _mm_loadu_ps(r0 + k), b = _mm_loadu_ps(r1 + k), c = _mm_loadu_ps(r2 + k),
             d = _mm_loadu_ps(r3 + k);
      _MM_TRANSPOSE4_PS(a, b, c, d);
      float* o = dst + static_cast<long>(k) * MR + i;
      _mm_storeu_ps(o, a);
      _mm_storeu_ps(o + MR, b);
      _mm_storeu_ps(o + 2 * MR, c);
      _mm_storeu_ps(o + 3 * MR, d);
    }
    for (; k < kc; ++k) {
      float* o = dst + static_cast<long>(k) * MR + i;
      o[0] = r0[k];
      o[1] = r1[k];
      o[2] = r2[k];
      o[3] = r3[k];
    }
  }
  for (; i < m; ++i)
    for (int k = 0; k < kc; ++k) dst[static_cast<long>(k) * MR + i] = src[i * rs + k];
}
#endif

// dst[i] = src[i], i < m (a short run: one sliver row of a transposed A).
template <typename T>
inline void copy_run(const T* src, int m, T* dst) {
  for (int i = 0; i < m; ++i) dst[i] = src[i];
}
#if defined(__SSE2__)
template <>
inline void copy_run<float>(const float* src, int m, float* dst) {
  int i = 0;
  for (; i + 4 <= m; i += 4) _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
  for (; i < m; ++i) dst[i] = src[i];
}
#endif

// Rows [r0, r1) x panels [p0, p1) of C, reduction rows [0, K) of A and of
// the packed panels (bp: panel p at bp + p * panel_stride, rows 3W apart),
// or, with b_rs > 0, of a row-major B read in place (bp: its row 0, panel p
// at column p * 3W, rows b_rs apart; see direct_b()).
template <typename T>
void core(const Kernels<T>& kern, int r0, int r1, int p0, int p1, int N, int K, View<T> A,
          const T* bp, long panel_stride, T* C, long c_rs, bool accumulate,
          const T* biaspad, const Tuning& tuning, bool direct_a = false, long b_rs = 0) {
  if (r0 >= r1 || p0 >= p1 || K <= 0) return;
  // A row-major A the tile can read in place (direct_a: the per-step
  // products, whose A is a few rows already in cache) is not packed: the
  // tile broadcasts from MR row pointers either way.
  const bool in_place = direct_a && A.cs == 1;
  const int W = kern.W, MR = kern.MR, P3 = 3 * W;
  const int kcmax = std::min(K, kKC);
  const bool in_place_b = b_rs > 0;
  const long brs = in_place_b ? b_rs : P3;
  // Per-step products whose panels (all of this thread's, every slab) do
  // not stay in L2 between calls prefetch the next slice while computing.
  bool prefetch = direct_a && static_cast<double>(K) * P3 * sizeof(T) * (p1 - p0) >
                                  0.5 * static_cast<double>(l2_cache_bytes());
  const int forced = tuning.prefetch;
  if (forced >= 0) prefetch = direct_a && forced == 1;
  if (in_place_b) prefetch = false;
  T* ap = scratch<T>(static_cast<size_t>(kMC + MR) * kcmax, 0);
  T* edge = scratch<T>(static_cast<size_t>(MR) * P3, 1);
  for (int k0 = 0; k0 < K; k0 += kKC) {
    const int kc = std::min(kKC, K - k0);
    const bool acc = accumulate || k0 > 0;
    for (int m0 = r0; m0 < r1; m0 += kMC) {
      const int mc = std::min(kMC, r1 - m0);
      const int ns = (mc + MR - 1) / MR;
      // Pack A rows [m0, m0 + mc) x [k0, k0 + kc): sliver s at ap + s*kc*MR.
      for (int s = 0; s < ns && !in_place; ++s) {
        T* dst = ap + static_cast<long>(s) * kc * MR;
        const int m = std::min(MR, mc - s * MR);
        if (A.rs == 1 && A.cs != 1) {  // A^T of a row-major matrix: k outer
          const T* src = A.p + static_cast<long>(m0 + s * MR) + static_cast<long>(k0) * A.cs;
          for (int k = 0; k < kc; ++k) {
            copy_run(src + k * A.cs, m, dst + k * MR);
            for (int i = m; i < MR; ++i) dst[k * MR + i] = T(0);
          }
          continue;
        }
        if (A.cs == 1) {
          pack_rows(A.p + static_cast<long>(m0 + s * MR) * A.rs + k0, A.rs, m, kc, MR, dst);
        } else {
          for (int i = 0; i < m; ++i) {
            const T* src = A.p + static_cast<long>(m0 + s * MR + i) * A.rs +
                           static_cast<long>(k0) * A.cs;
            for (int k = 0; k < kc; ++k) dst[k * MR + i] = src[k * A.cs];
          }
        }
        for (int i = m; i < MR; ++i)
          for (int k = 0; k < kc; ++k) dst[k * MR + i] = T(0);
      }
      for (int p = p0; p < p1; ++p) {
        const T* bpk = bp + p * panel_stride + static_cast<long>(k0) * brs;
        // The next slice this thread reads (the next panel's, else the first
        // panel's next slab, else its first), prefetched into L2 over this
        // slice's slivers when the panels do not stay in L2 from step to step.
        const int pn = p + 1 < p1 ? p + 1 : p0;
        const int kn = p + 1 < p1 ? k0 : (k0 + kKC < K ? k0 + kKC : 0);
        const PrefetchSpread pf(bp + pn * panel_stride + static_cast<long>(kn) * P3,
                                static_cast<long>(std::min(kKC, K - kn)) * P3 * sizeof(T),
                                prefetch ? ns : 0);
        const int col0 = p * P3;
        const int valid = std::min(P3, N - col0);
        const int ng = (valid + W - 1) / W;
        const bool full = valid == ng * W;
        const T* bias = (biaspad != nullptr && !acc) ? biaspad + col0 : nullptr;
        for (int s = 0; s < ns; ++s) {
          const int m = std::min(MR, mc - s * MR);
          const T* as = in_place ? A.p + static_cast<long>(m0 + s * MR) * A.rs + k0
                                 : ap + static_cast<long>(s) * kc * MR;
          const long a_rs = in_place ? A.rs : 1, a_ks = in_place ? 1 : MR;
          T* cp = C + static_cast<long>(m0 + s * MR) * c_rs + col0;
          const int npf = pf.lines(s, kc);
          if (in_place_b) {  // full by direct_b()'s rule
            kern.tile_b(m, 0, ng, kc, as, a_rs, a_ks, bpk, brs, cp, c_rs, bias, acc);
          } else if (full && npf > 0) {
            kern.tile_pf(m, 0, ng, kc, as, a_rs, a_ks, bpk, cp, c_rs, bias, acc, pf.at(s),
                         npf);
          } else if (full) {
            kern.tile(m, 0, ng, kc, as, a_rs, a_ks, bpk, cp, c_rs, bias, acc);
          } else {
            if (acc) {
              for (int i = 0; i < m; ++i)
                std::copy(cp + i * c_rs, cp + i * c_rs + valid, edge + i * P3);
            }
            kern.tile(m, 0, ng, kc, as, a_rs, a_ks, bpk, edge, P3, bias, acc);
            for (int i = 0; i < m; ++i)
              std::copy(edge + i * P3, edge + i * P3 + valid, cp + i * c_rs);
          }
        }
      }
    }
  }
}

// How `nt` threads share M rows x np panels: by panels or by MR-row slivers.
struct Split {
  bool by_rows = false;
  int nt = 1;
};

template <typename T>
Split choose_split(const Kernels<T>& kern, int M, int np, int threads, double work) {
  Split sp;
  sp.nt = std::max(1, threads);
  if (work < 2.0e5) sp.nt = 1;  // too little to share
  if (sp.nt == 1) return sp;
  const int ns = (M + kern.MR - 1) / kern.MR;
  const long cost_cols = static_cast<long>((np + sp.nt - 1) / sp.nt) * ns;
  const long cost_rows = static_cast<long>((ns + sp.nt - 1) / sp.nt) * np;
  sp.by_rows = cost_rows < cost_cols;
  return sp;
}

template <typename T>
void part(const Kernels<T>& kern, const Split& sp, int tid, int M, int np, int* r0, int* r1,
          int* p0, int* p1) {
  const int MR = kern.MR;
  if (!sp.by_rows) {
    *r0 = 0;
    *r1 = M;
    *p0 = static_cast<int>(static_cast<long>(np) * tid / sp.nt);
    *p1 = static_cast<int>(static_cast<long>(np) * (tid + 1) / sp.nt);
  } else {
    const int ns = (M + MR - 1) / MR;
    *p0 = 0;
    *p1 = np;
    *r0 = std::min(M, static_cast<int>(static_cast<long>(ns) * tid / sp.nt) * MR);
    *r1 = std::min(M, static_cast<int>(static_cast<long>(ns) * (tid + 1) / sp.nt) * MR);
  }
}

template <typename T>
void pack_panels(int W, int p0, int p1, int K, int N, View<T> b, T* out, long panel_stride) {
  const int P3 = 3 * W;
  for (int p = p0; p < p1; ++p) {
    T* dst = out + p * panel_stride;
    const int col0 = p * P3;
    const int valid = std::min(P3, N - col0);
    if (b.rs == 1) {  // columns contiguous: read down each column
      for (int j = 0; j < valid; ++j) {
        const T* src = b.p + static_cast<long>(col0 + j) * b.cs;
        for (int k = 0; k < K; ++k) dst[static_cast<long>(k) * P3 + j] = src[k];
      }
      for (int k = 0; k < K; ++k)
        for (int j = valid; j < P3; ++j) dst[static_cast<long>(k) * P3 + j] = T(0);
    } else {
      for (int k = 0; k < K; ++k) {
        T* d = dst + static_cast<long>(k) * P3;
        const T* src = b.p + static_cast<long>(k) * b.rs + static_cast<long>(col0) * b.cs;
        if (b.cs == 1) {  // a contiguous run (a row-major workspace): a copy
          std::copy(src, src + valid, d);
        } else {
          for (int j = 0; j < valid; ++j) d[j] = src[j * b.cs];
        }
        for (int j = valid; j < P3; ++j) d[j] = T(0);
      }
    }
  }
}

template <typename T>
std::vector<T> pad_bias(const T* bias, int N, int np, int P3) {
  std::vector<T> v;
  if (bias == nullptr) return v;
  v.assign(static_cast<size_t>(np) * P3, T(0));
  std::copy(bias, bias + N, v.begin());
  return v;
}

}  // namespace

template <typename T>
void PackedB<T>::pack(const Kernels<T>& kern, int K_, int N_, View<T> b, int threads) {
  K = K_;
  N = N_;
  W_ = kern.W;
  const int P3 = 3 * W_;
  const int np = (N + P3 - 1) / P3;
  panel_stride = static_cast<long>(K) * P3;
  data.resize(static_cast<size_t>(np) * panel_stride);
  T* out = data.data();
  [[maybe_unused]] const int nt = static_cast<double>(K) * N > 1e5 ? std::max(1, threads) : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int p = 0; p < np; ++p) pack_panels(W_, p, p + 1, K, N, b, out, panel_stride);
}

template <typename T>
void gemm_packed(const Kernels<T>& kern, int M, int N, int K, View<T> A, const T* bp,
                 long panel_stride, T* C, long c_rs, bool accumulate, const T* bias,
                 int threads, const Tuning& tuning) {
  if (M <= 0 || N <= 0) return;
  const int P3 = 3 * kern.W;
  const int np = (N + P3 - 1) / P3;
  const std::vector<T> bpad = pad_bias(bias, N, np, P3);
  const T* biaspad = bias != nullptr ? bpad.data() : nullptr;
  if (K <= 0) {  // nothing to sum: C = bias or 0 (or unchanged)
    if (!accumulate)
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) C[i * c_rs + j] = bias != nullptr ? bias[j] : T(0);
    return;
  }
  const Split sp = choose_split(kern, M, np, threads, static_cast<double>(M) * N * K);
  if (sp.nt == 1) {
    core(kern, 0, M, 0, np, N, K, A, bp, panel_stride, C, c_rs, accumulate, biaspad, tuning, true);
    return;
  }
  std::exception_ptr err;
  const unsigned int csr = FpMode::current();
#pragma omp parallel num_threads(sp.nt)
  {
    const FpMode mode(csr);
    keep_error(&err, [&] {
      int r0, r1, p0, p1;
      part(kern, sp, omp_get_thread_num(), M, np, &r0, &r1, &p0, &p1);
      core(kern, r0, r1, p0, p1, N, K, A, bp, panel_stride, C, c_rs, accumulate, biaspad, tuning,
           true);
    });
  }
  if (err) std::rethrow_exception(err);
}

// A long reduction into a small result (the weight gradients: K = B x T rows)
// is split by slabs of the reduction instead: each thread packs its own slabs
// and sums into its own copy of C, with no barrier per slab (two per 256-row
// slab otherwise, each ~45 us of work per thread for S2's dK), then the
// copies are added in thread order. The sum order then depends on the thread
// count (float rounding), but not on timing. Alternating in one process, 5
// rounds: S2 train step at 2 threads 0.0145-0.0178 -> 0.0130-0.0140 s
// (return_sequences = FALSE), 0.0200-0.0215 -> 0.0185-0.0214 (TRUE).
inline bool split_reduction(int M, int N, int K, int nt) {
  return nt > 1 && K >= 4 * kKC * nt && static_cast<long>(M) * N <= (1L << 21);
}

// A row-major right operand with short rows (the training workspace's, in
// the weight gradients) is read in place by the tile instead of packed, when
// its width is whole vectors (no vector reads past a row's end). Packing
// only copied its rows (S2: ~18 MB of memmove per train step, 5% of it at 2
// threads), but a tile reading rows far apart walks a page per row or two:
// alternating in one process, 15 rounds, S2 (rows 1.5 KB) train step 1
// thread 0.0251 -> 0.0243 s, 2 threads 0.0135 -> 0.0133; S3 (rows 6 KB)
// 0.628 -> 0.653 s and 0.332 -> 0.347. Hence rows under 2 KB only.
template <typename T>
bool direct_b(const Kernels<T>& kern, int N, View<T> B, const Tuning& tuning) {
  return tuning.in_place_b && B.cs == 1 && B.rs >= N && N % kern.W == 0 &&
         static_cast<double>(B.rs) * sizeof(T) < 2048.0;
}

template <typename T>
void gemm_ksplit(const Kernels<T>& kern, int M, int N, int K, View<T> A, View<T> B, T* C,
                 long c_rs, bool accumulate, const T* biaspad, int nt, const Tuning& tuning) {
  const int W = kern.W, P3 = 3 * W;
  const int np = (N + P3 - 1) / P3;
  const long panel_stride = static_cast<long>(kKC) * P3;
  const int nslab = (K + kKC - 1) / kKC;
  const bool in_place = direct_b(kern, N, B, tuning);
  // Thread 0 writes C; thread t > 0 its copy at part + (t - 1) M N.
  std::vector<T> part(static_cast<size_t>(nt - 1) * M * N);
  std::exception_ptr err;
  const unsigned int csr = FpMode::current();
#pragma omp parallel num_threads(nt)
  {
    const FpMode mode(csr);
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    keep_error(&err, [&] {
      T* bp = in_place ? nullptr : scratch<T>(static_cast<size_t>(np) * panel_stride, 2);
      T* c = tid == 0 ? C : part.data() + static_cast<size_t>(tid - 1) * M * N;
      const long crs = tid == 0 ? c_rs : N;
      const int s0 = static_cast<int>(static_cast<long>(nslab) * tid / nth);
      const int s1 = static_cast<int>(static_cast<long>(nslab) * (tid + 1) / nth);
      for (int sl = s0; sl < s1; ++sl) {
        const int k0 = sl * kKC, kc = std::min(kKC, K - k0);
        const bool acc = sl > s0 || (tid == 0 && accumulate);
        if (in_place) {
          core(kern, 0, M, 0, np, N, kc, A.offset(0, k0), B.offset(k0, 0).p, P3, c, crs, acc,
               tid == 0 ? biaspad : nullptr, tuning, false, B.rs);
          continue;
        }
        pack_panels(W, 0, np, kc, N, B.offset(k0, 0), bp, panel_stride);
        core(kern, 0, M, 0, np, N, kc, A.offset(0, k0), bp, panel_stride, c, crs, acc,
             tid == 0 ? biaspad : nullptr, tuning);
      }
      if (s1 == s0 && tid > 0) std::fill(c, c + static_cast<size_t>(M) * N, T(0));
    });
    team_barrier();
    // C += the copies in thread order, rows split between the threads.
    if (!err) {
      const int r0 = static_cast<int>(static_cast<long>(M) * tid / nth);
      const int r1 = static_cast<int>(static_cast<long>(M) * (tid + 1) / nth);
      for (int t = 1; t < nth; ++t) {
        const T* q = part.data() + static_cast<size_t>(t - 1) * M * N;
        for (int i = r0; i < r1; ++i) {
          T* ci = C + i * c_rs;
          const T* qi = q + static_cast<long>(i) * N;
          for (int j = 0; j < N; ++j) ci[j] += qi[j];
        }
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

template <typename T>
void gemm(const Kernels<T>& kern, int M, int N, int K, View<T> A, View<T> B, T* C,
          long c_rs, bool accumulate, const T* bias, int threads, const Tuning& tuning) {
  if (M <= 0 || N <= 0) return;
  const int W = kern.W, P3 = 3 * W;
  const int np = (N + P3 - 1) / P3;
  const std::vector<T> bpad = pad_bias(bias, N, np, P3);
  const T* biaspad = bias != nullptr ? bpad.data() : nullptr;
  if (K <= 0) {
    gemm_packed(kern, M, N, 0, A, static_cast<const T*>(nullptr), 0, C, c_rs, accumulate,
                bias, 1, tuning);
    return;
  }
  const int kcmax = std::min(K, kKC);
  const long panel_stride = static_cast<long>(kcmax) * P3;
  const Split sp = choose_split(kern, M, np, threads, static_cast<double>(M) * N * K);
  if (split_reduction(M, N, K, sp.nt)) {
    gemm_ksplit(kern, M, N, K, A, B, C, c_rs, accumulate, biaspad, sp.nt, tuning);
    return;
  }
  const bool in_place = direct_b(kern, N, B, tuning);
  std::vector<T> bp(in_place ? 0 : static_cast<size_t>(np) * panel_stride);
  std::exception_ptr err;
  const unsigned int csr = FpMode::current();
#pragma omp parallel num_threads(sp.nt) if (sp.nt > 1)
  {
    const FpMode mode(csr);
    const int tid = omp_get_thread_num();
    int r0, r1, p0, p1;
    part(kern, sp, tid, M, np, &r0, &r1, &p0, &p1);
    if (in_place) {  // nothing shared: no barrier
      keep_error(&err, [&] {
        core(kern, r0, r1, p0, p1, N, K, A, B.p, P3, C, c_rs, accumulate, biaspad, tuning, false,
             B.rs);
      });
    }
    // Pack split over panels whatever the product's split.
    const int q0 = static_cast<int>(static_cast<long>(np) * tid / sp.nt);
    const int q1 = static_cast<int>(static_cast<long>(np) * (tid + 1) / sp.nt);
    for (int k0 = 0; k0 < K && !in_place; k0 += kKC) {
      const int kc = std::min(kKC, K - k0);
      keep_error(&err, [&] {
        pack_panels(W, q0, q1, kc, N, B.offset(k0, 0), bp.data(), panel_stride);
      });
      team_barrier();
      keep_error(&err, [&] {
        core(kern, r0, r1, p0, p1, N, kc, A.offset(0, k0), bp.data(), panel_stride, C, c_rs,
             accumulate || k0 > 0, biaspad, tuning);
      });
      team_barrier();
    }
  }
  if (err) std::rethrow_exception(err);
}

#define GRU_GEMM_INST(T)                                                                  \
  template class PackedB<T>;                                                              \
  template void gemm_packed<T>(const Kernels<T>&, int, int, int, View<T>, const T*, long, \
                               T*, long, bool, const T*, int, const Tuning&);             \
  template void gemm<T>(const Kernels<T>&, int, int, int, View<T>, View<T>, T*, long,     \
                        bool, const T*, int, const Tuning&);
GRU_GEMM_INST(float)
GRU_GEMM_INST(double)

}  // namespace detail
}  // namespace gru

namespace gru {

const char* cpu_kernels_name() { return detail::select_kernels<float>().isa; }

template <typename T>
void matmul(int M, int N, int K, const T* a, const T* b, T* c, int threads) {
  detail::gemm(detail::select_kernels<T>(), M, N, K, detail::View<T>(a, K, 1),
               detail::View<T>(b, N, 1), c, N, false, static_cast<const T*>(nullptr), threads,
               Tuning{});
}

template void matmul<float>(int, int, int, const float*, const float*, float*, int);
template void matmul<double>(int, int, int, const double*, const double*, double*, int);

}  // namespace gru
