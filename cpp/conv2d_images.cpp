// Convolution vectorised across images: a group of L images (one vector's lanes) is transposed
// so each input cell is a vector of L images, and the layer runs as L scalar convolutions in
// lockstep. No lane is ever empty whatever the channel counts, and the taps that fall on
// padding rows are skipped by the loop bounds (the kernel rows whose input row exists), those on
// padding columns too where a tile is a whole row padded by S-1 on both sides; elsewhere the
// rows carry a few zero columns. That is what dx of a stride-1 layer needs: as a
// convolution of dy, it is padded by R-1 rows and S-1 columns on each side, so on LeNet's
// 6 -> 16 (dy 10x10, dx 14x14) half of the taps of a padded computation read zeros, and the
// 6 output channels would fill 6 of 16 lanes of a channel vector.
//
// Within a group the tile is the window kernel's (conv2d_window.cpp) turned around: P outputs
// of one row; each input vector x[i] (loaded) meets the S taps of a kernel row (weights
// broadcast) in the outputs i-S+1 .. i.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "metalnet/conv2d.h"
#include "metalnet/conv2d_row_tiles.h"
#include "metalnet/gemm_config.h"
#include "metalnet/gemm_microkernel.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

// Output row oh of channel k, P outputs from ow0, into out (channel k's plane): the kernel rows
// whose input row exists, each met with the S taps. xt rows are padded with zero columns, so
// tile column j reads padded column ow0 + j with no bounds (a branch per column costs more than
// the FMAs on the few zero columns of the row ends). Full: the tile is the whole row of a layer
// padded by S-1 on both sides (dx of an unpadded stride-1 layer): the P-S+1 real columns
// alone are read, input column i meeting outputs i .. i+S-1 (LeNet conv2's dx: 50 FMAs per
// kernel row, not 70).
template <class T, int L, int S, int P, bool Full>
METALNET_INLINE void lanes_tile(const ConvGeometry& g, int64_t width, const T* xt, const T* w,
                                T bias, int64_t k, int64_t oh, int64_t ow0, int positions,
                                T* out) {
  using V = typename SimdVec<T, L>::type;
  V acc[P];
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) acc[p] = V{} + bias;
  const int64_t top = oh * g.sh - g.pt;
  const int64_t r0 = top >= 0 ? 0 : (-top + g.dh - 1) / g.dh;
  const int64_t r1 = std::min<int64_t>(g.r, top < g.h ? (g.h - 1 - top) / g.dh + 1 : 0);
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = r0; r < r1; ++r) {
      const T* taps = w + ((k * g.c + c) * g.r + r) * S;
      T wv[S];  // scalar x vector: one broadcast each, kept in a register (see microkernel_body)
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) wv[s] = taps[s];
      const T* row = xt + ((c * g.h + top + r * g.dh) * width + ow0) * L;
      asm("" : "+r"(row));
      if constexpr (Full) {
#pragma GCC unroll 40
        for (int i = 0; i < P - S + 1; ++i) {
          const V xv = load_vec<V>(row + (i + S - 1) * L);
#pragma GCC unroll 8
          for (int s = 0; s < S; ++s) acc[i + S - 1 - s] += wv[s] * xv;
        }
      } else {
#pragma GCC unroll 40
        for (int j = 0; j < P + S - 1; ++j) {
          const V xv = load_vec<V>(row + j * L);
#pragma GCC unroll 8
          for (int s = 0; s < S; ++s)
            if (j - s >= 0 && j - s < P) acc[j - s] += wv[s] * xv;
        }
      }
    }
  for (int p = 0; p < positions; ++p) store_vec(out + (oh * g.wo + ow0 + p) * L, acc[p]);
}

template <class T, int L, int S, int P>
METALNET_INLINE void lanes_group(const ConvGeometry& g, int64_t width, const T* xt, const T* w,
                                 const T* b, T* yt) {
  const bool full = g.wo == P && g.pl == S - 1 && g.w == P - S + 1;
  for (int64_t k = 0; k < g.k; ++k) {
    const T bias = b ? b[k] : T(0);
    T* plane = yt + k * g.ho * g.wo * L;
    for (int64_t oh = 0; oh < g.ho; ++oh)
      if (full) {
        lanes_tile<T, L, S, P, true>(g, width, xt, w, bias, k, oh, 0, P, plane);
      } else {
        for (int64_t ow0 = 0; ow0 < g.wo; ow0 += P)
          lanes_tile<T, L, S, P, false>(g, width, xt, w, bias, k, oh, ow0,
                                        int(std::min<int64_t>(P, g.wo - ow0)), plane);
      }
  }
}

template <Isa I, class T, int S>
METALNET_INLINE void lanes_dispatch(int tile, const ConvGeometry& g, int64_t width, const T* xt,
                                    const T* w, const T* b, T* yt) {
  constexpr int L = GemmConfig<I, T>::lanes;
#define METALNET_LANES_GROUP(P) lanes_group<T, L, S, P>(g, width, xt, w, b, yt)
  METALNET_ROW_TILE_WIDTHS(tile, row_tile_top(I, S + 1), METALNET_LANES_GROUP)
#undef METALNET_LANES_GROUP
}

// One group of up to L images: transposed in, convolved, transposed out.
#define METALNET_LANES_VARIANT(ISA, TARGET)                                                    \
  template <class T>                                                                           \
  TARGET void lanes_images_##ISA(int tile, int64_t width, const ConvGeometry& g, const T* x,   \
                                 const T* w, const T* b, T* y, int count, T* xt, T* yt) {      \
    constexpr int L = GemmConfig<Isa::ISA, T>::lanes;                                          \
    to_lanes<T, L>(x, g.c * g.h * g.w, count, g.c, g.h, g.w, width, g.pl, xt);                 \
    if (g.s == 3)                                                                              \
      lanes_dispatch<Isa::ISA, T, 3>(tile, g, width, xt, w, b, yt);                            \
    else                                                                                       \
      lanes_dispatch<Isa::ISA, T, 5>(tile, g, width, xt, w, b, yt);                            \
    from_lanes<T, L>(yt, count, g.k, g.ho * g.wo, y, g.k * g.ho * g.wo);                       \
  }
METALNET_LANES_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_LANES_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_LANES_VARIANT(generic, )
#undef METALNET_LANES_VARIANT

}  // namespace

bool images_applies(const ConvGeometry& g) {
  return g.sw == 1 && g.dw == 1 && (g.s == 3 || g.s == 5);
}

template <class T>
void conv2d_forward_images(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (g.n * g.ho * g.wo == 0 || g.k == 0) return;
  const int64_t lanes = lanes_for(sizeof(T)), groups = (g.n + lanes - 1) / lanes;
  const Isa isa = active_isa();
  const int tile = row_tile_width(row_tile_top(isa, int(g.s) + 1), g.wo);
  // Input rows padded with pl zero columns on the left and as many on the right as the last
  // tile reads (its columns up to tiles * tile + S - 2).
  const int64_t width = std::max(g.pl + g.w, (g.wo + tile - 1) / tile * tile + g.s - 1);
  parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    std::vector<T> xt(size_t(g.c * g.h * width * lanes)), yt(size_t(g.k * g.ho * g.wo * lanes));
    for (int64_t q = g0; q < g1; ++q) {
      const int count = int(std::min(lanes, g.n - q * lanes));
      METALNET_DISPATCH_ISA(lanes_images, tile, width, g, x + q * lanes * g.c * g.h * g.w, w, b,
                            y + q * lanes * g.k * g.ho * g.wo, count, xt.data(), yt.data());
    }
  }, 1);
}

template void conv2d_forward_images<float>(const ConvGeometry&, const float*, const float*,
                                           const float*, float*);
template void conv2d_forward_images<double>(const ConvGeometry&, const double*, const double*,
                                            const double*, double*);

}  // namespace metalnet
