// Optimizer updates (see optim.h): element-wise, split between threads in large chunks.
#include "metalnet/optim.h"

#include "metalnet/parallel.h"

namespace metalnet {

template <class T>
void sgd_update(int64_t n, T* param, const T* grad, T* buf, T lr, T momentum, T dampening,
                T weight_decay, bool nesterov, bool first) {
  const T keep = T(1) - dampening;
  parallel_for(n, int64_t(1) << 15, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      T g = grad[i] + weight_decay * param[i];
      if (buf) {
        const T b = first ? g : momentum * buf[i] + keep * g;
        buf[i] = b;
        g = nesterov ? g + momentum * b : b;
      }
      param[i] -= lr * g;
    }
  });
}

template void sgd_update<float>(int64_t, float*, const float*, float*, float, float, float, float,
                                bool, bool);
template void sgd_update<double>(int64_t, double*, const double*, double*, double, double,
                                 double, double, bool, bool);

}  // namespace metalnet
