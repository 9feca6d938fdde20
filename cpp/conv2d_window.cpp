// Sliding-window convolution (forward and dW), for stride-1 layers whose output channels fill
// one vector (LeNet's 6 -> 16: 9 to 16 float channels on AVX-512). A tile is P consecutive outputs
// of one row, each a vector across the output channels. Along a row, input x[i] meets the S
// taps of one kernel row in the S outputs i-S+1 .. i, so each broadcast of x feeds S FMAs and
// the S weight vectors of a kernel row are loaded once per P outputs:
//
//   for each input channel c, kernel row r:  w[s] = W[c, r, s, :]            (S vector loads)
//     for i in 0 .. P+S-2:                   xv = x[c, oh + r, ow0 + i]       (one broadcast)
//       for s with 0 <= i-s < P:             acc[i-s] += xv * w[s]            (up to S FMAs)
//
// The direct kernel (conv2d_direct.cpp) broadcasts one input per FMA and the rows kernel
// wastes the lanes past each row's end (4 of 14 on LeNet's 14-wide input); here every lane and
// nearly every load is useful. Two output rows share each kernel row's weights where their
// accumulators fit; the tile is stored transposed into the NCHW output. dW (below) is the same
// window turned around, with dy transposed to vectors across channels.
#include <algorithm>
#include <cstring>
#include <vector>

#include "metalnet/conv2d.h"
#include "metalnet/conv2d_padded.h"
#include "metalnet/conv2d_row_tiles.h"
#include "metalnet/gemm_config.h"
#include "metalnet/gemm_microkernel.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

struct WindowArgs {
  int64_t rows;                // C*R: kernel rows, one weight block of S vectors each
  const int64_t* row_offset;   // offset of kernel row (c, r) in the padded image
};

// acc (+ bias) to out[k*ld + p], p < positions, k < channels: transposed in L x L blocks, row
// k of block q being channel k's outputs q*L .. q*L + L-1.
template <class T, int L, int P>
METALNET_INLINE void window_store(typename SimdVec<T, L>::type (&acc)[P], const T* bias, T* out,
                                  int64_t ld, int positions, int channels) {
  using V = typename SimdVec<T, L>::type;
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) acc[p] += load_vec<V>(bias);
#pragma GCC unroll 2
  for (int q = 0; q < (P + L - 1) / L; ++q) {
    constexpr int full = L;
    V block[L];
#pragma GCC unroll 16
    for (int p = 0; p < L; ++p) block[p] = q * L + p < P ? acc[q * L + p] : V{};
    transpose_square<T, L>(block);
    const int count = std::min(full, positions - q * L);
    if (count <= 0) break;
    if (positions == P) {  // whole tile: constant-length stores
      const int n = std::min(full, P - q * L);
      for (int k = 0; k < channels; ++k)
        copy_cells<T, L>(out + k * ld + q * L, reinterpret_cast<const T*>(&block[k]), n);
    } else {
      for (int k = 0; k < channels; ++k)
        for (int p = 0; p < count; ++p) out[k * ld + q * L + p] = block[k][p];
    }
  }
}

// acc[h][p] = bias + sum over kernel rows and taps of src[h*step + row_offset + p + s] *
// wt[row][s]: H output rows (input rows `step` apart) share each kernel row's weights. Then
// out[k*ld + h*wo + p] for the valid outputs and channels. bias: one vector, zero past K.
template <class T, int L, int S, int P, int H>
METALNET_INLINE void window_tile(const WindowArgs& a, const T* src, int64_t step, const T* wt,
                                 const T* bias, T* out, int64_t ld, int64_t wo, int positions,
                                 int channels) {
  using V = typename SimdVec<T, L>::type;
  V acc[H][P];
#pragma GCC unroll 2
  for (int h = 0; h < H; ++h)
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) acc[h][p] = V{};
  for (int64_t row = 0; row < a.rows; ++row) {
    V w[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) w[s] = load_vec<V>(wt + (row * S + s) * L);
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) {
      const T* x = src + h * step + a.row_offset[row];
      asm("" : "+r"(x));  // one base register, the taps as displacements (else an index each)
#pragma GCC unroll 40
      for (int i = 0; i < P + S - 1; ++i) {
        const T xv = x[i];  // scalar x vector: a broadcast load (see microkernel_body)
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s)
          if (i - s >= 0 && i - s < P) acc[h][i - s] += xv * w[s];
      }
    }
  }
#pragma GCC unroll 2
  for (int h = 0; h < H; ++h)
    window_store<T, L, P>(acc[h], bias, out + h * wo, ld, positions, channels);
}

// Output rows [r0, r1) of image n, every row in tiles of P outputs, H rows at a time (then
// one at a time for the rows left over).
template <class T, int L, int S, int P, int H>
METALNET_INLINE void window_rows(const ConvGeometry& g, const WindowArgs& a, int64_t wp,
                                 const T* image, const T* wt, const T* bias, T* y, int64_t r0,
                                 int64_t r1) {
  const int64_t step = g.sh * wp;
  int64_t oh = r0;
  for (; oh + H <= r1; oh += H)
    for (int64_t ow0 = 0; ow0 < g.wo; ow0 += P)
      window_tile<T, L, S, P, H>(a, image + oh * step + ow0, step, wt, bias, y + oh * g.wo + ow0,
                                 g.ho * g.wo, g.wo, int(std::min<int64_t>(P, g.wo - ow0)),
                                 int(g.k));
  for (; oh < r1; ++oh)
    for (int64_t ow0 = 0; ow0 < g.wo; ow0 += P)
      window_tile<T, L, S, P, 1>(a, image + oh * step + ow0, step, wt, bias, y + oh * g.wo + ow0,
                                 g.ho * g.wo, g.wo, int(std::min<int64_t>(P, g.wo - ow0)),
                                 int(g.k));
}

template <Isa I, class T, int S>
METALNET_INLINE void window_dispatch(int width, const ConvGeometry& g, const WindowArgs& a,
                                     int64_t wp, const T* image, const T* wt, const T* bias,
                                     T* y, int64_t r0, int64_t r1) {
  constexpr int L = GemmConfig<I, T>::lanes;
  // Two output rows per tile where their accumulators fit beside the weights and a broadcast.
#define METALNET_WINDOW_ROWS(P)                                                                \
  window_rows<T, L, S, P, 2 * P + S + 1 <= row_tile_registers(I) ? 2 : 1>(g, a, wp, image, wt,   \
                                                                        bias, y, r0, r1)
  METALNET_ROW_TILE_WIDTHS(width, row_tile_top(I, S + 1), METALNET_WINDOW_ROWS)
#undef METALNET_WINDOW_ROWS
}

#define METALNET_WINDOW_VARIANT(ISA, TARGET)                                                  \
  template <class T>                                                                          \
  TARGET void window_range_##ISA(int width, const ConvGeometry& g, const WindowArgs& a,       \
                                 int64_t wp, const T* image, const T* wt, const T* bias,      \
                                 T* y, int64_t r0, int64_t r1) {                              \
    if (g.s == 3)                                                                             \
      window_dispatch<Isa::ISA, T, 3>(width, g, a, wp, image, wt, bias, y, r0, r1);           \
    else                                                                                      \
      window_dispatch<Isa::ISA, T, 5>(width, g, a, wp, image, wt, bias, y, r0, r1);           \
  }
METALNET_WINDOW_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_WINDOW_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_WINDOW_VARIANT(generic, )
#undef METALNET_WINDOW_VARIANT

// ---------------------------------------------------------------------------------- dW
// dW[k, c, r, s] = sum over images and outputs of dy[k, oh, ow] * x[c, oh*sh + r*dh, ow + s]:
// the same window, turned around. With dy transposed to vectors across channels, a broadcast
// x[i] of kernel row (c, r) meets dy[ow] for ow = i-S+1 .. i into the S accumulators of that
// row's taps. G kernel rows share each tile of P dy vectors (G*S accumulators, P dy vectors,
// a broadcast); the accumulators stay in registers over a whole block of images.
struct WindowGradArgs {
  int64_t ho, wo, wpad;           // output rows, columns, transposed dy row length (tiles)
  int64_t row_step, image_step;   // sh * padded row; padded image
  const int64_t* row_offset;      // offset of kernel row (c, r) in the padded image
};

// Kernel rows j0 .. j0+G-1 over `images` images: sums[(j*S + s)*L ..] += their taps' dW.
template <class T, int L, int S, int P, int G>
METALNET_INLINE void window_dw_rows(const WindowGradArgs& a, const T* dyt, const T* x,
                                    int64_t images, int64_t j0, T* sums) {
  using V = typename SimdVec<T, L>::type;
  V acc[G][S];
#pragma GCC unroll 4
  for (int j = 0; j < G; ++j)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) acc[j][s] = V{};
  for (int64_t n = 0; n < images; ++n)
    for (int64_t oh = 0; oh < a.ho; ++oh)
      for (int64_t ow0 = 0; ow0 < a.wo; ow0 += P) {
        const T* d = dyt + ((n * a.ho + oh) * a.wpad + ow0) * L;
        V dv[P];
#pragma GCC unroll 32
        for (int p = 0; p < P; ++p) dv[p] = load_vec<V>(d + p * L);
        const T* base = x + n * a.image_step + oh * a.row_step + ow0;
#pragma GCC unroll 4
        for (int j = 0; j < G; ++j) {
          const T* xr = base + a.row_offset[j0 + j];
          asm("" : "+r"(xr));
#pragma GCC unroll 40
          for (int i = 0; i < P + S - 1; ++i) {
            const T xv = xr[i];
#pragma GCC unroll 8
            for (int s = 0; s < S; ++s)
              if (i - s >= 0 && i - s < P) acc[j][s] += dv[i - s] * xv;
          }
        }
      }
#pragma GCC unroll 4
  for (int j = 0; j < G; ++j)
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      T* out = sums + ((j0 + j) * S + s) * L;
      store_vec(out, load_vec<V>(out) + acc[j][s]);
    }
}

// Kernel rows in groups of G: three on AVX-512 (15 accumulators for 5-wide kernels), one
// elsewhere (16 registers); the rows left over one at a time.
constexpr int window_dw_group(Isa isa) { return isa == Isa::avx512 ? 3 : 1; }

template <Isa I, class T, int S>
METALNET_INLINE void window_dw_dispatch(int width, int64_t rows, const WindowGradArgs& a,
                                        const T* dyt, const T* x, int64_t images, T* sums) {
  constexpr int L = GemmConfig<I, T>::lanes, G = window_dw_group(I);
  int64_t j0 = 0;
#define METALNET_WINDOW_DW(P) window_dw_rows<T, L, S, P, G>(a, dyt, x, images, j0, sums)
  for (; j0 + G <= rows; j0 += G)
    METALNET_ROW_TILE_WIDTHS(width, row_tile_top(I, G * S + 1), METALNET_WINDOW_DW)
#undef METALNET_WINDOW_DW
#define METALNET_WINDOW_DW(P) window_dw_rows<T, L, S, P, 1>(a, dyt, x, images, j0, sums)
  for (; j0 < rows; ++j0)
    METALNET_ROW_TILE_WIDTHS(width, row_tile_top(I, G * S + 1), METALNET_WINDOW_DW)
#undef METALNET_WINDOW_DW
}

// One block of images: dy turned into vectors across channels, dyt[n][oh][ow][:] (zero past K,
// and in the columns wo .. wpad-1 that to_lanes never writes: tiles past a row's end add
// nothing), then every kernel row.
#define METALNET_WINDOW_DW_VARIANT(ISA, TARGET)                                                \
  template <class T>                                                                           \
  TARGET void window_dw_block_##ISA(int width, const ConvGeometry& g, const WindowGradArgs& a, \
                                    const T* dy, const T* x, int64_t images, T* dyt,          \
                                    T* sums) {                                                 \
    constexpr int L = GemmConfig<Isa::ISA, T>::lanes;                                          \
    for (int64_t n = 0; n < images; ++n)                                                       \
      to_lanes<T, L>(dy + n * g.k * g.ho * g.wo, g.ho * g.wo, int(g.k), 1, g.ho, g.wo, a.wpad, 0,  \
                     dyt + n * g.ho * a.wpad * L);                                             \
    if (g.s == 3)                                                                              \
      window_dw_dispatch<Isa::ISA, T, 3>(width, g.c * g.r, a, dyt, x, images, sums);           \
    else                                                                                       \
      window_dw_dispatch<Isa::ISA, T, 5>(width, g.c * g.r, a, dyt, x, images, sums);           \
  }
METALNET_WINDOW_DW_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_WINDOW_DW_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_WINDOW_DW_VARIANT(generic, )
#undef METALNET_WINDOW_DW_VARIANT

std::vector<int64_t> kernel_row_offsets(const ConvGeometry& g, int64_t plane, int64_t wp) {
  std::vector<int64_t> offset(size_t(std::max<int64_t>(g.c * g.r, 1)));
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r) offset[c * g.r + r] = c * plane + r * g.dh * wp;
  return offset;
}

}  // namespace

bool window_applies(const ConvGeometry& g, size_t elem) {
  const int64_t lanes = lanes_for(elem);
  return g.sw == 1 && g.dw == 1 && (g.s == 3 || g.s == 5) && g.k <= lanes && 2 * g.k > lanes;
}

template <class T>
void conv2d_forward_window(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (g.n * g.ho * g.wo == 0 || g.k == 0) return;
  const int64_t lanes = lanes_for(sizeof(T)), rows = g.c * g.r;
  // Weights as (C, R, S, lanes), zero past K: one aligned vector per tap.
  std::vector<T> wt(size_t(std::max<int64_t>(rows, 1) * g.s * lanes), T(0));
  for (int64_t k = 0; k < g.k; ++k)
    for (int64_t t = 0; t < rows * g.s; ++t) wt[t * lanes + k] = w[k * rows * g.s + t];
  std::vector<T> bias(size_t(lanes), T(0));  // one vector, zero past K (or without a bias)
  if (b) std::copy(b, b + g.k, bias.begin());
  const Isa isa = active_isa();
  const int width = row_tile_width(row_tile_top(isa, int(g.s) + 1), g.wo);
  // A part-filled last tile reads up to a tile past its row (past the input on the last row).
  const bool whole = g.wo % width == 0;
  const PaddedInput<T> xp = pad_input(g, x, whole ? 0 : 1, whole ? 0 : width);
  const std::vector<int64_t> row_offset = kernel_row_offsets(g, xp.plane, xp.wp);
  const WindowArgs args{rows, row_offset.data()};
  // Work items: blocks of output rows of one image, about 1024 outputs each.
  const int64_t block = std::max<int64_t>(1, 1024 / g.wo), per_image = (g.ho + block - 1) / block;
  parallel_for(g.n * per_image, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / per_image, r0 = (i % per_image) * block;
      METALNET_DISPATCH_ISA(window_range, width, g, args, xp.wp, xp.data + n * g.c * xp.plane,
                            wt.data(), bias.data(), y + n * g.k * g.ho * g.wo, r0,
                            std::min(g.ho, r0 + block));
    }
  }, 1);
}

template <class T>
void conv2d_weight_grad_window(const ConvGeometry& g, const T* dy, const T* x, T* dw) {
  const int64_t lanes = lanes_for(sizeof(T)), rows = g.c * g.r, taps = rows * g.s;
  std::fill(dw, dw + g.k * taps, T(0));
  if (g.n * g.ho * g.wo == 0 || g.k == 0 || taps == 0) return;
  const Isa isa = active_isa();
  const int width = row_tile_width(row_tile_top(isa, window_dw_group(isa) * int(g.s) + 1), g.wo);
  const int64_t wpad = (g.wo + width - 1) / width * width;
  // A tile reads up to width + S - 2 past its first input; the last reads past the input.
  const PaddedInput<T> xp = pad_input(g, x, 1, width + g.s);
  const std::vector<int64_t> row_offset = kernel_row_offsets(g, xp.plane, xp.wp);
  const WindowGradArgs args{g.ho, g.wo, wpad, g.sh * xp.wp, g.c * xp.plane, row_offset.data()};
  // Blocks of images whose transposed dy and input stay in L2 (about 256 KiB) while every
  // kernel row passes over them.
  const int64_t per_image = (g.ho * wpad * lanes + g.c * xp.plane) * int64_t(sizeof(T));
  const int64_t block = std::max<int64_t>(1, (int64_t(256) << 10) / per_image);
  const int threads = std::max(1, num_threads());
  std::vector<T> partial(size_t(threads * taps * lanes), T(0));
  parallel_for(g.n, 1, [&](int64_t i0, int64_t i1) {
    T* sums = partial.data() + thread_index() * taps * lanes;
    std::vector<T> dyt(size_t(std::min(block, i1 - i0) * g.ho * wpad * lanes));  // zeroed
    for (int64_t n0 = i0; n0 < i1; n0 += block) {
      const int64_t images = std::min(block, i1 - n0);
      METALNET_DISPATCH_ISA(window_dw_block, width, g, args, dy + n0 * g.k * g.ho * g.wo,
                            xp.data + n0 * g.c * xp.plane, images, dyt.data(), sums);
    }
  }, 1);
  for (int t = 0; t < threads; ++t)  // in thread order: the same sum for the same thread count
    for (int64_t tap = 0; tap < taps; ++tap)
      for (int64_t k = 0; k < g.k; ++k) dw[k * taps + tap] += partial[(t * taps + tap) * lanes + k];
}

template void conv2d_weight_grad_window<float>(const ConvGeometry&, const float*, const float*,
                                               float*);
template void conv2d_weight_grad_window<double>(const ConvGeometry&, const double*, const double*,
                                                double*);
template void conv2d_forward_window<float>(const ConvGeometry&, const float*, const float*,
                                           const float*, float*);
template void conv2d_forward_window<double>(const ConvGeometry&, const double*, const double*,
                                            const double*, double*);

}  // namespace metalnet
