// 2-D convolution (cross-correlation), NCHW, weights (K, C, R, S), by im2col + GEMM on column
// blocks: per image, a block of output positions is unrolled into a (C*R*S) x cols matrix that
// fits in cache, and one GEMM with the (K, C*R*S) weights produces those outputs. The unrolled
// matrix never exceeds a few MiB, whatever the image size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace metalnet {

struct ConvGeometry {
  int64_t n, c, h, w;        // input
  int64_t k, r, s;           // weights
  int64_t ho, wo;            // output
  int64_t sh, sw, pt, pl;    // stride, top/left padding (bottom/right are implied by ho, wo)
  int64_t dh, dw;            // dilation
};

template <class T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
// The same by direct convolution (cpp/conv2d_direct.cpp): no unrolled matrix.
template <class T>
void conv2d_forward_direct(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
// The same by direct convolution vectorised across output positions (stride 1 only): for layers
// with few output channels (cpp/conv2d_direct.cpp).
template <class T>
void conv2d_forward_rows(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
// The same by sliding windows along output rows, vectors across output channels (stride 1
// along the row, 3- or 5-wide kernels, channels filling one vector: window_applies, given the
// element size): cpp/conv2d_window.cpp.
template <class T>
void conv2d_forward_window(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
bool window_applies(const ConvGeometry& g, size_t elem);
// The same vectorised across images, L at a time, the taps on padding skipped (stride and
// dilation 1 along rows, 3- or 5-wide kernels: images_applies): cpp/conv2d_images.cpp.
template <class T>
void conv2d_forward_images(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
bool images_applies(const ConvGeometry& g);
// The same as one GEMM per kernel tap over the outputs whose input under it is real (stride 1
// along rows: taps_applies): cpp/conv2d_taps.cpp. conv2d_dx_taps: dx alone, the same way.
template <class T>
void conv2d_forward_taps(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <class T>
void conv2d_dx_taps(const ConvGeometry& g, const T* dy, const T* w, T* dx);
// dW the same way: each tap's K x C block summed from the same runs of rows (dy^T @ x).
template <class T>
void conv2d_weight_grad_taps(const ConvGeometry& g, const T* dy, const T* x, T* dw);
bool taps_applies(const ConvGeometry& g);
// dW alone for the layers conv2d_forward_window serves: the same windows, dy across channels.
template <class T>
void conv2d_weight_grad_window(const ConvGeometry& g, const T* dy, const T* x, T* dw);
// dW alone for the layers conv2d_forward_rows serves (stride 1), without an unrolled matrix.
template <class T>
void conv2d_weight_grad_rows(const ConvGeometry& g, const T* dy, const T* x, T* dw);
// The same by Winograd F(tile x tile, 3x3), tile 2 or 4 (cpp/conv2d_winograd.cpp), for
// winograd_applies() layers.
template <class T>
void conv2d_forward_winograd(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                             int tile);
bool winograd_applies(const ConvGeometry& g);
// dW alone by Winograd (the transposed F(tile x tile, 3x3)), for winograd_applies() layers.
template <class T>
void conv2d_weight_grad_winograd(const ConvGeometry& g, const T* dy, const T* x, T* dw,
                                 int tile);

// The forward algorithms; `automatic` picks the fastest for the layer by a measured rule
// (choose_algorithm in conv2d.cpp). Asking for winograd where it does not apply throws.
// `winograd` is F(2x2, 3x3), `winograd4` F(4x4, 3x3).
// `col2im` is not a forward algorithm: dx computed from GEMM columns scattered back (below).
enum class ConvAlgorithm {
  automatic, im2col, direct, rows, window, images, taps, winograd, winograd4, col2im
};
// elem: the element size (the vector width in elements decides some choices).
ConvAlgorithm choose_algorithm(const ConvGeometry& g, size_t elem);
const char* algorithm_name(ConvAlgorithm algorithm);

// The decisions conv2d_backward makes, one place for it and for anyone asking (the explainer).
// dx: with stride 1, a convolution of dy (the layer with its kernel flipped and its channel axes
// swapped, returned in `transposed`) by the returned algorithm; or `col2im`.
ConvAlgorithm dx_algorithm(const ConvGeometry& g, size_t elem,
                           ConvGeometry* transposed = nullptr);
// dW: `rows` = shifted dot products, `window` = sliding windows across output channels,
// `winograd` / `winograd4` = the transposed Winograd F(2x2) / F(4x4), `im2col` = GEMM on
// unrolled blocks.
ConvAlgorithm dw_algorithm(const ConvGeometry& g, size_t elem);
template <class T>
void conv2d_forward_with(ConvAlgorithm algorithm, const ConvGeometry& g, const T* x, const T* w,
                         const T* b, T* y);
// dx, dw, db may each be null (not wanted). db is the bias gradient (K,).
template <class T>
void conv2d_backward(const ConvGeometry& g, const T* dy, const T* x, const T* w, T* dx, T* dw,
                     T* db);

}  // namespace metalnet
