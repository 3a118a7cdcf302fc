// Keras activations and their derivatives, elementwise: the one place their
// formulas are written (the per-ISA kernels of kernels_impl.inc vectorize
// sigmoid and tanh for the step loops and must agree with these; the
// conformance and finite-difference tests hold them to it). tanh and sigmoid
// use Eigen's vectorized kernels; the rarer ones are plain loops over the
// std:: functions.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "activations.h"

namespace gru {

namespace {

template <typename T>
T softplus(T x) {
  // log(1 + exp(x)) without overflow.
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

template <typename T>
T relu6(T x) {
  return std::min(std::max(x, T(0)), T(6));
}

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T, typename F>
void each(T* x, long n, F f) {
  for (long i = 0; i < n; ++i) x[i] = f(x[i]);
}

}  // namespace

template <typename T>
void activate(Activation a, T* x, long n) {
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> v(x, n);
  switch (a) {
    case Activation::kTanh:
      v = v.tanh();
      return;
    case Activation::kSigmoid:
      v = T(1) / (T(1) + (-v).exp());
      return;
    case Activation::kHardSigmoid:
      v = (v + T(3)).max(T(0)).min(T(6)) / T(6);
      return;
    case Activation::kHardSigmoidKeras2:
      v = (T(0.2) * v + T(0.5)).max(T(0)).min(T(1));
      return;
    case Activation::kRelu:
      v = v.max(T(0));
      return;
    case Activation::kLinear:
      return;
    case Activation::kElu:
      each(x, n, [](T u) { return u > 0 ? u : std::expm1(u); });
      return;
    case Activation::kSelu:
      each(x, n, [](T u) {
        const T alpha = T(1.6732632423543772848170429916717);
        const T scale = T(1.0507009873554804934193349852946);
        return scale * (u > 0 ? u : alpha * std::expm1(u));
      });
      return;
    case Activation::kSoftplus:
      each(x, n, [](T u) { return softplus(u); });
      return;
    case Activation::kSoftsign:
      each(x, n, [](T u) { return u / (T(1) + std::abs(u)); });
      return;
    case Activation::kSilu:
      each(x, n, [](T u) { return u / (T(1) + std::exp(-u)); });
      return;
    case Activation::kGelu:
      each(x, n, [](T u) {
        return T(0.5) * u * (T(1) + std::erf(u / std::sqrt(T(2))));
      });
      return;
    case Activation::kExponential:
      v = v.exp();
      return;
    case Activation::kRelu6:
      v = v.max(T(0)).min(T(6));
      return;
    case Activation::kHardSilu:
      each(x, n, [](T u) { return u * relu6(u + T(3)) / T(6); });
      return;
    case Activation::kMish:
      each(x, n, [](T u) { return u * std::tanh(softplus(u)); });
      return;
    case Activation::kLogSigmoid:
      each(x, n, [](T u) { return -softplus(-u); });
      return;
  }
  throw Error("unknown activation code " + std::to_string(static_cast<int>(a)));
}

template <typename T>
void activation_derivative(Activation a, const T* x, const T* y, T* d, long n) {
  using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
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

template void activate<float>(Activation, float*, long);
template void activate<double>(Activation, double*, long);
template void activation_derivative<float>(Activation, const float*, const float*, float*,
                                           long);
template void activation_derivative<double>(Activation, const double*, const double*,
                                            double*, long);

}  // namespace gru
