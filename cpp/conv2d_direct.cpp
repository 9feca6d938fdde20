// Direct convolution (forward): no unrolled matrix at all. Output positions are the rows of an
// implicit GEMM whose "A" elements are read straight from the padded input and broadcast, and
// whose "B" is the weights transposed to (C*R*S, K) -- the same register tile shape as the GEMM
// microkernel (P positions x NV vectors of output channels), so the FMAs run from registers
// while the input is read once per tap. It wins where im2col + GEMM would spend its time
// unrolling: few output channels or small images (LeNet), see conv2d.cpp for the choice.
#include <algorithm>
#include <cstring>
#include <vector>

#include "metalnet/conv2d.h"
#include "metalnet/conv2d_padded.h"
#include "metalnet/gemm.h"
#include "metalnet/gemm_config.h"
#include "metalnet/gemm_microkernel.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

// P positions x NV channel vectors of accumulators: 24 on AVX-512 (32 registers), 12 elsewhere.
template <Isa I> struct DirectTile;
template <> struct DirectTile<Isa::avx512> { static constexpr int regs = 24; };
template <> struct DirectTile<Isa::avx2> { static constexpr int regs = 12; };
template <> struct DirectTile<Isa::generic> { static constexpr int regs = 12; };

struct DirectArgs {
  int64_t crs, kpad, wp, plane;  // taps, padded channel count, padded row length, plane size
  const int64_t* tap_offset;      // offset of tap (c, r, s) in the padded image
};

// acc[p][j] = sum over taps t of image[pos[p] + tap_offset[t]] * wt[t][j*L ..]: P output
// positions (pos: their window origins in the padded image) x NV channel vectors. The tile is
// then stored transposed: out[k*ld + p] for the valid positions and channels.
template <class T, int L, int P, int NV>
METALNET_INLINE void direct_tile(const DirectArgs& a, const T* image, const int64_t* pos,
                                 const T* wt, T* out, int64_t ld, int positions, int channels) {
  using V = typename SimdVec<T, L>::type;
  V acc[P][NV];
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[p][j] = V{};
  const T* origin[P];
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) origin[p] = image + pos[p];
  for (int64_t t = 0; t < a.crs; ++t) {
    const int64_t tap = a.tap_offset[t];
    V w[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) w[j] = load_vec<V>(wt + t * a.kpad + j * L);
#pragma GCC unroll 32
    for (int p = 0; p < P; ++p) {
      const T xv = origin[p][tap];  // scalar x vector: a broadcast load (see microkernel_body)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[p][j] += xv * w[j];
    }
  }
  alignas(64) T tile[P][NV * L];
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) store_vec(&tile[p][j * L], acc[p][j]);
  for (int k = 0; k < channels; ++k)
    for (int p = 0; p < positions; ++p) out[k * ld + p] = tile[p][k];
}

// Output positions [q0, q1) of image n (flattened ho*Wo + wo, so small images fill whole tiles)
// for all channels, in tiles of P positions x NV*L channels.
template <class T, int L, int P, int NV>
METALNET_INLINE void direct_positions(const ConvGeometry& g, const DirectArgs& a, const T* xp,
                                      const T* wt, const T* bias, T* y, int64_t n, int64_t q0,
                                      int64_t q1) {
  constexpr int NR = NV * L;
  const int64_t hw = g.ho * g.wo;
  const T* image = xp + n * g.c * a.plane;
  for (int64_t p0 = q0; p0 < q1; p0 += P) {
    const int positions = int(std::min<int64_t>(P, q1 - p0));
    int64_t pos[P];
    for (int p = 0; p < P; ++p) {  // past the end: repeat the last position, dropped on store
      const int64_t q = p0 + std::min(p, positions - 1);
      pos[p] = (q / g.wo) * g.sh * a.wp + (q % g.wo) * g.sw;
    }
    for (int64_t k0 = 0; k0 < g.k; k0 += NR) {
      const int channels = int(std::min<int64_t>(NR, g.k - k0));
      T* out = y + (n * g.k + k0) * hw + p0;
      direct_tile<T, L, P, NV>(a, image, pos, wt + k0, out, hw, positions, channels);
      if (bias)
        for (int k = 0; k < channels; ++k)
          for (int p = 0; p < positions; ++p) out[k * hw + p] += bias[k0 + k];
    }
  }
}

// Tile shape for an ISA: one channel vector when K fits in it (LeNet); four when K fills them
// (each tap then loads 4 weight vectors for 6 broadcasts instead of 2 for 12: 7-17% less time
// on the 7x7/2 stem and 64/128-channel layers, measured); else two.
#define METALNET_DIRECT_VARIANT(ISA, TARGET)                                                     \
  template <class T>                                                                             \
  TARGET void direct_chunk_##ISA(const ConvGeometry& g, const DirectArgs& a, const T* xp,        \
                                 const T* wt, const T* bias, T* y, int64_t n, int64_t q0,        \
                                 int64_t q1) {                                                   \
    constexpr int L = GemmConfig<Isa::ISA, T>::lanes, R = DirectTile<Isa::ISA>::regs;            \
    if (g.k <= L)                                                                                \
      direct_positions<T, L, R, 1>(g, a, xp, wt, bias, y, n, q0, q1);                            \
    else if (g.k >= 4 * L)                                                                       \
      direct_positions<T, L, R / 4, 4>(g, a, xp, wt, bias, y, n, q0, q1);                        \
    else                                                                                         \
      direct_positions<T, L, R / 2, 2>(g, a, xp, wt, bias, y, n, q0, q1);                        \
  }
METALNET_DIRECT_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_DIRECT_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_DIRECT_VARIANT(generic, )
#undef METALNET_DIRECT_VARIANT

// ---------------------------------------------------------------- few output channels, stride 1
// With 6 or 16 output channels (LeNet), vectors across channels are mostly empty. With stride 1
// a vector across output positions is instead one unaligned load: computed on the "wide grid"
// (every column of the padded row, p = oh * wp + ow, the columns ow >= Wo discarded), the
// input under tap (c, r, s) of positions p .. p+L-1 is xp[c, p + r*dh*wp + s*dw ...], contiguous.
// A tile is KB channels x NVP position vectors; each tap loads NVP input vectors and broadcasts
// KB weights.
struct RowsArgs {
  int64_t taps, wp, plane, wide;  // C*R*S; padded row length; plane size; Ho * wp
  const int64_t* tap_offset;      // offset of tap (c, r, s) in the padded image
};

template <class T, int L, int KB, int NVP>
METALNET_INLINE void rows_tile(const RowsArgs& a, const T* image, const T* wk, int64_t p0, T* tile) {
  using V = typename SimdVec<T, L>::type;
  V acc[KB][NVP];
#pragma GCC unroll 8
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 8
    for (int v = 0; v < NVP; ++v) acc[k][v] = V{};
  const T* origin = image + p0;
  for (int64_t t = 0; t < a.taps; ++t) {
    const T* src = origin + a.tap_offset[t];
    V xv[NVP];
#pragma GCC unroll 8
    for (int v = 0; v < NVP; ++v) xv[v] = load_vec<V>(src + v * L);
    const T* wt = wk + t * KB;
#pragma GCC unroll 8
    for (int k = 0; k < KB; ++k) {
      const T wv = wt[k];  // scalar x vector: a broadcast load (see microkernel_body)
#pragma GCC unroll 8
      for (int v = 0; v < NVP; ++v) acc[k][v] += xv[v] * wv;
    }
  }
#pragma GCC unroll 8
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 8
    for (int v = 0; v < NVP; ++v) store_vec(tile + k * NVP * L + v * L, acc[k][v]);
}

// Wide-grid positions [p0, p0 + NVP*L) of image n, every channel block: computed into a tile,
// then the valid columns copied to y (+ bias). The copy's runs (one per output row touched)
// are found once per chunk: with a single input channel the epilogue costs as much as the
// taps, and a division per run and channel dominated it.
template <class T, int L, int KB, int NVP>
METALNET_INLINE void rows_chunk(const ConvGeometry& g, const RowsArgs& a, const T* xp,
                                const T* wk, const T* bias, T* y, int64_t n, int64_t p0) {
  constexpr int64_t P = NVP * L;
  alignas(64) T tile[KB * P];
  const T* image = xp + n * g.c * a.plane;
  const int64_t end = std::min(a.wide, p0 + P);
  struct Run {
    int64_t from, to, len;  // tile offset, offset in the output plane, valid length
  } runs[P + 1];
  int count = 0;
  for (int64_t p = p0, oh = p0 / a.wp, ow = p0 % a.wp; p < end; ++oh, ow = 0) {
    const int64_t run = std::min(end - p, a.wp - ow);
    if (ow < g.wo) runs[count++] = {p - p0, oh * g.wo + ow, std::min(run, g.wo - ow)};
    p += run;
  }
  for (int64_t k0 = 0; k0 < g.k; k0 += KB) {
    rows_tile<T, L, KB, NVP>(a, image, wk + k0 * a.taps, p0, tile);
    const int channels = int(std::min<int64_t>(KB, g.k - k0));
    for (int k = 0; k < channels; ++k) {
      T* plane = y + (n * g.k + k0 + k) * g.ho * g.wo;
      const T* row = tile + k * P;
      const T add = bias ? bias[k0 + k] : T(0);
      for (int r = 0; r < count; ++r) {
        T* dst = plane + runs[r].to;
        const T* src = row + runs[r].from;
#pragma omp simd
        for (int64_t i = 0; i < runs[r].len; ++i) dst[i] = src[i] + add;
      }
    }
  }
}

// Tile shapes, output channels x position vectors: 6 x 4 up to six channels (LeNet conv1's
// forward), else 8 x 3 -- 24 accumulators on AVX-512 (4 x 3, 12, elsewhere); for one or two
// channels (LeNet conv1's dx has one) 2 x 8 (2 x 4): 16 accumulators and 8 input vectors,
// where 2 x 12 would spill (measured 1.35x faster than 6 x 4, which wastes its lanes).
struct RowsShape {
  int kb, nvp;
  constexpr bool operator==(const RowsShape& o) const { return kb == o.kb && nvp == o.nvp; }
};
constexpr RowsShape rows_shape(Isa isa, int64_t k) {
  if (k <= 2) return isa == Isa::avx512 ? RowsShape{2, 8} : RowsShape{2, 4};
  if (isa == Isa::avx512) return k <= 6 ? RowsShape{6, 4} : RowsShape{8, 3};
  return {4, 3};
}

#define METALNET_ROWS_VARIANT(ISA, TARGET)                                                     \
  template <class T>                                                                          \
  TARGET void rows_range_##ISA(const ConvGeometry& g, const RowsArgs& a, const T* xp,         \
                               const T* wk, const T* bias, T* y, int64_t chunks, int64_t i0,  \
                               int64_t i1) {                                                  \
    constexpr int L = GemmConfig<Isa::ISA, T>::lanes;                                         \
    constexpr RowsShape tiny = rows_shape(Isa::ISA, 1), small = rows_shape(Isa::ISA, 6);      \
    constexpr RowsShape big = rows_shape(Isa::ISA, 16);                                       \
    const RowsShape shape = rows_shape(Isa::ISA, g.k);                                        \
    for (int64_t i = i0; i < i1; ++i) {                                                       \
      const int64_t n = i / chunks, p0 = (i % chunks) * shape.nvp * L;                        \
      if (shape == tiny)                                                                      \
        rows_chunk<T, L, tiny.kb, tiny.nvp>(g, a, xp, wk, bias, y, n, p0);                    \
      else if (shape == small)                                                                \
        rows_chunk<T, L, small.kb, small.nvp>(g, a, xp, wk, bias, y, n, p0);                  \
      else                                                                                    \
        rows_chunk<T, L, big.kb, big.nvp>(g, a, xp, wk, bias, y, n, p0);                      \
    }                                                                                         \
  }
METALNET_ROWS_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_ROWS_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_ROWS_VARIANT(generic, )
#undef METALNET_ROWS_VARIANT

}  // namespace

template <class T>
void conv2d_forward_direct(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (g.n * g.ho * g.wo == 0 || g.k == 0) return;
  const int64_t crs = g.c * g.r * g.s, lanes = lanes_for(sizeof(T));
  const int64_t nr = g.k <= lanes ? lanes : g.k >= 4 * lanes ? 4 * lanes : 2 * lanes;
  const int64_t kpad = (g.k + nr - 1) / nr * nr;
  // Weights as (taps, K padded with zeros): one aligned vector load per tap and channel block.
  std::vector<T> wt(size_t(std::max<int64_t>(crs, 1)) * kpad, T(0));
  for (int64_t k = 0; k < g.k; ++k)
    for (int64_t t = 0; t < crs; ++t) wt[t * kpad + k] = w[k * crs + t];
  // Tiles past the last position repeat it, so they read nothing past the padded input.
  const PaddedInput<T> xp = pad_input(g, x, 0, 0);
  const DirectArgs args{crs, kpad, xp.wp, xp.plane, xp.taps.data()};
  // Work items: chunks of 96 positions of one image (a multiple of every tile height).
  constexpr int64_t chunk = 96;
  const int64_t hw = g.ho * g.wo, per_image = (hw + chunk - 1) / chunk;
  parallel_for(g.n * per_image, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / per_image, q0 = (i % per_image) * chunk;
      METALNET_DISPATCH_ISA(direct_chunk, g, args, xp.data, wt.data(), b, y, n, q0,
                            std::min(hw, q0 + chunk));
    }
  }, 1);
}

template <class T>
void conv2d_forward_rows(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (g.n * g.ho * g.wo == 0 || g.k == 0) return;
  const Isa isa = active_isa();
  const int64_t crs = g.c * g.r * g.s, lanes = lanes_for(sizeof(T));
  const RowsShape shape = rows_shape(isa, g.k);
  const int64_t kb = shape.kb, chunk = shape.nvp * lanes;
  const int64_t kpad = (g.k + kb - 1) / kb * kb;
  // Weights as (channel block, tap, KB), zero past K: one broadcast per tap and channel.
  std::vector<T> wk(size_t(kpad) * std::max<int64_t>(crs, 1), T(0));
  for (int64_t k = 0; k < g.k; ++k)
    for (int64_t t = 0; t < crs; ++t) wk[(k / kb * crs + t) * kb + k % kb] = w[k * crs + t];
  // The last chunk of the last image reads up to a chunk (and a row) past the wide grid.
  const PaddedInput<T> xp = pad_input(g, x, 1, chunk);
  const RowsArgs args{crs, xp.wp, xp.plane, g.ho * xp.wp, xp.taps.data()};
  const int64_t chunks = (args.wide + chunk - 1) / chunk;
  parallel_for(g.n * chunks, 1, [&](int64_t i0, int64_t i1) {
    METALNET_DISPATCH_ISA(rows_range, g, args, xp.data, wk.data(), b, y, chunks, i0, i1);
  }, 1);
}

// dW for the layers the rows kernel serves: on the wide grid, dW[k, tap] is a dot product of
// dy[k] (zero in the discarded columns) with the padded input shifted by the tap's offset. A
// group of images is laid out channel-major (each image one padded plane), so every dot
// product runs over the whole group: no unrolled matrix.
template <class T>
void conv2d_weight_grad_rows(const ConvGeometry& g, const T* dy, const T* x, T* dw) {
  const int64_t crs = g.c * g.r * g.s, hw = g.ho * g.wo;
  std::fill(dw, dw + g.k * crs, T(0));
  if (g.n * hw == 0 || g.k == 0 || crs == 0) return;
  const int64_t hp = std::max(g.h + g.pt, g.ho + (g.r - 1) * g.dh);
  const int64_t wp = std::max(g.w + g.pl, g.wo + (g.s - 1) * g.dw);
  const int64_t plane = hp * wp;
  const int64_t group = std::max<int64_t>(1, (int64_t(256) << 10) / (sizeof(T) * plane * (g.c + g.k)));
  const int64_t groups = (g.n + group - 1) / group;
  const int threads = std::max(1, num_threads());
  std::vector<T> partial(size_t(threads) * g.k * crs, T(0));
  parallel_for(groups, 1, [&](int64_t q0, int64_t q1) {
    const int t = thread_index();
    const int64_t span = group * plane, slack = plane;
    std::vector<T> xp(size_t(g.c * span + slack)), dyw(size_t(g.k * span));
    std::vector<const T*> arows(static_cast<size_t>(g.k)), brows(static_cast<size_t>(crs));
    std::vector<T> sums(size_t(g.k * crs));
    T* acc = partial.data() + size_t(t) * g.k * crs;
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n0 = q * group, nl = std::min(group, g.n - n0);
      std::fill(xp.begin(), xp.end(), T(0));
      std::fill(dyw.begin(), dyw.end(), T(0));
      for (int64_t i = 0; i < nl; ++i) {
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t hh = 0; hh < g.h; ++hh)
            copy_run(xp.data() + c * span + i * plane + (hh + g.pt) * wp + g.pl,
                     x + (((n0 + i) * g.c + c) * g.h + hh) * g.w, g.w);
        for (int64_t k = 0; k < g.k; ++k)
          for (int64_t oh = 0; oh < g.ho; ++oh)
            copy_run(dyw.data() + k * span + i * plane + oh * wp,
                     dy + (((n0 + i) * g.k + k) * g.ho + oh) * g.wo, g.wo);
      }
      for (int64_t k = 0; k < g.k; ++k) arows[k] = dyw.data() + k * span;
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t r = 0; r < g.r; ++r)
          for (int64_t s = 0; s < g.s; ++s)
            brows[(c * g.r + r) * g.s + s] = xp.data() + c * span + r * g.dh * wp + s * g.dw;
      dot_rows<T>(nl * plane, arows.data(), g.k, brows.data(), crs, sums.data());
      for (int64_t i = 0; i < g.k * crs; ++i) acc[i] += sums[i];
    }
  }, 1);
  for (int t = 0; t < threads; ++t)  // in thread order: the same sum for the same thread count
    for (int64_t i = 0; i < g.k * crs; ++i) dw[i] += partial[size_t(t) * g.k * crs + i];
}

template void conv2d_forward_direct<float>(const ConvGeometry&, const float*, const float*,
                                           const float*, float*);
template void conv2d_forward_direct<double>(const ConvGeometry&, const double*, const double*,
                                            const double*, double*);
template void conv2d_weight_grad_rows<float>(const ConvGeometry&, const float*, const float*, float*);
template void conv2d_weight_grad_rows<double>(const ConvGeometry&, const double*, const double*, double*);
template void conv2d_forward_rows<float>(const ConvGeometry&, const float*, const float*,
                                         const float*, float*);
template void conv2d_forward_rows<double>(const ConvGeometry&, const double*, const double*,
                                          const double*, double*);

}  // namespace metalnet
