// Pooling on the GPU: one thread per output element (forwards, max backward) or per input element
// (average backward, gathering from the windows that cover it), grid-stride loops over all
// planes. Consecutive
// threads take consecutive elements of a plane, so reads and writes are coalesced; each thread
// reads its window through the read-only cache, where neighbouring windows share lines.
#include <stdexcept>
#include <string>

#include "check.h"
#include "pooling.h"

namespace metalnet::cuda {
namespace {

constexpr int kBlock = 256;


// Output rows p (or columns) whose window [p*s - pad, p*s - pad + k) covers input row i:
// [first, last], possibly empty (first > last).
__device__ __forceinline__ void covering(int i, int k, int s, int pad, int out, int& first,
                                         int& last) {
  const int lo = i + pad - k + 1;  // p*s >= lo
  first = lo <= 0 ? 0 : (lo + s - 1) / s;
  last = (i + pad) / s;  // p*s <= i + pad
  if (last > out - 1) last = out - 1;
}

template <class T>
__global__ void max_pool_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                        int64_t* __restrict__ argmax, PoolGeometry g) {
  const int64_t total = g.planes * g.ho * g.wo;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int q = int(idx % g.wo);
    const int p = int((idx / g.wo) % g.ho);
    const int64_t plane = idx / (int64_t(g.ho) * g.wo);
    const T* xp = x + plane * g.h * g.w;
    const int h0 = p * g.sh - g.top, w0 = q * g.sw - g.left;
    const int hs = max(h0, 0), he = min(h0 + g.kh, g.h);
    const int ws = max(w0, 0), we = min(w0 + g.kw, g.w);
    // Skipping the padded cells keeps the row-major order of the real ones.
    int best_at = hs * g.w + ws;
    T best = __ldg(xp + best_at);
    for (int i = hs; i < he; ++i) {
      for (int j = ws; j < we; ++j) {
        const T v = __ldg(xp + i * g.w + j);
        if (v > best || (v != v && best == best)) best = v, best_at = i * g.w + j;
      }
    }
    y[idx] = best;
    argmax[idx] = best_at;
  }
}

// dx was zeroed; each dy element adds itself to the cell its argmax names. Windows that do not
// overlap (stride >= kernel) never collide; overlapping ones may, hence the atomic add (the
// order of the additions then varies from run to run, within rounding).
template <class T>
__global__ void max_pool_backward_kernel(const T* __restrict__ dy,
                                         const int64_t* __restrict__ argmax, T* __restrict__ dx,
                                         int64_t planes, int64_t in_plane, int64_t out_plane) {
  const int64_t total = planes * out_plane;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = idx / out_plane;
    atomicAdd(dx + plane * in_plane + __ldg(argmax + idx), __ldg(dy + idx));
  }
}

__device__ __forceinline__ int real_cells(int p, int k, int s, int pad, int n) {
  const int a = p * s - pad;
  return min(a + k, n) - max(a, 0);
}

template <class T>
__global__ void avg_pool_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                        PoolGeometry g, bool include_pad) {
  const int64_t total = g.planes * g.ho * g.wo;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int q = int(idx % g.wo);
    const int p = int((idx / g.wo) % g.ho);
    const int64_t plane = idx / (int64_t(g.ho) * g.wo);
    const T* xp = x + plane * g.h * g.w;
    const int h0 = p * g.sh - g.top, w0 = q * g.sw - g.left;
    const int hs = max(h0, 0), he = min(h0 + g.kh, g.h);
    const int ws = max(w0, 0), we = min(w0 + g.kw, g.w);
    T sum = T(0);
    for (int i = hs; i < he; ++i)
      for (int j = ws; j < we; ++j) sum += __ldg(xp + i * g.w + j);
    const int divisor = include_pad ? g.kh * g.kw : (he - hs) * (we - ws);
    y[idx] = sum / T(divisor);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(const T* __restrict__ dy, T* __restrict__ dx,
                                         PoolGeometry g, bool include_pad) {
  const int64_t total = g.planes * g.h * g.w;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int col = int(idx % g.w);
    const int row = int((idx / g.w) % g.h);
    const int64_t plane = idx / (int64_t(g.h) * g.w);
    const T* dyp = dy + plane * g.ho * g.wo;
    int p0, p1, q0, q1;
    covering(row, g.kh, g.sh, g.top, g.ho, p0, p1);
    covering(col, g.kw, g.sw, g.left, g.wo, q0, q1);
    T sum = T(0);
    for (int p = p0; p <= p1; ++p) {
      const int rows = include_pad ? g.kh : real_cells(p, g.kh, g.sh, g.top, g.h);
      for (int q = q0; q <= q1; ++q) {
        const int cols = include_pad ? g.kw : real_cells(q, g.kw, g.sw, g.left, g.w);
        sum += __ldg(dyp + int64_t(p) * g.wo + q) / T(rows * cols);
      }
    }
    dx[idx] = sum;
  }
}

void check_geometry(const PoolGeometry& g, const char* kernel) {
  const bool ok = g.planes >= 0 && g.h >= 1 && g.w >= 1 && g.ho >= 1 && g.wo >= 1 && g.kh >= 1 &&
                  g.kw >= 1 && g.sh >= 1 && g.sw >= 1 && g.top >= 0 && g.left >= 0 &&
                  2 * g.top <= g.kh && 2 * g.left <= g.kw &&
                  int64_t(g.h) * g.w < (int64_t(1) << 31) &&
                  int64_t(g.ho) * g.wo < (int64_t(1) << 31);
  if (!ok) throw std::invalid_argument(std::string(kernel) + ": invalid pooling geometry");
}

}  // namespace

template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* argmax, const PoolGeometry& g,
                        cudaStream_t stream) {
  check_geometry(g, "max_pool2d_forward");
  const int64_t total = g.planes * g.ho * g.wo;
  if (total == 0) return;
  max_pool_forward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(x, y, argmax, g);
  check_launch("max_pool2d_forward", stream);
}

template <class T>
void max_pool2d_backward(const T* dy, const int64_t* argmax, T* dx, int64_t planes,
                         int64_t in_plane, int64_t out_plane, cudaStream_t stream) {
  if (planes < 0 || in_plane < 1 || out_plane < 0)
    throw std::invalid_argument("max_pool2d_backward: invalid plane sizes");
  if (planes * in_plane == 0) return;
  check(cudaMemsetAsync(dx, 0, size_t(planes * in_plane) * sizeof(T), stream),
        "max_pool2d_backward (zeroing dx)");
  const int64_t total = planes * out_plane;
  if (total == 0) return;
  max_pool_backward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(dy, argmax, dx, planes,
                                                                      in_plane, out_plane);
  check_launch("max_pool2d_backward", stream);
}

template <class T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g, bool count_include_pad,
                        cudaStream_t stream) {
  check_geometry(g, "avg_pool2d_forward");
  const int64_t total = g.planes * g.ho * g.wo;
  if (total == 0) return;
  avg_pool_forward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(x, y, g, count_include_pad);
  check_launch("avg_pool2d_forward", stream);
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g, bool count_include_pad,
                         cudaStream_t stream) {
  check_geometry(g, "avg_pool2d_backward");
  const int64_t total = g.planes * g.h * g.w;
  if (total == 0) return;
  avg_pool_backward_kernel<T><<<grid_for(total, kBlock), kBlock, 0, stream>>>(dy, dx, g,
                                                                      count_include_pad);
  check_launch("avg_pool2d_backward", stream);
}

#define METALNET_POOL_INSTANTIATE(T)                                                            \
  template void max_pool2d_forward<T>(const T*, T*, int64_t*, const PoolGeometry&, cudaStream_t); \
  template void max_pool2d_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, \
                                       cudaStream_t);                                            \
  template void avg_pool2d_forward<T>(const T*, T*, const PoolGeometry&, bool, cudaStream_t);    \
  template void avg_pool2d_backward<T>(const T*, T*, const PoolGeometry&, bool, cudaStream_t);
METALNET_POOL_INSTANTIATE(float)
METALNET_POOL_INSTANTIATE(double)
#undef METALNET_POOL_INSTANTIATE

}  // namespace metalnet::cuda
