// The padded copy of a convolution's input that the direct kernels read (conv2d_direct.cpp,
// conv2d_window.cpp): every tap of every window in range, no bounds checks in the inner loops;
// and the per-thread scratch the convolution kernels reuse across calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "metalnet/conv2d.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {

// The calling thread's buffer number Which, kept across calls (megabytes of fresh pages cost
// more than reusing them). Which keeps apart buffers in use at the same time: 0-5 conv2d.cpp's
// im2col/col2im blocks, padded images, flipped weights and dW partials; 6-7 conv2d_taps.cpp's
// rows of the source and the destination.
template <class T, int Which>
inline T* conv_scratch(size_t count) {
  static thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

// The whole input padded once so every tap of every window is in range: plane (n, c) is hp x wp
// with x at (pt, pl) and zeros around, followed by slack_rows rows and slack more zeros for tiles
// that read past the last plane; taps[(c, r, s)] is the tap's offset in a padded image. The
// buffer is the calling thread's, kept across calls (megabytes of fresh pages cost more than
// filling them): one PaddedInput at a time per thread. Where there is nothing to pad and no
// slack is asked for, data is x itself.
template <class T>
struct PaddedInput {
  int64_t hp, wp, plane;
  const T* data;
  std::vector<int64_t> taps;
};

template <class T>
inline PaddedInput<T> pad_input(const ConvGeometry& g, const T* x, int64_t slack_rows, int64_t slack) {
  PaddedInput<T> p;
  p.hp = std::max(g.h + g.pt, (g.ho - 1) * g.sh + (g.r - 1) * g.dh + 1);
  p.wp = std::max(g.w + g.pl, (g.wo - 1) * g.sw + (g.s - 1) * g.dw + 1);
  p.plane = p.hp * p.wp;
  p.taps.resize(size_t(std::max<int64_t>(g.c * g.r * g.s, 1)));
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s)
        p.taps[(c * g.r + r) * g.s + s] = c * p.plane + r * g.dh * p.wp + s * g.dw;
  if (p.hp == g.h && p.wp == g.w && slack_rows == 0 && slack == 0) {
    p.data = x;
    return p;
  }
  static thread_local std::vector<T> buffer;
  const size_t size = size_t(g.n * g.c * p.plane + slack_rows * p.wp + slack);
  if (buffer.size() < size) buffer.resize(size);
  T* const data = buffer.data();
  std::fill(data, data + size, T(0));
  parallel_for(g.n * g.c, 4, [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl)
      for (int64_t hh = 0; hh < g.h; ++hh)
        copy_run(data + (pl * p.hp + hh + g.pt) * p.wp + g.pl, x + (pl * g.h + hh) * g.w, g.w);
  }, 1);
  p.data = data;
  return p;
}

}  // namespace metalnet
