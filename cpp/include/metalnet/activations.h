// Activation kernels: y = f(x) forward, dx = dy * f'(.) backward.
// relu/leaky_relu backward take the input x; sigmoid/tanh backward take the output y.
#pragma once

#include <cstdint>

namespace metalnet {

template <class T> void relu_forward(const T* x, T* y, int64_t n);
template <class T> void relu_backward(const T* dy, const T* x, T* dx, int64_t n);
template <class T> void leaky_relu_forward(const T* x, T* y, int64_t n, T slope);
template <class T> void leaky_relu_backward(const T* dy, const T* x, T* dx, int64_t n, T slope);
template <class T> void sigmoid_forward(const T* x, T* y, int64_t n);
template <class T> void sigmoid_backward(const T* dy, const T* y, T* dx, int64_t n);
template <class T> void tanh_forward(const T* x, T* y, int64_t n);
template <class T> void tanh_backward(const T* dy, const T* y, T* dx, int64_t n);

}  // namespace metalnet
