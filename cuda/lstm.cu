// LSTM on the GPU: the GEMMs on metalnet's CUDA GEMM, each step's gate math in one kernel
// (lstm.h describes the data flow). The gate kernels take one thread per (row, unit) of the
// (N, H) state: it reads its four pre-activations (one per gate block of the row), writes its
// four activated gates, c and h; consecutive threads take consecutive units, so every access is
// coalesced. The backward kernel may read and write the same carried dc buffer (the element a
// thread reads is the one it writes), so those pointers are not declared __restrict__.
#include <climits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "check.h"
#include "gemm.h"
#include "lstm.h"

namespace metalnet::cuda {
namespace {

constexpr int kBlock = 256;


template <class T>
__device__ __forceinline__ T sigmoid(T x) {  // from e = exp(-|x|) <= 1: no overflow for any x
  const T e = exp(-fabs(x));
  const T s = T(1) / (T(1) + e);
  return x < T(0) ? e * s : s;
}

// gates = act(xw + hw + b), c_next = f * c + i * g, h_next = o * tanh(c_next).
template <class T>
__global__ void lstm_gates_forward_kernel(const T* __restrict__ xw, const T* __restrict__ hw,
                                          const T* __restrict__ b, const T* __restrict__ c,
                                          T* __restrict__ gates, T* __restrict__ c_next,
                                          T* __restrict__ h_next, int64_t rows, int64_t hidden) {
  const int64_t total = rows * hidden;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = e / hidden, j = e - row * hidden;
    const int64_t base = row * 4 * hidden + j;
    T pre[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int64_t at = base + q * hidden;
      pre[q] = __ldg(xw + at) + __ldg(hw + at) + (b ? __ldg(b + j + q * hidden) : T(0));
    }
    const T i = sigmoid(pre[0]), f = sigmoid(pre[1]), g = tanh(pre[2]), o = sigmoid(pre[3]);
    const T cn = f * __ldg(c + e) + i * g;
    gates[base] = i;
    gates[base + hidden] = f;
    gates[base + 2 * hidden] = g;
    gates[base + 3 * hidden] = o;
    c_next[e] = cn;
    h_next[e] = o * tanh(cn);
  }
}

// One step back. dh = dh_a + dh_b (either may be null), dc_in may be null (zero):
//   t = tanh(c_next), dct = dc_in + dh * o * (1 - t^2)
//   da_i = dct * g * i (1 - i), da_f = dct * c * f (1 - f), da_g = dct * i (1 - g^2),
//   da_o = dh * t * o (1 - o);  dc_out = dct * f.
template <class T>
__global__ void lstm_gates_backward_kernel(const T* dh_a, const T* dh_b, const T* dc_in,
                                           const T* __restrict__ gates, const T* __restrict__ c,
                                           const T* __restrict__ c_next,
                                           T* __restrict__ dgates, T* dc_out, int64_t rows,
                                           int64_t hidden) {
  const int64_t total = rows * hidden;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = e / hidden, j = e - row * hidden;
    const int64_t base = row * 4 * hidden + j;
    const T i = __ldg(gates + base), f = __ldg(gates + base + hidden);
    const T g = __ldg(gates + base + 2 * hidden), o = __ldg(gates + base + 3 * hidden);
    const T dh = (dh_a ? dh_a[e] : T(0)) + (dh_b ? dh_b[e] : T(0));
    const T t = tanh(__ldg(c_next + e));
    const T dct = (dc_in ? dc_in[e] : T(0)) + dh * o * (T(1) - t * t);
    dgates[base] = dct * g * i * (T(1) - i);
    dgates[base + hidden] = dct * __ldg(c + e) * f * (T(1) - f);
    dgates[base + 2 * hidden] = dct * i * (T(1) - g * g);
    dgates[base + 3 * hidden] = dh * t * o * (T(1) - o);
    dc_out[e] = dct * f;
  }
}

// out[j] = sum over rows of a[row, j]; blocks of 32 columns x 8 row lanes, float32 summed in
// float64; deterministic (no atomics).
template <class T>
__global__ void __launch_bounds__(256)
column_sum_kernel(const T* __restrict__ a, T* __restrict__ out, int64_t rows, int64_t cols) {
  __shared__ double partial[8][33];
  const int64_t col = int64_t(blockIdx.x) * 32 + threadIdx.x;
  double acc = 0.0;
  if (col < cols)
    for (int64_t r = threadIdx.y; r < rows; r += 8) acc += double(__ldg(a + r * cols + col));
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    double sum = 0.0;
#pragma unroll
    for (int y = 0; y < 8; ++y) sum += partial[y][threadIdx.x];
    out[col] = T(sum);
  }
}

void check_shape(const LstmShape& s) {
  if (s.steps < 0 || s.batch < 0 || s.input < 0 || s.hidden < 0)
    throw std::invalid_argument("lstm: negative size");
  if (s.steps < 1) throw std::invalid_argument("lstm: needs at least one step");
  if (s.steps * s.batch > INT_MAX || 4 * s.hidden > INT_MAX)
    throw std::invalid_argument("lstm: T*N and 4H must be below 2^31");
}

}  // namespace

template <class T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh, const T* b,
                  T* hs, T* cs, T* gates, T* xw, T* hw, const LstmShape& s, cudaStream_t stream) {
  check_shape(s);
  const int64_t n = s.batch, hd = s.hidden, g4 = 4 * hd;
  if (n == 0 || hd == 0) return;
  // Input projection of every step at once.
  gemm<T>(x, w_ih, nullptr, xw, s.steps * n, g4, s.input, T(1), T(0), false, true, stream);
  const int grid = grid_for(n * hd, kBlock);
  for (int64_t t = 0; t < s.steps; ++t) {
    const T* h_prev = t ? hs + (t - 1) * n * hd : h0;
    const T* c_prev = t ? cs + (t - 1) * n * hd : c0;
    gemm<T>(h_prev, w_hh, nullptr, hw, n, g4, hd, T(1), T(0), false, true, stream);
    lstm_gates_forward_kernel<T><<<grid, kBlock, 0, stream>>>(
        xw + t * n * g4, hw, b, c_prev, gates + t * n * g4, cs + t * n * hd, hs + t * n * hd, n,
        hd);
    check_launch("lstm_gates_forward", stream);
  }
}

template <class T>
void lstm_backward(const T* dhs, const T* dh_last, const T* dc_last, const T* x, const T* h0,
                   const T* c0, const T* w_ih, const T* w_hh, const T* hs, const T* cs,
                   const T* gates, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db, T* dgates,
                   T* h_prev, T* dh_carry, T* dc_carry, const LstmShape& s, cudaStream_t stream) {
  check_shape(s);
  const int64_t steps = s.steps, n = s.batch, in = s.input, hd = s.hidden, g4 = 4 * hd;
  const int64_t rows = steps * n;
  if (hd == 0) {  // nothing flows; dx is zero
    if (rows * in > 0)
      check(cudaMemsetAsync(dx, 0, size_t(rows * in) * sizeof(T), stream), "lstm_backward");
    return;
  }
  if (n > 0) {
    const int grid = grid_for(n * hd, kBlock);
    for (int64_t t = steps - 1; t >= 0; --t) {
      const bool last = t == steps - 1;
      const T* c_prev = t ? cs + (t - 1) * n * hd : c0;
      T* dc_out = t ? dc_carry : dc0;
      lstm_gates_backward_kernel<T><<<grid, kBlock, 0, stream>>>(
          dhs ? dhs + t * n * hd : nullptr, last ? dh_last : dh_carry, last ? dc_last : dc_carry,
          gates + t * n * g4, c_prev, cs + t * n * hd, dgates + t * n * g4, dc_out, n, hd);
      check_launch("lstm_gates_backward", stream);
      // dh carried to step t - 1 (dh0 after the first step).
      gemm<T>(dgates + t * n * g4, w_hh, nullptr, t ? dh_carry : dh0, n, hd, g4, T(1), T(0),
              false, false, stream);
    }
  }
  // Everything else over all steps at once.
  gemm<T>(dgates, w_ih, nullptr, dx, rows, in, g4, T(1), T(0), false, false, stream);
  gemm<T>(dgates, x, nullptr, dw_ih, g4, in, rows, T(1), T(0), true, false, stream);
  const T* prev = h0;
  if (steps > 1 && n > 0) {
    const size_t state = size_t(n * hd) * sizeof(T);
    check(cudaMemcpyAsync(h_prev, h0, state, cudaMemcpyDeviceToDevice, stream),
          "lstm_backward (h_prev)");
    check(cudaMemcpyAsync(h_prev + n * hd, hs, state * size_t(steps - 1),
                          cudaMemcpyDeviceToDevice, stream),
          "lstm_backward (h_prev)");
    prev = h_prev;
  }
  gemm<T>(dgates, prev, nullptr, dw_hh, g4, hd, rows, T(1), T(0), true, false, stream);
  if (db) {
    const dim3 block(32, 8), grid(unsigned((g4 + 31) / 32));
    column_sum_kernel<T><<<grid, block, 0, stream>>>(dgates, db, rows, g4);
    check_launch("lstm_bias_grad", stream);
  }
}

#define METALNET_LSTM_INSTANTIATE(T)                                                           \
  template void lstm_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, \
                                T*, T*, T*, T*, const LstmShape&, cudaStream_t);               \
  template void lstm_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,    \
                                 const T*, const T*, const T*, const T*, const T*, T*, T*, T*,  \
                                 T*, T*, T*, T*, T*, T*, T*, const LstmShape&, cudaStream_t);
METALNET_LSTM_INSTANTIATE(float)
METALNET_LSTM_INSTANTIATE(double)
#undef METALNET_LSTM_INSTANTIATE

}  // namespace metalnet::cuda
