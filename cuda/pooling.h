// CUDA max and average pooling, forward and backward, on NCHW planes.
//
// The geometry arrives normalised (metalnet.ops): `planes` = N * C planes of H x W input and
// Ho x Wo output, kernel (kh, kw), stride (sh, sw), padding top/left (bottom/right padding is
// implied by Ho, Wo). Padded cells are never read: a window covers the real cells
// [p*sh - top, p*sh - top + kh) x [q*sw - left, q*sw - left + kw) clipped to the plane.
//
// Max: argmax (int64) is the flat index h*W + w into the unpadded plane; ties go to the first
// cell in row-major window order; a NaN wins (the first NaN). Backward knows only the argmax (the
// primitive's signature carries no window geometry): it zeroes dx and scatters each dy into the
// cell its argmax names with an atomic add (in_plane = H*W, out_plane = Ho*Wo; argmax values
// must lie in [0, H*W), which metalnet.ops checks).
// Average: divisor kh*kw with count_include_pad, else the number of real cells in the window.
// Backward gathers dy / divisor over the windows covering each input cell.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace metalnet::cuda {

struct PoolGeometry {
  int64_t planes;
  int h, w, ho, wo, kh, kw, sh, sw, top, left;
};

template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* argmax, const PoolGeometry& g,
                        cudaStream_t stream);
template <class T>
void max_pool2d_backward(const T* dy, const int64_t* argmax, T* dx, int64_t planes,
                         int64_t in_plane, int64_t out_plane, cudaStream_t stream);
template <class T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g, bool count_include_pad,
                        cudaStream_t stream);
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g, bool count_include_pad,
                         cudaStream_t stream);

}  // namespace metalnet::cuda
