// Bias add: memory-bound, a grid-stride loop over all elements; the channel of element i is
// (i / inner) % c, computed once per element (the division is cheap next to the memory access).
#include "bias.h"
#include "check.h"

namespace metalnet::cuda {
namespace {

template <class T>
__global__ void bias_add_kernel(const T* __restrict__ x, const T* __restrict__ b,
                                T* __restrict__ y, int64_t total, int64_t c, int64_t inner) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    y[i] = x[i] + b[(i / inner) % c];
}

}  // namespace

template <class T>
void bias_add(const T* x, const T* b, T* y, int64_t n, int64_t c, int64_t inner,
              cudaStream_t stream) {
  const int64_t total = n * c * inner;
  if (total == 0) return;
  constexpr int block = 256;
  bias_add_kernel<T><<<grid_for(total, block, 8), block, 0, stream>>>(x, b, y, total, c, inner > 0 ? inner : 1);
  check_launch("bias_add");
}

template void bias_add<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                              cudaStream_t);
template void bias_add<double>(const double*, const double*, double*, int64_t, int64_t, int64_t,
                               cudaStream_t);

}  // namespace metalnet::cuda
