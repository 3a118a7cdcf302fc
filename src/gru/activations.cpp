// Keras activations, elementwise and in place. tanh and sigmoid use Eigen's
// vectorized kernels (they sit on the hot path of every step); the rarer ones
// are plain loops over the std:: functions.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "gru.h"

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

template void activate<float>(Activation, float*, long);
template void activate<double>(Activation, double*, long);

}  // namespace gru
