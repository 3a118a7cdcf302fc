// Backpropagation through time for the GRU (src/gru/backward.cpp).
//
// Training is two calls sharing one caller-owned workspace:
//
//   std::vector<T> ws(gru::train_workspace_size(spec));
//   gru::forward_train<T>(spec, w, in, out, ws.data());   // the forward pass
//   gru::backward<T>(spec, w, in, grad_in, grads, ws.data());
//
// forward_train computes exactly what forward_cpu computes (it runs the same
// step body) and stores, per timestep, what the backward pass needs;
// backward consumes (overwrites) the workspace, so run forward_train again
// before another backward.
//
// Workspace layout: four row-major blocks with one row per (timestep, batch
// row), row index t * B + b where t is the time index of the input (not the
// processing step, so go_backwards needs no reordering):
//
//   G  (T*B x 3H)  gate activations z, r, hh
//   D  (T*B x 3H)  activation derivatives f'(a) at the gate pre-activations;
//                  backward overwrites it with dL/da (= dL/d(input projection))
//   C  (T*B x H)   reset_after: h_prev U_h + c_h (the recurrent candidate
//                  term the reset gate scales); backward overwrites it with
//                  dL/d(that term). reset_after = FALSE: r * h_prev (with the
//                  h gate's recurrent dropout), the left factor of U_h.
//   S  (T*B x H)   the state before step t (undropped)
//
// i.e. 8 * T * B * H elements.
#ifndef GRU_BACKWARD_H
#define GRU_BACKWARD_H

#include <cstddef>

#include "gru.h"

namespace gru {

// Upstream gradients, in the layout of Outputs.
template <typename T>
struct GradInputs {
  // dL/d(output): B x H, or B x T x H in processing order with
  // return_sequences. Null = zero.
  const T* output = nullptr;
  const T* state = nullptr;  // dL/d(final state), B x H; null = zero
  // dL/d(output) in double precision, read in place of `output` when that is
  // null: the caller's doubles, each rounded to T as it is read, so a float
  // pass needs no converted copy (3.3 MB for S2's sequence gradient).
  const double* output_double = nullptr;
};

// Where backward writes; any pointer may be null to skip that gradient.
template <typename T>
struct Gradients {
  T* x = nullptr;                 // B x T x F
  T* initial_state = nullptr;     // B x H
  T* kernel = nullptr;            // F x 3H (column-major, Keras' layout)
  T* recurrent_kernel = nullptr;  // H x 3H
  T* input_bias = nullptr;        // 3H (Keras' bias when reset_after = FALSE)
  T* recurrent_bias = nullptr;    // 3H, reset_after only
};

// Number of T elements the workspace needs.
std::size_t train_workspace_size(const Spec& spec);

namespace detail {

// The workspace's four blocks (the layout above); all null without one.
template <typename T>
struct TrainBlocks {
  T *g = nullptr, *d = nullptr, *c = nullptr, *s = nullptr;
  std::size_t units = 0;
  TrainBlocks(const Spec& sp, T* ws) {
    if (ws == nullptr) return;
    units = static_cast<std::size_t>(sp.units);
    const std::size_t n = static_cast<std::size_t>(sp.timesteps) * sp.batch * units;
    g = ws;
    d = ws + 3 * n;
    c = ws + 6 * n;
    s = ws + 7 * n;
  }
  // Row `row` (t B + b) of each block: 3H wide for G and D, H for C and S.
  T* g_row(std::size_t row) const { return g + row * 3 * units; }
  T* d_row(std::size_t row) const { return d + row * 3 * units; }
  T* c_row(std::size_t row) const { return c + row * units; }
  T* s_row(std::size_t row) const { return s + row * units; }
};

// validate(), and the training passes' limit of 2^31 - 1 rows (B T).
void validate_train(const Spec& s);

}  // namespace detail

// The forward pass of forward_cpu, also filling `workspace`: the same step
// body (forward.cpp) under its training policy. The output and state may be
// doubles when T is float (O = double): each value is rounded to float, as
// the float computation leaves it, and stored widened.
template <typename T, typename O = T>
void forward_train(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
                   const Outputs<O>& out, T* workspace);

// Gradients of the loss w.r.t. inputs, initial state and weights, given the
// upstream gradients and the workspace of the matching forward_train call
// (same spec, weights and inputs, dropout masks included).
template <typename T>
void backward(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
              const GradInputs<T>& grad_in, const Gradients<T>& grads, T* workspace);

}  // namespace gru

#endif  // GRU_BACKWARD_H
