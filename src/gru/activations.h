// Keras activations and their derivatives (src/gru/activations.cpp).
#ifndef GRU_ACTIVATIONS_H
#define GRU_ACTIVATIONS_H

#include "gru.h"

namespace gru {

// y = f(x) elementwise, in place.
template <typename T>
void activate(Activation a, T* x, long n);

// d = f'(x) elementwise, given the pre-activation x and y = f(x). At kinks it
// takes TensorFlow's choice (relu'(0) = 0, relu6 and hard_sigmoid use open
// intervals, the Keras 2 hard_sigmoid's clip a closed one).
template <typename T>
void activation_derivative(Activation a, const T* x, const T* y, T* d, long n);

}  // namespace gru

#endif  // GRU_ACTIVATIONS_H
