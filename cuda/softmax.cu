// Softmax-family kernels: see softmax.h for the plan. Exponentials and logarithms are the
// accurate library functions (no fast-math intrinsics): results are held to 1e-5 (float32).
#include <cmath>
#include <stdexcept>
#include <string>

#include "check.h"
#include "softmax.h"

namespace metalnet::cuda {
namespace {

enum class Mode { softmax, log_softmax, cross_entropy };

template <class T> struct Vec;
template <> struct Vec<float> { using type = float4; static constexpr int width = 4; };
template <> struct Vec<double> { using type = double2; static constexpr int width = 2; };

template <class T>
__device__ __forceinline__ T neg_inf() { return -INFINITY; }

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Writes one output element of the row (y for softmax/log_softmax, dlogits for the loss).
template <class T, Mode M>
__device__ __forceinline__ T finish(T z, T e, T inv_sum, T log_sum, bool is_label, T inv_n) {
  if (M == Mode::softmax) return e * inv_sum;
  if (M == Mode::log_softmax) return z - log_sum;
  return (e * inv_sum - (is_label ? T(1) : T(0))) * inv_n;
}

// One warp per row; lane l holds the W-wide chunks l, l + 32, ... of the row: VPT values.
template <class T, int VPT, int W, Mode M>
__global__ void softmax_warp_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                    int cols, const int64_t* __restrict__ labels,
                                    double* __restrict__ row_loss) {
  static_assert(VPT % W == 0, "a lane holds whole chunks");
  constexpr int CHUNKS = VPT / W;
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;  // a whole warp leaves together: the shuffles stay full-warp
  const T* xr = x + row * cols;
  T* yr = y + row * cols;

  T v[VPT];
#pragma unroll
  for (int c = 0; c < CHUNKS; ++c) {
    const int col = (lane + c * 32) * W;
    if (W > 1) {
      using V = typename Vec<T>::type;
      if (col < cols) {  // cols is a multiple of W here: the chunk is all in or all out
        const V chunk = __ldg(reinterpret_cast<const V*>(xr + col));
        const T* p = reinterpret_cast<const T*>(&chunk);
#pragma unroll
        for (int j = 0; j < W; ++j) v[c * W + j] = p[j];
      } else {
#pragma unroll
        for (int j = 0; j < W; ++j) v[c * W + j] = neg_inf<T>();
      }
    } else {
      v[c] = col < cols ? __ldg(xr + col) : neg_inf<T>();
    }
  }
  T m = neg_inf<T>();
#pragma unroll
  for (int i = 0; i < VPT; ++i) m = v[i] > m ? v[i] : m;
  m = warp_max(m);
  T s = T(0);
  T e[VPT];
#pragma unroll
  for (int i = 0; i < VPT; ++i) {
    v[i] -= m;                                   // z = x - max (-inf for the padding lanes)
    e[i] = M == Mode::log_softmax ? T(0) : exp(v[i]);
    s += M == Mode::log_softmax ? exp(v[i]) : e[i];
  }
  s = warp_sum(s);
  const T inv_sum = T(1) / s, log_sum = log(s);
  int64_t label = -1;
  T inv_n = T(1);
  if (M == Mode::cross_entropy) {
    label = __ldg(labels + row);
    inv_n = T(1) / T(rows);
    if (lane == 0) row_loss[row] = double(log_sum) - double(__ldg(xr + label) - m);
  }
#pragma unroll
  for (int c = 0; c < CHUNKS; ++c) {
    const int col = (lane + c * 32) * W;
    if (col >= cols) continue;
    if (W > 1) {
      using V = typename Vec<T>::type;
      V chunk;
      T* p = reinterpret_cast<T*>(&chunk);
#pragma unroll
      for (int j = 0; j < W; ++j)
        p[j] = finish<T, M>(v[c * W + j], e[c * W + j], inv_sum, log_sum, col + j == label,
                            inv_n);
      *reinterpret_cast<V*>(yr + col) = chunk;
    } else {
      yr[col] = finish<T, M>(v[c], e[c], inv_sum, log_sum, col == label, inv_n);
    }
  }
}

// (max, sum of exp(x - max)) pairs combine associatively.
template <class T>
__device__ __forceinline__ void combine(T& m, T& s, T m2, T s2) {
  const T mm = m > m2 ? m : m2;
  if (mm == neg_inf<T>()) return;  // both empty
  s = (m == neg_inf<T>() ? T(0) : s * exp(m - mm)) + (m2 == neg_inf<T>() ? T(0) : s2 * exp(m2 - mm));
  m = mm;
}

// One block per row (any length): pass 1 (online max and sum), block reduction, pass 2.
template <class T, Mode M>
__global__ void softmax_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                     int cols, const int64_t* __restrict__ labels,
                                     double* __restrict__ row_loss) {
  __shared__ T sm[32], ss[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  T m = neg_inf<T>(), s = T(0);
  for (int col = threadIdx.x; col < cols; col += blockDim.x) {
    const T v = __ldg(xr + col);
    if (v > m) {
      s = (m == neg_inf<T>() ? T(0) : s * exp(m - v)) + T(1);
      m = v;
    } else if (v != neg_inf<T>()) {  // -inf adds nothing (and -inf - -inf would be NaN)
      s += exp(v - m);
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const T m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    combine(m, s, m2, s2);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, warps = blockDim.x / 32;
  if (lane == 0) sm[warp] = m, ss[warp] = s;
  __syncthreads();
  if (warp == 0) {
    m = lane < warps ? sm[lane] : neg_inf<T>();
    s = lane < warps ? ss[lane] : T(0);
    for (int o = 16; o > 0; o >>= 1) {
      const T m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
      combine(m, s, m2, s2);
    }
    if (lane == 0) sm[0] = m, ss[0] = s;
  }
  __syncthreads();
  m = sm[0];
  s = ss[0];
  const T inv_sum = T(1) / s, log_sum = log(s);
  int64_t label = -1;
  T inv_n = T(1);
  if (M == Mode::cross_entropy) {
    label = __ldg(labels + row);
    inv_n = T(1) / T(rows);
    if (threadIdx.x == 0) row_loss[row] = double(log_sum) - double(__ldg(xr + label) - m);
  }
  for (int col = threadIdx.x; col < cols; col += blockDim.x) {
    const T z = __ldg(xr + col) - m;
    const T e = M == Mode::log_softmax ? T(0) : exp(z);
    yr[col] = finish<T, M>(z, e, inv_sum, log_sum, col == label, inv_n);
  }
}

// loss[0] = sum(row_loss) / rows, one block, fixed order.
template <class T>
__global__ void mean_kernel(const double* __restrict__ row_loss, int64_t rows, T* loss) {
  __shared__ double part[32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) s += row_loss[i];
  s = warp_sum(s);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  if (lane == 0) part[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < int(blockDim.x / 32) ? part[lane] : 0.0;
    s = warp_sum(s);
    if (lane == 0) loss[0] = T(s / double(rows));
  }
}

const char* kernel_name(Mode mode) {
  switch (mode) {
    case Mode::softmax: return "softmax";
    case Mode::log_softmax: return "log_softmax";
    default: return "softmax_cross_entropy";
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

constexpr int kWarpRowsPerBlock = 4;  // 128 threads
constexpr int kMaxWarpCols = 1024;

template <class T, int VPT, Mode M>
void launch_warp(const T* x, T* y, int64_t rows, int cols, const int64_t* labels,
                 double* row_loss, bool vec, cudaStream_t stream) {
  const int64_t blocks = (rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock;
  constexpr int W = Vec<T>::width;
  if constexpr (VPT % W == 0) {
    if (vec) {
      softmax_warp_kernel<T, VPT, W, M><<<unsigned(blocks), 32 * kWarpRowsPerBlock, 0, stream>>>(
          x, y, rows, cols, labels, row_loss);
      return;
    }
  }
  softmax_warp_kernel<T, VPT, 1, M><<<unsigned(blocks), 32 * kWarpRowsPerBlock, 0, stream>>>(
      x, y, rows, cols, labels, row_loss);
}

template <class T, Mode M>
void launch(const T* x, T* y, int64_t rows, int64_t cols, const int64_t* labels,
            double* row_loss, cudaStream_t stream) {
  const char* name = kernel_name(M);
  if (cols > INT32_MAX || rows > INT32_MAX)
    throw std::invalid_argument(std::string(name) + ": rows and columns must be below 2^31");
  if (rows == 0 || cols == 0) return;
  const int c = int(cols);
  if (c <= kMaxWarpCols) {
    const bool vec = c % Vec<T>::width == 0 && aligned16(x) && aligned16(y);
    if (c <= 32) launch_warp<T, 1, M>(x, y, rows, c, labels, row_loss, vec, stream);
    else if (c <= 64) launch_warp<T, 2, M>(x, y, rows, c, labels, row_loss, vec, stream);
    else if (c <= 128) launch_warp<T, 4, M>(x, y, rows, c, labels, row_loss, vec, stream);
    else if (c <= 256) launch_warp<T, 8, M>(x, y, rows, c, labels, row_loss, vec, stream);
    else if (c <= 512) launch_warp<T, 16, M>(x, y, rows, c, labels, row_loss, vec, stream);
    else launch_warp<T, 32, M>(x, y, rows, c, labels, row_loss, vec, stream);
  } else {
    softmax_block_kernel<T, M><<<unsigned(rows), 512, 0, stream>>>(x, y, rows, c, labels,
                                                                    row_loss);
  }
  check_launch(name, stream);
}

}  // namespace

template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream) {
  if (log) launch<T, Mode::log_softmax>(x, y, rows, cols, nullptr, nullptr, stream);
  else launch<T, Mode::softmax>(x, y, rows, cols, nullptr, nullptr, stream);
}

template <class T>
void softmax_cross_entropy(const T* logits, const int64_t* labels, T* dlogits, double* row_loss,
                           T* loss, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows < 1 || cols < 1)
    throw std::invalid_argument("softmax_cross_entropy: needs at least one row and one column");
  launch<T, Mode::cross_entropy>(logits, dlogits, rows, cols, labels, row_loss, stream);
  mean_kernel<T><<<1, 1024, 0, stream>>>(row_loss, rows, loss);
  check_launch("softmax_cross_entropy_mean", stream);
}

template void softmax_rows<float>(const float*, float*, int64_t, int64_t, bool, cudaStream_t);
template void softmax_rows<double>(const double*, double*, int64_t, int64_t, bool, cudaStream_t);
template void softmax_cross_entropy<float>(const float*, const int64_t*, float*, double*, float*,
                                           int64_t, int64_t, cudaStream_t);
template void softmax_cross_entropy<double>(const double*, const int64_t*, double*, double*,
                                            double*, int64_t, int64_t, cudaStream_t);

}  // namespace metalnet::cuda
