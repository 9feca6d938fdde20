// CUDA activation kernels. Pointers are device pointers; `stream` is the caller's
// (CuPy's current) stream. relu/leaky backward take the input x, sigmoid/tanh the output y.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace metalnet::cuda {

enum class Act { relu, leaky_relu, sigmoid, tanh };

template <class T>
void activation_forward(Act act, const T* x, T* y, int64_t n, T slope, cudaStream_t stream);
template <class T>
void activation_backward(Act act, const T* dy, const T* saved, T* dx, int64_t n, T slope,
                         cudaStream_t stream);

}  // namespace metalnet::cuda
