// Optimizer updates in one pass over a parameter, for the cpu backend's fused functions.
#pragma once

#include <cstdint>

namespace metalnet {

// SGD (PyTorch's rule), element by element, in place:
//   g = grad + weight_decay * p
//   buf = g (first), else momentum * buf + (1 - dampening) * g       (when momentum != 0)
//   g = g + momentum * buf (nesterov), else buf                      (when momentum != 0)
//   p = p - lr * g
// buf may be null when momentum == 0. One read of p, grad and buf and one write of p and buf,
// where NumPy's composition makes ten passes over arrays of the parameter's size.
template <class T>
void sgd_update(int64_t n, T* param, const T* grad, T* buf, T lr, T momentum, T dampening,
                T weight_decay, bool nesterov, bool first);

}  // namespace metalnet
