// Bias over the channel axis of an (N, C, inner) array on the GPU: y = x + b[c]. The gradient
// db is conv2d_backward_bias (cuda/conv2d.h), the same reduction.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace metalnet::cuda {

template <class T>
void bias_add(const T* x, const T* b, T* y, int64_t n, int64_t c, int64_t inner,
              cudaStream_t stream);

}  // namespace metalnet::cuda
