// The 1-D convolution of layer_conv_1d() (Keras' Conv1D, channels_last,
// groups = 1): an im2col product on the engine's packed gemm (gemm.h).
//
// Layouts are R's (column-major, Keras' dimension order):
//   x       (batch, steps, channels):       x[b + B * t + B * L * c]
//   kernel  (kernel_size, channels, filters): w[k + K * c + K * C * f]
//   output  (batch, out_steps, filters):    y[b + B * o + B * Lout * f]
// so with r = k + K * c (the reduction index, KC = K * C of them) and
// i = b + B * o (the output position, M = B * Lout of them),
//   y[i + M * f] = bias[f] + sum_r w[r + KC * f] * X(r, i),
//   X(r, i) = x[b + B * t + B * L * c], t = o * stride + k * dilation - pad_left
// (zero when t is outside [0, L): the padding). The output is the row-major
// F x M product W^T X, which is R's layout as it stands: W^T (F x KC) is
// the kernel read in place (row f is its KC contiguous values), and X is
// gathered from x straight into the gemm's packed panel layout, one
// cache-sized chunk of output positions at a time, so it is never formed
// whole in the forward pass.
#ifndef GRU_CONV1D_H
#define GRU_CONV1D_H

#include "gru.h"

namespace gru {

struct Conv1dSpec {
  int batch = 0;        // B
  int steps = 0;        // L
  int channels = 0;     // C
  int filters = 0;      // F
  int kernel_size = 1;  // K
  int stride = 1;
  int dilation = 1;
  // Zeros before step 0: 0 ("valid"), dilation * (K - 1) ("causal"), or
  // half the total padding rounded down ("same", as TensorFlow and JAX).
  int pad_left = 0;
  int out_steps = 0;  // Lout; taps past the input's end read zeros
  int threads = 1;
};

// Throws gru::Error when the spec is inconsistent (a window that starts
// past the padded input, non-positive sizes).
void validate(const Conv1dSpec& s);

// out = activation(conv(x, kernel) + bias), computed in T (x, out and pre
// are R's doubles, converted as x is gathered and as the outputs are
// stored). bias may be null; pre, when not null, receives the values before
// the activation (what its derivative needs), in out's layout.
template <typename T>
void conv1d_forward(const Conv1dSpec& s, const double* x, const T* kernel, const T* bias,
                    Activation activation, double* out, double* pre);

// Gradients for dL/d(out) = grad (the pre-activation output's gradient,
// (batch, out_steps, filters)): dkernel (kernel's layout), dbias (filters;
// null: none) and dx (x's layout; null: not needed), each overwritten.
//   dW^T = G X^T (F x KC), dX = W G (KC x M) scattered back onto x's steps.
template <typename T>
void conv1d_backward(const Conv1dSpec& s, const double* x, const T* kernel, const T* grad,
                     T* dx, T* dkernel, T* dbias);

}  // namespace gru

#endif  // GRU_CONV1D_H
