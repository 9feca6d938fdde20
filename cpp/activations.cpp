// Activations: one pass over memory each, vectorised for the active ISA, threaded when large.
#include "metalnet/activations.h"

#include "metalnet/elementwise.h"
#include "metalnet/vmath.h"

namespace metalnet {
namespace {

// `x < 0 ? 0 : x` rather than max(x, 0): NaN propagates, as in the reference.
struct Relu {
  template <class T> METALNET_INLINE T operator()(T x) const { return x < T(0) ? T(0) : x; }
};
struct ReluGrad {  // (dy, x)
  template <class T> METALNET_INLINE T operator()(T dy, T x) const { return x > T(0) ? dy : T(0); }
};
template <class T> struct LeakyRelu {
  T slope;
  METALNET_INLINE T operator()(T x) const { return x < T(0) ? slope * x : x; }
};
template <class T> struct LeakyReluGrad {  // (dy, x)
  T slope;
  METALNET_INLINE T operator()(T dy, T x) const { return x > T(0) ? dy : slope * dy; }
};
struct Sigmoid {
  template <class T> METALNET_INLINE T operator()(T x) const { return vsigmoid(x); }
};
struct SigmoidGrad {  // (dy, y): sigma' = y (1 - y)
  template <class T> METALNET_INLINE T operator()(T dy, T y) const { return dy * y * (T(1) - y); }
};
struct Tanh {
  template <class T> METALNET_INLINE T operator()(T x) const { return vtanh(x); }
};
struct TanhGrad {  // (dy, y): tanh' = 1 - y^2
  template <class T> METALNET_INLINE T operator()(T dy, T y) const { return dy * (T(1) - y * y); }
};

}  // namespace

template <class T> void relu_forward(const T* x, T* y, int64_t n) { map(Relu{}, x, y, n); }
template <class T> void relu_backward(const T* dy, const T* x, T* dx, int64_t n) {
  zip(ReluGrad{}, dy, x, dx, n);
}
template <class T> void leaky_relu_forward(const T* x, T* y, int64_t n, T slope) {
  map(LeakyRelu<T>{slope}, x, y, n);
}
template <class T> void leaky_relu_backward(const T* dy, const T* x, T* dx, int64_t n, T slope) {
  zip(LeakyReluGrad<T>{slope}, dy, x, dx, n);
}
template <class T> void sigmoid_forward(const T* x, T* y, int64_t n) { map(Sigmoid{}, x, y, n); }
template <class T> void sigmoid_backward(const T* dy, const T* y, T* dx, int64_t n) {
  zip(SigmoidGrad{}, dy, y, dx, n);
}
template <class T> void tanh_forward(const T* x, T* y, int64_t n) { map(Tanh{}, x, y, n); }
template <class T> void tanh_backward(const T* dy, const T* y, T* dx, int64_t n) {
  zip(TanhGrad{}, dy, y, dx, n);
}

#define METALNET_INSTANTIATE(T)                                                   \
  template void relu_forward<T>(const T*, T*, int64_t);                           \
  template void relu_backward<T>(const T*, const T*, T*, int64_t);                \
  template void leaky_relu_forward<T>(const T*, T*, int64_t, T);                  \
  template void leaky_relu_backward<T>(const T*, const T*, T*, int64_t, T);       \
  template void sigmoid_forward<T>(const T*, T*, int64_t);                        \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);             \
  template void tanh_forward<T>(const T*, T*, int64_t);                           \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);
METALNET_INSTANTIATE(float)
METALNET_INSTANTIATE(double)
#undef METALNET_INSTANTIATE

}  // namespace metalnet
