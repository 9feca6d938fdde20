// Activations on the GPU: memory-bound, so each thread moves 16 bytes per access (float4 /
// double2) when the pointers allow, in a grid-stride loop sized to fill the device once.
#include "activations.h"
#include "check.h"

namespace metalnet::cuda {
namespace {

template <class T> struct Vec;
template <> struct Vec<float> { using type = float4; static constexpr int width = 4; };
template <> struct Vec<double> { using type = double2; static constexpr int width = 2; };

template <class T>
__device__ __forceinline__ T fwd(Act act, T x, T slope) {
  switch (act) {
    case Act::relu: return x < T(0) ? T(0) : x;
    case Act::leaky_relu: return x < T(0) ? slope * x : x;
    case Act::sigmoid: {  // from e = exp(-|x|) <= 1: no overflow for any x
      const T e = exp(-fabs(x));
      const T s = T(1) / (T(1) + e);
      return x < T(0) ? e * s : s;
    }
    default: return tanh(x);
  }
}

template <class T>
__device__ __forceinline__ T bwd(Act act, T dy, T s, T slope) {
  switch (act) {
    case Act::relu: return s > T(0) ? dy : T(0);
    case Act::leaky_relu: return s > T(0) ? dy : slope * dy;
    case Act::sigmoid: return dy * s * (T(1) - s);
    default: return dy * (T(1) - s * s);
  }
}

template <class T, bool Backward>
struct Apply {
  Act act;
  T slope;
  __device__ __forceinline__ T operator()(T u, T v) const {
    return Backward ? bwd(act, u, v, slope) : fwd(act, u, slope);
  }
};

// Lanes of a 16-byte vector, applied one by one (the compiler keeps them in registers).
template <class V, class F>
__device__ __forceinline__ V lanes(const V& a, const V& b, F f) {
  V r;
  const auto* pa = reinterpret_cast<const decltype(r.x)*>(&a);
  const auto* pb = reinterpret_cast<const decltype(r.x)*>(&b);
  auto* pr = reinterpret_cast<decltype(r.x)*>(&r);
#pragma unroll
  for (int i = 0; i < int(sizeof(V) / sizeof(r.x)); ++i) pr[i] = f(pa[i], pb[i]);
  return r;
}

// One kernel for forward (b == nullptr) and backward: out[i] = f(a[i], b[i]).
template <class T, bool Backward>
__global__ void activation_kernel(Act act, const T* __restrict__ a, const T* __restrict__ b,
                                  T* __restrict__ out, int64_t n, T slope, bool vectorised) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::width;
  const Apply<T, Backward> f{act, slope};
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t start = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t tail = 0;
  if (vectorised) {
    const int64_t nv = n / W;
    const V* av = reinterpret_cast<const V*>(a);
    const V* bv = reinterpret_cast<const V*>(Backward ? b : a);
    V* ov = reinterpret_cast<V*>(out);
    for (int64_t i = start; i < nv; i += stride) ov[i] = lanes(av[i], bv[i], f);
    tail = nv * W;
  }
  for (int64_t i = tail + start; i < n; i += stride) out[i] = f(a[i], Backward ? b[i] : a[i]);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }


const char* kernel_name(Act act, bool backward) {
  static const char* names[2][4] = {
      {"relu_forward", "leaky_relu_forward", "sigmoid_forward", "tanh_forward"},
      {"relu_backward", "leaky_relu_backward", "sigmoid_backward", "tanh_backward"}};
  return names[backward][int(act)];
}

template <class T, bool Backward>
void launch(Act act, const T* a, const T* b, T* out, int64_t n, T slope, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int block = 256;
  const bool vec = aligned16(a) && aligned16(out) && (!Backward || aligned16(b));
  const int grid = grid_for(vec ? n / Vec<T>::width + 1 : n, block, 8);
  activation_kernel<T, Backward><<<grid, block, 0, stream>>>(act, a, b, out, n, slope, vec);
  check_launch(kernel_name(act, Backward), stream);
}

}  // namespace

template <class T>
void activation_forward(Act act, const T* x, T* y, int64_t n, T slope, cudaStream_t stream) {
  launch<T, false>(act, x, nullptr, y, n, slope, stream);
}

template <class T>
void activation_backward(Act act, const T* dy, const T* saved, T* dx, int64_t n, T slope,
                         cudaStream_t stream) {
  launch<T, true>(act, dy, saved, dx, n, slope, stream);
}

template void activation_forward<float>(Act, const float*, float*, int64_t, float, cudaStream_t);
template void activation_forward<double>(Act, const double*, double*, int64_t, double, cudaStream_t);
template void activation_backward<float>(Act, const float*, const float*, float*, int64_t, float,
                                         cudaStream_t);
template void activation_backward<double>(Act, const double*, const double*, double*, int64_t,
                                          double, cudaStream_t);

}  // namespace metalnet::cuda
