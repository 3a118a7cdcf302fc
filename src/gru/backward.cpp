// Backpropagation through time for the GRU: backward, given the workspace
// that forward_train (forward.cpp's step body under its training policy)
// filled. See backward.h for the workspace layout.
//
// Per step (processing order), with a = pre-activations and f' their
// derivatives stored by forward_train, for the rows the mask keeps:
//
//   dh_new = dh (carried from the next step) + dL/d(output at this step)
//   da_z = dh_new * (h_prev - hh) * f'_z
//   da_h = dh_new * (1 - z) * f'_h
//   reset_after:  dq = da_h * r, da_r = da_h * q * f'_r  (q = h U_h + c_h)
//                 dh_prev = dh_new * z + [da_z da_r dq] U^T (times the
//                 recurrent dropout masks)
//   otherwise:    d(rh) = da_h U_h^T, da_r = d(rh) * h_h * f'_r
//                 dh_prev = dh_new * z + [da_z da_r] U_zr^T + d(rh) * r
//
// A masked row carries its state, so dh_prev = dh_new and its gate gradients
// are zero. The weight gradients are large products over all timesteps after
// the loop: dK = X^T dA, dU = S^T [dA_z dA_r dq] (or (r h)^T dA_h), the
// biases column sums. The loop allocates nothing.
#include "backward.h"

#include <Eigen/Core>
#include <algorithm>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "gemm.h"
#include "interrupt.h"
#include "kernels.h"

#include "parallel.h"
#include "sequence.h"

#if defined(__SSE2__)
#include <pmmintrin.h>
#endif

namespace gru {

namespace {

using Eigen::Dynamic;
using Eigen::Index;
template <typename T>
using RowMat = Eigen::Matrix<T, Dynamic, Dynamic, Eigen::RowMajor>;
template <typename T>
using ColMat = Eigen::Matrix<T, Dynamic, Dynamic, Eigen::ColMajor>;

// Flushes subnormal floats to zero while alive, restoring the caller's mode.
// Backpropagated gradients decay geometrically over long sequences; once
// they turn subnormal, x86 arithmetic on them is ~100x slower (S3 without
// return_sequences took 60x the forward time). TensorFlow runs its kernels
// in the same mode. Elsewhere this is a no-op.
class FlushSubnormals {
 public:
#if defined(__SSE2__)
  FlushSubnormals() : csr_(_mm_getcsr()) {
    _mm_setcsr(csr_ | _MM_FLUSH_ZERO_ON | _MM_DENORMALS_ZERO_ON);
  }
  ~FlushSubnormals() { _mm_setcsr(csr_); }

 private:
  unsigned int csr_;
#endif
};

// The workspace blocks, as maps.
template <typename T>
struct Work {
  Eigen::Map<RowMat<T>> g, d, c, s;
  Work(const Spec& sp, const detail::TrainBlocks<T>& b)
      : g(b.g, Index(sp.timesteps) * sp.batch, 3 * Index(sp.units)),
        d(b.d, g.rows(), g.cols()),
        c(b.c, g.rows(), sp.units),
        s(b.s, g.rows(), sp.units) {}
  Work(const Spec& sp, T* ws) : Work(sp, detail::TrainBlocks<T>(sp, ws)) {}
};

// A B x n (gate block `gate` of) dropout mask, column-major as R stores it.
template <typename T>
Eigen::Map<const ColMat<T>> mask_block(const T* m, int gates, int gate, Index B,
                                       Index n) {
  return Eigen::Map<const ColMat<T>>(detail::dropout_at(m, gates, gate, B * n), B, n);
}

// out[i + rows j] = a[i cols + j]: a row-major rows x cols matrix into a
// column-major one, in tiles that stay in cache; bands of rows shared between
// `threads` when it is large (the input gradient's B T x F).
template <typename T>
void transpose_to(const T* a, Index rows, Index cols, T* out, int threads = 1) {
  constexpr Index kb = 32;
  const Index nband = (rows + kb - 1) / kb;
  [[maybe_unused]] const bool par = threads > 1 && rows * cols >= (Index(1) << 16);
#pragma omp parallel for num_threads(threads) if (par) schedule(static)
  for (Index band = 0; band < nband; ++band) {
    const Index i0 = band * kb, i1 = std::min(rows, i0 + kb);
    for (Index j0 = 0; j0 < cols; j0 += kb) {
      const Index j1 = std::min(cols, j0 + kb);
      for (Index j = j0; j < j1; ++j) {
        for (Index i = i0; i < i1; ++i) out[i + rows * j] = a[i * cols + j];
      }
    }
  }
}

}  // namespace

// The training passes' products take the B T rows as one int dimension
// (gemm's M or K); a larger call is refused rather than wrapped around.
void detail::validate_train(const Spec& s) {
  validate(s);
  if (static_cast<long long>(s.batch) * s.timesteps > std::numeric_limits<int>::max()) {
    throw Error("a training pass takes at most 2147483647 rows (batch x timesteps); got " +
                std::to_string(static_cast<long long>(s.batch) * s.timesteps) +
                ": train on smaller batches");
  }
}

std::size_t train_workspace_size(const Spec& s) {
  detail::validate_train(s);
  return static_cast<std::size_t>(8) * s.timesteps * s.batch * s.units;
}

// Threads of the step loops: every batch row's recurrence is independent
// (masks and dropout are per row), so each thread runs whole rows through
// the whole sequence with no synchronisation. Rows go in multiples of the
// micro-tile height; a small problem stays on one thread.
template <typename T>
int row_threads(const Spec& s, const detail::Kernels<T>& kern) {
  int nt = std::max(1, s.threads);
  nt = std::min(nt, std::max(1, s.batch / kern.MR));
  if (3.0 * s.batch * s.units * s.units < 2.0e5) nt = 1;
  return nt;
}

// Rows [b0, b1) of thread `tid` of `nt`.
inline void row_range(int B, int MR, int nt, int tid, Index* b0, Index* b1) {
  const int ns = (B + MR - 1) / MR;
  *b0 = std::min<Index>(B, Index(ns) * tid / nt * MR);
  *b1 = std::min<Index>(B, Index(ns) * (tid + 1) / nt * MR);
}

// Runs f(b0, nb, tid) over the row ranges of nt threads, each in the
// caller's floating-point mode, rethrowing the first exception.
template <typename F>
void for_rows(int B, int MR, int nt, F f) {
  if (nt <= 1) {
    f(Index(0), Index(B), 0);
    return;
  }
  std::exception_ptr err;
#if defined(__SSE2__)
  const unsigned int csr = _mm_getcsr();
#endif
#pragma omp parallel num_threads(nt)
  {
#if defined(__SSE2__)
    const unsigned int old = _mm_getcsr();
    _mm_setcsr(csr);
#endif
    try {
      Index b0, b1;
      row_range(B, MR, omp_get_num_threads(), omp_get_thread_num(), &b0, &b1);
      if (b1 > b0) f(b0, b1 - b0, omp_get_thread_num());
    } catch (...) {
#pragma omp critical(gru_backward_err)
      err = std::current_exception();
    }
#if defined(__SSE2__)
    _mm_setcsr(old);
#endif
  }
  if (err) std::rethrow_exception(err);
}

// The B*T x F input, each timestep's rows times the dropout mask of `gate`.
template <typename T>
void dropped_inputs(const Spec& s, const Inputs<T>& in, int gate, ColMat<T>* xd) {
  const Index B = s.batch, T_ = s.timesteps, F = s.input_dim;
  Eigen::Map<const ColMat<T>> x(in.x, B * T_, F);
  auto m = mask_block(in.dropout_mask, s.dropout_gates, gate, B, F);
  xd->resize(B * T_, F);
  for (Index t = 0; t < T_; ++t)
    xd->middleRows(t * B, B) = x.middleRows(t * B, B).cwiseProduct(m);
}

template <typename T>
void backward(const Spec& s, const Weights<T>& w, const Inputs<T>& in,
              const GradInputs<T>& gin, const Gradients<T>& grads, T* workspace) {
  detail::validate_train(s);
  using detail::View;
  const FlushSubnormals flush;
  const auto& kern = detail::select_kernels<T>();
  const Index B = s.batch, T_ = s.timesteps, F = s.input_dim, H = s.units;
  const int BT = static_cast<int>(B * T_), H3 = static_cast<int>(3 * H);
  const int Hi = static_cast<int>(H);
  Work<T> ws(s, workspace);
  const int rg = s.recurrent_dropout_gates;

  // U^T (3H x H): rows [gH, gH + H) are U_g^T.
  const detail::PackedB<T> ut(kern, H3, Hi, View<T>(w.recurrent_kernel, H, 1), s.threads);
  const int nt = row_threads(s, kern);

  // Bias gradients are column sums of dL/da (and, reset_after, of
  // dL/d(h U_h + c_h)): each thread sums its rows while the step has them in
  // cache, and the partial sums are added in thread order after the loop (a
  // separate pass over the whole workspace took ~2-4% of a train step).
  const bool want_bias = grads.input_bias != nullptr ||
                         (s.reset_after && grads.recurrent_bias != nullptr);
  const Index nsum = s.reset_after ? 4 * H : 3 * H;
  std::vector<T> bias_part(want_bias ? static_cast<std::size_t>(nt) * nsum : 0, T(0));
  // A user interrupt, as in forward_train; checked again between the weight
  // gradients' products below.
  detail::InterruptFlag interrupt(s);
  auto stop_if_interrupted = [&](long step) {
    interrupt.poll();
    interrupt.throw_if_stopped(step);
  };

  for_rows(int(B), kern.MR, nt, [&](Index b0, Index nb, int tid) {
    T* bsum = want_bias ? bias_part.data() + tid * nsum : nullptr;
    auto rmask = [&](int gate) {
      return mask_block(in.recurrent_dropout_mask, rg, gate, B, H).middleRows(b0, nb);
    };
    // out (nb x H) (=|+=) A (nb x K, row stride a_rs) U^T rows [k0, k0 + K).
    auto product = [&](const T* a, long a_rs, int k0, int K, T* out, bool acc) {
      detail::gemm_packed(kern, int(nb), Hi, K, View<T>(a, a_rs, 1), ut.rows(k0),
                          ut.panel_stride, out, H, acc, static_cast<const T*>(nullptr), 1,
                          s.tuning);
    };
    RowMat<T> dh(nb, H), dh_new(nb, H), back(nb, H), drh(nb, H);
    if (gin.state != nullptr) {
      dh = Eigen::Map<const ColMat<T>>(gin.state, B, H).middleRows(b0, nb);
    } else {
      dh.setZero();
    }

    for (Index k = T_ - 1; k >= 0; --k) {
      if (interrupt.stop_at_step(tid, T_ - 1 - k)) break;  // processing steps done
      const Index t = detail::step_time(s, k);
      auto gt = ws.g.block(t * B + b0, 0, nb, 3 * H);
      auto dt = ws.d.block(t * B + b0, 0, nb, 3 * H);  // f'(a) in, dL/da out
      auto ct = ws.c.block(t * B + b0, 0, nb, H);
      auto st = ws.s.block(t * B + b0, 0, nb, H);
      const int* m_t = detail::step_mask(s, in.mask, t);
      auto keep = [&](Index b) {
        return m_t == nullptr || m_t[b0 + b] != 0;
      };

      dh_new = dh;
      if (s.return_sequences || k == T_ - 1) {
        // Unit by unit: a contiguous run of these rows each (see forward_train).
        const Index o0 = b0 + (s.return_sequences ? B * k : 0);
        const Index ostride = s.return_sequences ? B * T_ : B;
        const bool skip_masked = in.mask != nullptr && s.zero_output_for_mask;
        // Rounded to T as read, as a converted copy would have been.
        auto add_output = [&](const auto* o) {
          for (Index j = 0; j < H; ++j) {
            const auto* oj = o + o0 + ostride * j;
            if (skip_masked) {
              for (Index b = 0; b < nb; ++b) {
                if (keep(b)) dh_new(b, j) += static_cast<T>(oj[b]);
              }
            } else {
              for (Index b = 0; b < nb; ++b) dh_new(b, j) += static_cast<T>(oj[b]);
            }
          }
        };
        if (gin.output != nullptr) {
          add_output(gin.output);
        } else if (gin.output_double != nullptr && !skip_masked) {
          // R's doubles: the kernel's 8 x 8 blocks (the same conversions
          // and adds as add_output).
          kern.add_columns(gin.output_double + o0, ostride, int(nb), Hi,
                           &dh_new(0, 0), H);
        } else if (gin.output_double != nullptr) {
          add_output(gin.output_double);
        }
      }

      auto z = gt.leftCols(H).array();
      auto r = gt.middleCols(H, H).array();
      // d_z, d_h and (reset_after) d_r, dL/d(h U_h + c_h) into c; a masked
      // row's gate gradients are zero.
      for (Index b = 0; b < nb; ++b) {
        if (keep(b)) {
          kern.train_back_gates(H, s.reset_after, &gt(b, 0), &dt(b, 0), &ct(b, 0), &st(b, 0),
                                &dh_new(b, 0));
        } else {
          dt.row(b).setZero();
          if (s.reset_after) ct.row(b).setZero();
        }
      }
      // dh = back + dh_new * z
      auto carry = [&]() {
        for (Index b = 0; b < nb; ++b) {
          kern.train_back_state(H, &back(b, 0), &dh_new(b, 0), &gt(b, 0), &dh(b, 0));
        }
      };

      auto dar = dt.middleCols(H, H);
      const T* dz = &dt(0, 0);
      if (s.reset_after) {
        if (rg == 3) {
          product(dz, H3, 0, Hi, back.data(), false);
          dh = back.cwiseProduct(rmask(0));
          product(dz + H, H3, Hi, Hi, back.data(), false);
          dh += back.cwiseProduct(rmask(1));
          product(&ct(0, 0), H, 2 * Hi, Hi, back.data(), false);
          dh += back.cwiseProduct(rmask(2));
          dh.array() += dh_new.array() * z;
        } else {
          product(dz, H3, 0, 2 * Hi, back.data(), false);
          product(&ct(0, 0), H, 2 * Hi, Hi, back.data(), true);
          if (rg == 1) back.array() *= rmask(0).array();
          carry();
        }
      } else {
        product(dz + 2 * H, H3, 2 * Hi, Hi, drh.data(), false);  // dL/d(r * h_h)
        if (rg == 0) {
          dar.array() *= drh.array() * st.array();
        } else {
          dar.array() *= drh.array() * st.array() * rmask(2).array();
        }
        if (rg == 3) {
          product(dz, H3, 0, Hi, back.data(), false);
          dh = back.cwiseProduct(rmask(0));
          product(dz + H, H3, Hi, Hi, back.data(), false);
          dh += back.cwiseProduct(rmask(1));
          dh.array() += drh.array() * r * rmask(2).array();
          dh.array() += dh_new.array() * z;
        } else {
          product(dz, H3, 0, 2 * Hi, back.data(), false);
          back.array() += drh.array() * r;
          if (rg == 1) back.array() *= rmask(0).array();
          carry();
        }
      }
      for (Index b = 0; b < nb; ++b) {
        if (!keep(b)) {
          dh.row(b) = dh_new.row(b);
        } else if (bsum != nullptr) {
          kern.add_to(3 * H, &dt(b, 0), bsum);
          if (s.reset_after) kern.add_to(H, &ct(b, 0), bsum + 3 * H);
        }
      }
    }

    if (grads.initial_state != nullptr) {
      Eigen::Map<ColMat<T>>(grads.initial_state, B, H).middleRows(b0, nb) = dh;
    }
  });

  stop_if_interrupted(T_);
  // Weight and input gradients over all timesteps at once, with the packed
  // products. ws.d is dL/dXP.
  const T* D = ws.d.data();
  const T* Cw = ws.c.data();
  const T* none = nullptr;
  // A weight gradient, column-major (Keras' layout: out[i + rows j]), as a
  // product over all B T rows with the row-major workspace on the right:
  // computed row-major, then transposed. The right operand's packing reads
  // contiguous runs of the workspace; on the left, transposed, it read MR
  // floats per workspace row (perf: ~8% of an S2 train step).
  std::vector<T> tmp;
  auto colmajor = [&](int rows, int cols, View<T> a, View<T> b, T* out) {
    tmp.resize(static_cast<std::size_t>(rows) * cols);
    detail::gemm(kern, rows, cols, BT, a, b, tmp.data(), cols, false, none, s.threads, s.tuning);
    transpose_to(tmp.data(), rows, cols, out);
  };
  if (grads.kernel != nullptr) {
    // dK (F x 3H) = x^T dA
    const View<T> dv(D, H3, 1);
    if (s.dropout_gates == 0) {
      colmajor(int(F), H3, View<T>(in.x, BT, 1), dv, grads.kernel);
    } else {
      ColMat<T> xd;
      for (int g = 0; g < s.dropout_gates; ++g) {
        dropped_inputs(s, in, g, &xd);
        const View<T> xt(xd.data(), BT, 1);
        if (s.dropout_gates == 1) {
          colmajor(int(F), H3, xt, dv, grads.kernel);
        } else {
          colmajor(int(F), Hi, xt, dv.offset(0, g * H), grads.kernel + g * H * F);
        }
      }
    }
  }
  stop_if_interrupted(T_);
  if (grads.x != nullptr) {
    // dX (B T x F) = dA K^T, computed row-major and transposed to the
    // column-major result. dA's rows pack with the 4x4 transposes of
    // pack_rows and K^T (3H x F, its rows contiguous) is small and read in
    // place; the other way round, dX^T = K dA^T, packed all of dA column by
    // column into panels (strided stores) and ran at ~46 GFLOP/s against
    // ~130 for the other products.
    std::vector<T> dxr(static_cast<std::size_t>(BT) * F);
    auto input_grad = [&](int k0, int K, T* out) {
      detail::gemm(kern, BT, int(F), K, View<T>(D + k0, H3, 1), View<T>(w.kernel + k0 * F, F, 1),
                   dxr.data(), F, false, none, s.threads, s.tuning);
      transpose_to(dxr.data(), BT, F, out, s.threads);
    };
    if (s.dropout_gates == 0) {
      input_grad(0, H3, grads.x);
    } else {
      Eigen::Map<ColMat<T>> dx(grads.x, B * T_, F);
      ColMat<T> part(B * T_, F);
      dx.setZero();
      for (int g = 0; g < s.dropout_gates; ++g) {
        auto m = mask_block(in.dropout_mask, s.dropout_gates, g, B, F);
        if (s.dropout_gates == 1) {
          input_grad(0, H3, part.data());
        } else {
          input_grad(g * Hi, Hi, part.data());
        }
        for (Index t = 0; t < T_; ++t)
          dx.middleRows(t * B, B) += part.middleRows(t * B, B).cwiseProduct(m);
      }
    }
  }
  stop_if_interrupted(T_);
  if (grads.recurrent_kernel != nullptr) {
    // dU (H x 3H): gate g's columns = the (dropped) states its recurrent
    // product read, transposed, times dA_g.
    T* du = grads.recurrent_kernel;
    ColMat<T> sd;
    auto states_t = [&](int g) -> View<T> {  // S^T (H x B T)
      if (rg == 0) return View<T>(ws.s.data(), 1, H);
      sd.resize(B * T_, H);
      auto m = mask_block(in.recurrent_dropout_mask, rg, g, B, H);
      for (Index t = 0; t < T_; ++t)
        sd.middleRows(t * B, B) = ws.s.middleRows(t * B, B).cwiseProduct(m);
      return View<T>(sd.data(), BT, 1);
    };
    auto grad_of = [&](int g) {  // dA_g (B T x H)
      return (g == 2) ? View<T>(Cw, H, 1) : View<T>(D + g * H, H3, 1);
    };
    const int ngate = s.reset_after ? 3 : 2;
    if (rg == 3) {
      for (int g = 0; g < ngate; ++g) colmajor(Hi, Hi, states_t(g), grad_of(g), du + g * H * H);
    } else {
      const View<T> st = states_t(0);
      colmajor(Hi, 2 * Hi, st, View<T>(D, H3, 1), du);
      if (s.reset_after) colmajor(Hi, Hi, st, grad_of(2), du + 2 * H * H);
    }
    if (!s.reset_after) {
      // (r h)^T dA_h
      colmajor(Hi, Hi, View<T>(Cw, 1, H), View<T>(D + 2 * H, H3, 1), du + 2 * H * H);
    }
  }
  if (want_bias) {
    std::vector<T> sum(bias_part.begin(), bias_part.begin() + nsum);
    for (int t = 1; t < nt; ++t) {
      for (Index j = 0; j < nsum; ++j) sum[j] += bias_part[t * nsum + j];
    }
    if (grads.input_bias != nullptr) std::copy(sum.begin(), sum.begin() + H3, grads.input_bias);
    if (s.reset_after && grads.recurrent_bias != nullptr) {
      std::copy(sum.begin(), sum.begin() + 2 * H, grads.recurrent_bias);
      std::copy(sum.begin() + 3 * H, sum.begin() + 4 * H, grads.recurrent_bias + 2 * H);
    }
  }
}

template void backward<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                              const GradInputs<float>&, const Gradients<float>&, float*);
template void backward<double>(const Spec&, const Weights<double>&, const Inputs<double>&,
                               const GradInputs<double>&, const Gradients<double>&,
                               double*);

}  // namespace gru
