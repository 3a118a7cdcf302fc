// The CPU forward pass: Keras 3's generic GRU path.
//
// Layout inside the engine: the input projection XP holds one row per
// (timestep, batch row), row index t * B + b, with the 3H gate columns
// contiguous (row-major), so each step reads a contiguous B x 3H block and the
// gate arithmetic runs along contiguous rows. The hidden state h is a
// row-major B x H matrix. All buffers are allocated once per call; the loop
// over timesteps allocates nothing.
#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "gru.h"

namespace gru {

void validate(const Spec& s) {
  if (s.batch <= 0 || s.timesteps <= 0 || s.input_dim <= 0 || s.units <= 0) {
    throw Error("batch, timesteps, input_dim and units must all be positive");
  }
  auto gates_ok = [](int g) { return g == 0 || g == 1 || g == 3; };
  if (!gates_ok(s.dropout_gates) || !gates_ok(s.recurrent_dropout_gates)) {
    throw Error("dropout masks come in 0, 1 or 3 gate blocks");
  }
  auto act_ok = [](Activation a) {
    int c = static_cast<int>(a);
    return c >= 0 && c < kActivationCount;
  };
  if (!act_ok(s.activation) || !act_ok(s.recurrent_activation)) {
    throw Error("unknown activation code");
  }
  if (s.threads < 1) throw Error("threads must be at least 1");
}

namespace {

using Eigen::Dynamic;
using Eigen::Index;
template <typename T>
using RowMat = Eigen::Matrix<T, Dynamic, Dynamic, Eigen::RowMajor>;
template <typename T>
using ColMat = Eigen::Matrix<T, Dynamic, Dynamic, Eigen::ColMajor>;
template <typename T>
using RowVec = Eigen::Matrix<T, 1, Dynamic>;

// The input projection for all timesteps: XP = dropout(x) K + input_bias.
template <typename T>
void project_inputs(const Spec& s, const Weights<T>& w, const Inputs<T>& in,
                    Eigen::Map<RowMat<T>>& xp) {
  const Index B = s.batch, T_ = s.timesteps, F = s.input_dim, H = s.units;
  Eigen::Map<const ColMat<T>> x(in.x, B * T_, F);
  Eigen::Map<const ColMat<T>> kernel(w.kernel, F, 3 * H);
  if (s.dropout_gates == 0) {
    xp.noalias() = x * kernel;
  } else {
    // x * mask, the (B x F) mask broadcast over timesteps.
    ColMat<T> xd(B * T_, F);
    for (int g = 0; g < s.dropout_gates; ++g) {
      const T* m = in.dropout_mask + static_cast<Index>(g) * B * F;
      for (Index f = 0; f < F; ++f) {
        for (Index t = 0; t < T_; ++t) {
          for (Index b = 0; b < B; ++b) xd(t * B + b, f) = x(t * B + b, f) * m[b + B * f];
        }
      }
      if (s.dropout_gates == 1) {
        xp.noalias() = xd * kernel;
      } else {
        xp.middleCols(g * H, H).noalias() = xd * kernel.middleCols(g * H, H);
      }
    }
  }
  if (w.input_bias != nullptr) {
    xp.rowwise() += Eigen::Map<const RowVec<T>>(w.input_bias, 3 * H);
  }
}

}  // namespace

template <typename T>
void forward_cpu(const Spec& s, const Weights<T>& w, const Inputs<T>& in,
                 const Outputs<T>& out) {
  validate(s);
  const Index B = s.batch, T_ = s.timesteps, H = s.units;

  std::vector<T> xp_buf(static_cast<size_t>(B * T_ * 3 * H));
  Eigen::Map<RowMat<T>> xp(xp_buf.data(), B * T_, 3 * H);
  project_inputs(s, w, in, xp);

  Eigen::Map<const ColMat<T>> rk(w.recurrent_kernel, H, 3 * H);
  RowMat<T> h(B, H), h_new(B, H), hu(B, 3 * H), gates(B, 3 * H), hd(B, H),
      rh(B, H);
  if (in.initial_state != nullptr) {
    h = Eigen::Map<const ColMat<T>>(in.initial_state, B, H);
  } else {
    h.setZero();
  }

  // The recurrent state a gate's product reads: h itself, or h times that
  // gate's recurrent dropout mask.
  auto dropped_state = [&](int gate) -> const RowMat<T>& {
    if (s.recurrent_dropout_gates == 0) return h;
    const int block = s.recurrent_dropout_gates == 3 ? gate : 0;
    hd = h.array() *
         Eigen::Map<const ColMat<T>>(in.recurrent_dropout_mask + block * B * H, B, H)
             .array();
    return hd;
  };
  // hu[:, cols of gates g0..g1) = state(g) U[:, same cols).
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
    auto xpt = xp.middleRows(t * B, B);

    if (s.reset_after) {
      recurrent_product(0, 3);
      if (w.recurrent_bias != nullptr) {
        hu.rowwise() += Eigen::Map<const RowVec<T>>(w.recurrent_bias, 3 * H);
      }
    } else {
      recurrent_product(0, 2);
    }
    gates.leftCols(2 * H) = xpt.leftCols(2 * H) + hu.leftCols(2 * H);
    for (Index b = 0; b < B; ++b) activate(s.recurrent_activation, &gates(b, 0), 2 * H);

    if (s.reset_after) {
      gates.rightCols(H) = xpt.rightCols(H).array() +
                           gates.middleCols(H, H).array() * hu.rightCols(H).array();
    } else {
      // (r * h_h) U_h, where h_h is the state with the h gate's dropout.
      rh = gates.middleCols(H, H).array() * dropped_state(2).array();
      hu.rightCols(H).noalias() = rh * rk.rightCols(H);
      gates.rightCols(H) = xpt.rightCols(H) + hu.rightCols(H);
    }
    for (Index b = 0; b < B; ++b) activate(s.activation, &gates(b, 2 * H), H);

    // h = z * h_prev + (1 - z) * hh
    h_new = gates.leftCols(H).array() * h.array() +
            (T(1) - gates.leftCols(H).array()) * gates.rightCols(H).array();

    // A masked step carries the state; its output repeats the previous output
    // (which for a GRU is the carried state) or is zero.
    const bool last = k == T_ - 1;
    for (Index b = 0; b < B; ++b) {
      const bool keep = in.mask == nullptr || in.mask[b + B * t] != 0;
      if (!keep) h_new.row(b) = h.row(b);
      if (!s.return_sequences && !last) continue;
      T* o = out.output + (s.return_sequences ? b + B * k : b);
      const Index ostride = s.return_sequences ? B * T_ : B;
      for (Index j = 0; j < H; ++j) {
        o[ostride * j] = (!keep && s.zero_output_for_mask) ? T(0) : h_new(b, j);
      }
    }
    h.swap(h_new);
  }

  if (out.state != nullptr) {
    Eigen::Map<ColMat<T>>(out.state, B, H) = h;
  }
}

template void forward_cpu<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                                 const Outputs<float>&);
template void forward_cpu<double>(const Spec&, const Weights<double>&,
                                  const Inputs<double>&, const Outputs<double>&);

}  // namespace gru
