// Backpropagation through time for the GRU: forward_train, backward and the
// activation derivatives. See backward.h for the workspace layout.
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
#include <cmath>
#include <vector>

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
template <typename T>
using RowVec = Eigen::Matrix<T, 1, Dynamic>;

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

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
  Work(const Spec& sp, T* ws)
      : g(ws, Index(sp.timesteps) * sp.batch, 3 * Index(sp.units)),
        d(ws + g.size(), g.rows(), g.cols()),
        c(ws + 2 * g.size(), g.rows(), sp.units),
        s(ws + 2 * g.size() + c.size(), g.rows(), sp.units) {}
};

// A B x n (gate block `gate` of) dropout mask, column-major as R stores it.
template <typename T>
Eigen::Map<const ColMat<T>> mask_block(const T* m, int gates, int gate, Index B,
                                       Index n) {
  const int block = gates == 3 ? gate : 0;
  return Eigen::Map<const ColMat<T>>(m + block * B * n, B, n);
}

}  // namespace

std::size_t train_workspace_size(const Spec& s) {
  return static_cast<std::size_t>(8) * s.timesteps * s.batch * s.units;
}

template <typename T>
void activation_derivative(Activation a, const T* x, const T* y, T* d, long n) {
  using Arr = Eigen::Array<T, Dynamic, 1>;
  Eigen::Map<const Arr> xv(x, n), yv(y, n);
  Eigen::Map<Arr> dv(d, n);
  auto each = [&](auto f) {
    for (long i = 0; i < n; ++i) d[i] = f(x[i], y[i]);
  };
  switch (a) {
    case Activation::kTanh:
      dv = T(1) - yv.square();
      return;
    case Activation::kSigmoid:
      dv = yv * (T(1) - yv);
      return;
    case Activation::kHardSigmoid:
      dv = (xv > T(-3) && xv < T(3)).template cast<T>() / T(6);
      return;
    case Activation::kHardSigmoidKeras2: {
      // TensorFlow's clip_by_value passes the gradient on the closed interval.
      each([](T u, T) {
        const T v = T(0.2) * u + T(0.5);
        return (v >= T(0) && v <= T(1)) ? T(0.2) : T(0);
      });
      return;
    }
    case Activation::kRelu:
      dv = (xv > T(0)).template cast<T>();
      return;
    case Activation::kLinear:
      dv.setOnes();
      return;
    case Activation::kElu:
      each([](T u, T v) { return u < T(0) ? v + T(1) : T(1); });
      return;
    case Activation::kSelu:
      each([](T u, T v) {
        const T alpha = T(1.6732632423543772848170429916717);
        const T scale = T(1.0507009873554804934193349852946);
        return u < T(0) ? v + scale * alpha : scale;
      });
      return;
    case Activation::kSoftplus:
      each([](T u, T) { return sigmoid(u); });
      return;
    case Activation::kSoftsign:
      each([](T u, T) {
        const T q = T(1) + std::abs(u);
        return T(1) / (q * q);
      });
      return;
    case Activation::kSilu:
      each([](T u, T) {
        const T sg = sigmoid(u);
        return sg * (T(1) + u * (T(1) - sg));
      });
      return;
    case Activation::kGelu:
      each([](T u, T) {
        const T inv_sqrt2 = T(0.70710678118654752440084436210485);
        const T inv_sqrt_2pi = T(0.39894228040143267793994605993438);
        return T(0.5) * (T(1) + std::erf(u * inv_sqrt2)) +
               u * inv_sqrt_2pi * std::exp(T(-0.5) * u * u);
      });
      return;
    case Activation::kExponential:
      dv = yv;
      return;
    case Activation::kRelu6:
      dv = (xv > T(0) && xv < T(6)).template cast<T>();
      return;
    case Activation::kHardSilu:
      // x * relu6(x + 3) / 6
      each([](T u, T) {
        if (u <= T(-3)) return T(0);
        if (u >= T(3)) return T(1);
        return (T(2) * u + T(3)) / T(6);
      });
      return;
    case Activation::kMish:
      each([](T u, T) {
        const T th = std::tanh(softplus(u));
        return th + u * (T(1) - th * th) * sigmoid(u);
      });
      return;
    case Activation::kLogSigmoid:
      each([](T u, T) { return sigmoid(-u); });
      return;
  }
  throw Error("unknown activation code " + std::to_string(static_cast<int>(a)));
}

template <typename T>
void forward_train(const Spec& s, const Weights<T>& w, const Inputs<T>& in,
                   const Outputs<T>& out, T* workspace) {
  validate(s);
  const Index B = s.batch, T_ = s.timesteps, F = s.input_dim, H = s.units;
  Work<T> ws(s, workspace);

  // The input projection XP = dropout(x) K + input_bias goes into D; each
  // step reads its block and then overwrites it with the derivatives.
  {
    Eigen::Map<const ColMat<T>> x(in.x, B * T_, F);
    Eigen::Map<const ColMat<T>> kernel(w.kernel, F, 3 * H);
    if (s.dropout_gates == 0) {
      ws.d.noalias() = x * kernel;
    } else {
      ColMat<T> xd(B * T_, F);
      for (int g = 0; g < s.dropout_gates; ++g) {
        auto m = mask_block(in.dropout_mask, s.dropout_gates, g, B, F);
        for (Index t = 0; t < T_; ++t)
          xd.middleRows(t * B, B) = x.middleRows(t * B, B).cwiseProduct(m);
        if (s.dropout_gates == 1) {
          ws.d.noalias() = xd * kernel;
        } else {
          ws.d.middleCols(g * H, H).noalias() = xd * kernel.middleCols(g * H, H);
        }
      }
    }
    if (w.input_bias != nullptr) {
      ws.d.rowwise() += Eigen::Map<const RowVec<T>>(w.input_bias, 3 * H);
    }
  }

  Eigen::Map<const ColMat<T>> rk(w.recurrent_kernel, H, 3 * H);
  RowMat<T> h(B, H), h_new(B, H), hu(B, 3 * H), pre(B, 3 * H), hd(B, H);
  if (in.initial_state != nullptr) {
    h = Eigen::Map<const ColMat<T>>(in.initial_state, B, H);
  } else {
    h.setZero();
  }
  auto dropped_state = [&](int gate) -> const RowMat<T>& {
    if (s.recurrent_dropout_gates == 0) return h;
    hd = h.cwiseProduct(
        mask_block(in.recurrent_dropout_mask, s.recurrent_dropout_gates, gate, B, H));
    return hd;
  };
  auto recurrent_product = [&](int g0, int g1) {
    if (s.recurrent_dropout_gates == 3) {
      for (int g = g0; g < g1; ++g) {
        hu.middleCols(g * H, H).noalias() = dropped_state(g) * rk.middleCols(g * H, H);
      }
    } else {
      hu.middleCols(g0 * H, (g1 - g0) * H).noalias() =
          dropped_state(g0) * rk.middleCols(g0 * H, (g1 - g0) * H);
    }
  };

  for (Index k = 0; k < T_; ++k) {
    const Index t = s.go_backwards ? T_ - 1 - k : k;
    auto xpt = ws.d.middleRows(t * B, B);
    auto gt = ws.g.middleRows(t * B, B);
    auto ct = ws.c.middleRows(t * B, B);
    ws.s.middleRows(t * B, B) = h;

    if (s.reset_after) {
      recurrent_product(0, 3);
      if (w.recurrent_bias != nullptr) {
        hu.rowwise() += Eigen::Map<const RowVec<T>>(w.recurrent_bias, 3 * H);
      }
    } else {
      recurrent_product(0, 2);
    }
    pre.leftCols(2 * H) = xpt.leftCols(2 * H) + hu.leftCols(2 * H);
    gt.leftCols(2 * H) = pre.leftCols(2 * H);
    for (Index b = 0; b < B; ++b) activate(s.recurrent_activation, &gt(b, 0), 2 * H);

    if (s.reset_after) {
      ct = hu.rightCols(H);
      pre.rightCols(H) =
          xpt.rightCols(H).array() + gt.middleCols(H, H).array() * ct.array();
    } else {
      ct = gt.middleCols(H, H).cwiseProduct(dropped_state(2));
      hu.rightCols(H).noalias() = ct * rk.rightCols(H);
      pre.rightCols(H) = xpt.rightCols(H) + hu.rightCols(H);
    }
    gt.rightCols(H) = pre.rightCols(H);
    for (Index b = 0; b < B; ++b) {
      activate(s.activation, &gt(b, 2 * H), H);
      activation_derivative(s.recurrent_activation, &pre(b, 0), &gt(b, 0), &xpt(b, 0),
                            2 * H);
      activation_derivative(s.activation, &pre(b, 2 * H), &gt(b, 2 * H), &xpt(b, 2 * H),
                            H);
    }

    h_new = gt.leftCols(H).array() * h.array() +
            (T(1) - gt.leftCols(H).array()) * gt.rightCols(H).array();

    const bool last = k == T_ - 1;
    for (Index b = 0; b < B; ++b) {
      const bool keep = in.mask == nullptr || in.mask[b + B * t] != 0;
      if (!keep) h_new.row(b) = h.row(b);
      if (out.output == nullptr || (!s.return_sequences && !last)) continue;
      T* o = out.output + (s.return_sequences ? b + B * k : b);
      const Index ostride = s.return_sequences ? B * T_ : B;
      for (Index j = 0; j < H; ++j) {
        o[ostride * j] = (!keep && s.zero_output_for_mask) ? T(0) : h_new(b, j);
      }
    }
    h.swap(h_new);
  }
  if (out.state != nullptr) Eigen::Map<ColMat<T>>(out.state, B, H) = h;
}

template <typename T>
void backward(const Spec& s, const Weights<T>& w, const Inputs<T>& in,
              const GradInputs<T>& gin, const Gradients<T>& grads, T* workspace) {
  validate(s);
  const FlushSubnormals flush;
  const Index B = s.batch, T_ = s.timesteps, F = s.input_dim, H = s.units;
  Work<T> ws(s, workspace);
  Eigen::Map<const ColMat<T>> rk(w.recurrent_kernel, H, 3 * H);
  const int rg = s.recurrent_dropout_gates;
  auto rmask = [&](int gate) {
    return mask_block(in.recurrent_dropout_mask, rg, gate, B, H);
  };

  RowMat<T> dh(B, H), dh_new(B, H), back(B, H), drh(B, H);
  if (gin.state != nullptr) {
    dh = Eigen::Map<const ColMat<T>>(gin.state, B, H);
  } else {
    dh.setZero();
  }

  for (Index k = T_ - 1; k >= 0; --k) {
    const Index t = s.go_backwards ? T_ - 1 - k : k;
    auto gt = ws.g.middleRows(t * B, B);
    auto dt = ws.d.middleRows(t * B, B);  // f'(a) in, dL/da out
    auto ct = ws.c.middleRows(t * B, B);
    auto st = ws.s.middleRows(t * B, B);
    auto keep = [&](Index b) { return in.mask == nullptr || in.mask[b + B * t] != 0; };

    dh_new = dh;
    if (gin.output != nullptr && (s.return_sequences || k == T_ - 1)) {
      const T* o = gin.output + (s.return_sequences ? B * k : 0);
      const Index ostride = s.return_sequences ? B * T_ : B;
      for (Index b = 0; b < B; ++b) {
        if (!keep(b) && s.zero_output_for_mask) continue;
        for (Index j = 0; j < H; ++j) dh_new(b, j) += o[b + ostride * j];
      }
    }

    auto z = gt.leftCols(H).array();
    auto r = gt.middleCols(H, H).array();
    dt.leftCols(H).array() *= dh_new.array() * (st.array() - gt.rightCols(H).array());
    dt.rightCols(H).array() *= dh_new.array() * (T(1) - z);
    for (Index b = 0; b < B; ++b) {
      if (!keep(b)) {
        dt.row(b).setZero();
        if (s.reset_after) ct.row(b).setZero();
      }
    }

    auto daz = dt.leftCols(H);
    auto dar = dt.middleCols(H, H);
    auto dah = dt.rightCols(H);
    if (s.reset_after) {
      dar.array() *= dah.array() * ct.array();
      ct.array() = dah.array() * r;  // now dL/d(h U_h + c_h)
      if (rg == 3) {
        back.noalias() = daz * rk.leftCols(H).transpose();
        dh = back.cwiseProduct(rmask(0));
        back.noalias() = dar * rk.middleCols(H, H).transpose();
        dh += back.cwiseProduct(rmask(1));
        back.noalias() = ct * rk.rightCols(H).transpose();
        dh += back.cwiseProduct(rmask(2));
      } else {
        back.noalias() = dt.leftCols(2 * H) * rk.leftCols(2 * H).transpose();
        back.noalias() += ct * rk.rightCols(H).transpose();
        if (rg == 1) back.array() *= rmask(0).array();
        dh = back;
      }
    } else {
      drh.noalias() = dah * rk.rightCols(H).transpose();  // dL/d(r * h_h)
      if (rg == 0) {
        dar.array() *= drh.array() * st.array();
      } else {
        dar.array() *= drh.array() * st.array() * rmask(2).array();
      }
      if (rg == 3) {
        back.noalias() = daz * rk.leftCols(H).transpose();
        dh = back.cwiseProduct(rmask(0));
        back.noalias() = dar * rk.middleCols(H, H).transpose();
        dh += back.cwiseProduct(rmask(1));
        dh.array() += drh.array() * r * rmask(2).array();
      } else {
        back.noalias() = dt.leftCols(2 * H) * rk.leftCols(2 * H).transpose();
        back.array() += drh.array() * r;
        if (rg == 1) back.array() *= rmask(0).array();
        dh = back;
      }
    }
    dh.array() += dh_new.array() * z;
    for (Index b = 0; b < B; ++b) {
      if (!keep(b)) dh.row(b) = dh_new.row(b);
    }
  }

  if (grads.initial_state != nullptr) {
    Eigen::Map<ColMat<T>>(grads.initial_state, B, H) = dh;
  }

  // Weight and input gradients over all timesteps at once. ws.d is dL/dXP.
  Eigen::Map<const ColMat<T>> x(in.x, B * T_, F);
  Eigen::Map<const ColMat<T>> kernel(w.kernel, F, 3 * H);
  if (grads.kernel != nullptr) {
    Eigen::Map<ColMat<T>> dk(grads.kernel, F, 3 * H);
    if (s.dropout_gates == 0) {
      dk.noalias() = x.transpose() * ws.d;
    } else {
      ColMat<T> xd(B * T_, F);
      for (int g = 0; g < s.dropout_gates; ++g) {
        auto m = mask_block(in.dropout_mask, s.dropout_gates, g, B, F);
        for (Index t = 0; t < T_; ++t)
          xd.middleRows(t * B, B) = x.middleRows(t * B, B).cwiseProduct(m);
        if (s.dropout_gates == 1) {
          dk.noalias() = xd.transpose() * ws.d;
        } else {
          dk.middleCols(g * H, H).noalias() = xd.transpose() * ws.d.middleCols(g * H, H);
        }
      }
    }
  }
  if (grads.x != nullptr) {
    Eigen::Map<ColMat<T>> dx(grads.x, B * T_, F);
    if (s.dropout_gates == 0) {
      dx.noalias() = ws.d * kernel.transpose();
    } else {
      ColMat<T> part(B * T_, F);
      dx.setZero();
      for (int g = 0; g < s.dropout_gates; ++g) {
        auto m = mask_block(in.dropout_mask, s.dropout_gates, g, B, F);
        if (s.dropout_gates == 1) {
          part.noalias() = ws.d * kernel.transpose();
        } else {
          part.noalias() =
              ws.d.middleCols(g * H, H) * kernel.middleCols(g * H, H).transpose();
        }
        for (Index t = 0; t < T_; ++t)
          dx.middleRows(t * B, B) += part.middleRows(t * B, B).cwiseProduct(m);
      }
    }
  }
  if (grads.recurrent_kernel != nullptr) {
    Eigen::Map<ColMat<T>> du(grads.recurrent_kernel, H, 3 * H);
    // The (dropped) states the gate `g`'s recurrent product read.
    ColMat<T> sd;
    auto states = [&](int g) {
      sd.resize(B * T_, H);
      for (Index t = 0; t < T_; ++t) {
        if (rg == 0) {
          sd.middleRows(t * B, B) = ws.s.middleRows(t * B, B);
        } else {
          sd.middleRows(t * B, B) = ws.s.middleRows(t * B, B).cwiseProduct(rmask(g));
        }
      }
    };
    const int ngate = s.reset_after ? 3 : 2;
    if (rg == 3) {
      for (int g = 0; g < ngate; ++g) {
        states(g);
        if (g == 2) {
          du.rightCols(H).noalias() = sd.transpose() * ws.c;
        } else {
          du.middleCols(g * H, H).noalias() = sd.transpose() * ws.d.middleCols(g * H, H);
        }
      }
    } else if (rg == 1) {
      states(0);
      du.leftCols(2 * H).noalias() = sd.transpose() * ws.d.leftCols(2 * H);
      if (s.reset_after) du.rightCols(H).noalias() = sd.transpose() * ws.c;
    } else {
      du.leftCols(2 * H).noalias() = ws.s.transpose() * ws.d.leftCols(2 * H);
      if (s.reset_after) du.rightCols(H).noalias() = ws.s.transpose() * ws.c;
    }
    if (!s.reset_after) {
      du.rightCols(H).noalias() = ws.c.transpose() * ws.d.rightCols(H);
    }
  }
  if (grads.input_bias != nullptr) {
    Eigen::Map<RowVec<T>>(grads.input_bias, 3 * H) = ws.d.colwise().sum();
  }
  if (grads.recurrent_bias != nullptr && s.reset_after) {
    Eigen::Map<RowVec<T>> drb(grads.recurrent_bias, 3 * H);
    drb.leftCols(2 * H) = ws.d.leftCols(2 * H).colwise().sum();
    drb.rightCols(H) = ws.c.colwise().sum();
  }
}

template void activation_derivative<float>(Activation, const float*, const float*, float*,
                                           long);
template void activation_derivative<double>(Activation, const double*, const double*,
                                            double*, long);
template void forward_train<float>(const Spec&, const Weights<float>&,
                                   const Inputs<float>&, const Outputs<float>&, float*);
template void forward_train<double>(const Spec&, const Weights<double>&,
                                    const Inputs<double>&, const Outputs<double>&,
                                    double*);
template void backward<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                              const GradInputs<float>&, const Gradients<float>&, float*);
template void backward<double>(const Spec&, const Weights<double>&, const Inputs<double>&,
                               const GradInputs<double>&, const Gradients<double>&,
                               double*);

}  // namespace gru
