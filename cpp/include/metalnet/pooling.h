// Max and average pooling over NCHW planes. Geometry arrives normalised:
// kernel (kh, kw), stride (sh, sw), padding (top, bottom, left, right); every window holds at
// least one real cell (ops checks padding <= kernel/2). argmax is the flat h*W + w index into
// the unpadded input plane; ties go to the first cell in row-major window order.
#pragma once

#include <cstdint>

namespace metalnet {

struct PoolGeometry {
  int64_t planes, h, w, ho, wo;  // planes = N*C
  int64_t kh, kw, sh, sw, pt, pl;
};

template <class T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int64_t* argmax);
template <class T>
void max_pool2d_backward(const PoolGeometry& g, const T* dy, const int64_t* argmax, T* dx);
template <class T>
void avg_pool2d_forward(const PoolGeometry& g, bool count_include_pad, const T* x, T* y);
template <class T>
void avg_pool2d_backward(const PoolGeometry& g, bool count_include_pad, const T* dy, T* dx);

}  // namespace metalnet
