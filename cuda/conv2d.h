// CUDA 2-D convolution (cross-correlation, NCHW), forward and both backward passes, by implicit
// GEMM: the im2col matrix is never formed in global memory; each block builds the tile of it
// that it multiplies in shared memory, straight from x (or dy).
//
//   forward          y  (K, N*Ho*Wo) = w (K, C*R*S)    @ im2col(x) (C*R*S, N*Ho*Wo)  [+ b, ReLU]
//   backward data    dx (C, N*H*W)   = w^T (C, K*R*S)  @ gather(dy) (K*R*S, N*H*W)
//   backward weight  dw (K, C*R*S)   = dy (K, N*Ho*Wo) @ im2col(x)^T (N*Ho*Wo, C*R*S)
//   backward bias    db (K)          = dy summed over N, Ho, Wo
//
// (the GEMM's column index n of y / dx is the flat (image, row, col) position, so y and dx are
// written straight into NCHW). The geometry arrives normalised (metalnet.ops): stride (sh, sw),
// dilation (dh, dw), padding top/left (bottom/right padding is implied by Ho, Wo). Padded cells
// read as zero and are never touched. Backward data gathers: dx[n, c, h, w] sums
// w[k, c, r, s] * dy[n, k, p, q] over the (k, r, s) whose window position
// (p*sh + r*dh - top, q*sw + s*dw - left) is (h, w).
//
// Backward weight splits the long N*Ho*Wo reduction over several blocks when the output is
// small; the partial sums are then added with atomics into a dw the launcher zeroes first (the
// order of those additions may vary from run to run, within rounding).
//
// Every index the kernels form is checked to fit: N*Ho*Wo, N*H*W, C*R*S and K*R*S below 2^31
// (the element offsets themselves are 64-bit).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace metalnet::cuda {

struct ConvGeometry {
  int n, c, h, w;   // input (N, C, H, W)
  int k, r, s;      // weights (K, C, R, S)
  int ho, wo;       // output (N, K, Ho, Wo)
  int sh, sw;       // stride
  int top, left;    // padding before each axis
  int dh, dw;       // dilation
};

// Each pass takes `config`: -1 picks the tile configuration from the problem's shape;
// 0..kConvConfigs-1 forces one (float32; float64 has one configuration), so the tests can run
// every configuration on shapes of their choosing.
constexpr int kConvConfigs = 3;
enum class ConvPass { forward = 0, backward_data = 1, backward_weight = 2 };

// y = conv(x, w) + b (b may be null), then max(y, 0) when relu.
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g, bool relu,
                    cudaStream_t stream, int config = -1);

template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvGeometry& g,
                          cudaStream_t stream, int config = -1);

template <class T>
void conv2d_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g,
                            cudaStream_t stream, int config = -1);

// db[k] = sum over (n, p, q) of dy[n, k, p, q]; dy is (images, channels, plane).
template <class T>
void conv2d_backward_bias(const T* dy, T* db, int64_t images, int64_t channels, int64_t plane,
                          cudaStream_t stream);

// The name of the kernel configuration a pass picks (config -1) or is forced to, e.g.
// "conv_fwd_128x128x8" or "conv_wgrad_64x64x8_f64_split12": for tests and benchmarks.
std::string conv2d_config(ConvPass pass, const ConvGeometry& g, bool is_double, int config = -1);

}  // namespace metalnet::cuda
