// Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) (stride 1, dilation 1, 3x3 kernels):
// the forward, and dW by the same transforms transposed (below).
//
// Each 2x2 block of outputs ("tile") comes from a 4x4 patch d of the padded input. With the
// transforms (docs/convolution.md derives them, metalnet.explain.winograd runs them in NumPy)
//     V = B^T d B      U = G g G^T      Y = A^T (U . V) A
// the 36 multiplications of a tile per (input, output) channel pair become 16, and over all
// channels the 16 elementwise products turn into 16 independent GEMMs:
//     M[xi] (K x tiles) = U[xi] (K x C) @ V[xi] (C x tiles),   xi = 0..15.
// So 2.25x fewer multiply-adds than a direct or im2col convolution, run by our GEMM. F(4x4)
// takes 4x4 tiles from 6x6 patches: 36 GEMMs, 4x fewer multiply-adds. The transforms run
// vectorised across a run of tiles, with the input's columns split into their phases (mod 2 or
// mod 4) first so that every access is unit-stride.
//
// Work is cut into blocks of whole tile rows (over the flat batch) that keep V and M in the
// L2/L3 caches; each thread transforms, multiplies and un-transforms its own blocks. The driver
// (run_block, weight_grad_tiles) is one template over the tile size; the transforms are written
// out for each.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "metalnet/conv2d.h"
#include "metalnet/dispatch.h"
#include "metalnet/gemm.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

// Tiles per block: at most kMaxPanels GEMM panels' worth (or one tile row), so that V and M,
// 16 x (C + K) values a tile, stay in L2 between the transforms and the GEMMs (64 tiles measured
// up to 15% faster than 96-384 at 64 channels, no slower at 256; 96 with the wide tile, which
// K = 64 gets, 13-20% faster again); a block costs about kBlockOverheadTiles tiles' worth of
// GEMM time beyond its tiles (panel sweeps, transform loop set-up).
// F(4x4, 3x3) tiles hold 36 values per channel, not 16: one panel's worth keeps the same bytes.
constexpr int64_t kMaxPanels = 2, kMaxPanels4 = 1, kBlockOverheadTiles = 24;
// The weight gradient's blocks: D and V of a block within this many bytes (most of L2).
constexpr int64_t kGradBlockBytes = int64_t(768) << 10;

struct Blocks {
  int64_t th, tw;            // tile rows and columns per image
  int64_t rows_per_block, count;
  int64_t nr, width;         // GEMM panel width; tiles per block rounded up to whole panels
};

// Blocks of whole tile rows. The row count per block is picked to waste least: tiles past the
// last GEMM panel, threads left idle by an uneven share of blocks, and the fixed cost of a block
// (small GEMMs). Rows of tw tiles rarely fill panels exactly (9 rows of 14 = 126 tiles in 144).
// m is the output tile's side (2 or 4).
Blocks make_blocks(const ConvGeometry& g, int64_t nr, int64_t m) {
  const int64_t max_tiles = (m == 2 ? kMaxPanels : kMaxPanels4) * nr;
  const int64_t th = (g.ho + m - 1) / m, tw = (g.wo + m - 1) / m, rows = g.n * th;
  const int64_t threads = std::max(1, num_threads());
  const int64_t most = std::max<int64_t>(1, std::min(rows, max_tiles / tw));
  double best = 0;
  int64_t pick = 1;
  for (int64_t per = 1; per <= most; ++per) {
    const int64_t tiles = per * tw, width = (tiles + nr - 1) / nr * nr;
    const int64_t count = (rows + per - 1) / per, rounds = (count + threads - 1) / threads;
    const double work = double(rounds) * width * (1.0 + double(kBlockOverheadTiles) / tiles);
    const double ideal = double(rows) * tw / threads;
    const double cost = work / ideal;
    if (per == 1 || cost < best) best = cost, pick = per;
  }
  return {th, tw, pick, (rows + pick - 1) / pick, nr, (pick * tw + nr - 1) / nr * nr};
}

// out[0 .. M+2)[col] = G (g0, g1, g2)^T: G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] for
// F(2, 3), and for F(4, 3)
//     G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1].
template <int M, class T, int Cols>
METALNET_INLINE void filter_column(T g0, T g1, T g2, T (&out)[M + 2][Cols], int col) {
  if constexpr (M == 2) {
    out[0][col] = g0;
    out[1][col] = T(0.5) * (g0 + g1 + g2);
    out[2][col] = T(0.5) * (g0 - g1 + g2);
    out[3][col] = g2;
  } else {
    // Products with the reciprocals, not divisions: a division takes several times as long,
    // and these run 36 times per filter.
    const T sixth = T(1) / T(6), even = g0 + g2, outer = T(1) / T(24) * g0 + sixth * g2;
    out[0][col] = T(0.25) * g0;
    out[1][col] = -sixth * (even + g1);
    out[2][col] = -sixth * (even - g1);
    out[3][col] = outer + T(1) / T(12) * g1;
    out[4][col] = outer - T(1) / T(12) * g1;
    out[5][col] = g2;
  }
}

// U[xi] (K x C) = (G g G^T)[xi] for every filter g = w[k, c] (G below, per tile size M),
// written straight into the GEMM's A panels (MR rows of K; rows past K zero):
// U[xi] starts at xi * stride, element (k, c) at (k / MR) * MR*C + c * MR + k % MR.
// The panels live in the calling thread's buffer, kept across calls (megabytes at 256 channels:
// fresh pages would cost more than the transform).
// Threads take whole panels and walk them in the panels' own order -- channel by channel, the
// MR filters of a channel side by side as vector lanes (their taps gathered C*9 apart) -- so
// each U[xi] is written as one forward stream of MR-value stores; filter by filter in scalar
// code it cost 2-3% of a ResNet-18 training step. Only the padding rows of the last panel are
// cleared, not the whole buffer.
template <int M, class T>
const T* transform_filters(const ConvGeometry& g, const T* w, int64_t mr, int64_t stride) {
  constexpr int A = M + 2, XI = A * A;
  static thread_local std::vector<T> buffer;
  if (buffer.size() < size_t(XI * stride)) buffer.resize(size_t(XI * stride));
  T* const u = buffer.data();
  const int64_t panels = (g.k + mr - 1) / mr, filter_stride = g.c * 9;
  const int64_t grain = std::max<int64_t>(1, 64 / std::max<int64_t>(1, mr * g.c));  // 64 filters
  parallel_simd(panels, grain, [&](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t filters = std::min(mr, g.k - p * mr);
      for (int64_t c = 0; c < g.c; ++c) {
        T* const dst = u + (p * g.c + c) * mr;
        const T* const f0 = w + (p * mr * g.c + c) * 9;
#pragma omp simd
        for (int64_t r = 0; r < filters; ++r) {
          const T* f = f0 + r * filter_stride;
          T gf[A][3];  // G g, then (G g) G^T row by row
          for (int s = 0; s < 3; ++s) filter_column<M>(f[s], f[3 + s], f[6 + s], gf, s);
          for (int a = 0; a < A; ++a) {
            T row[A][1];
            filter_column<M>(gf[a][0], gf[a][1], gf[a][2], row, 0);
            for (int b = 0; b < A; ++b) dst[(a * A + b) * stride + r] = row[b][0];
          }
        }
        for (int64_t xi = 0; xi < XI; ++xi)  // rows past K
          for (int64_t r = filters; r < mr; ++r) dst[xi * stride + r] = T(0);
      }
    }
  }, 1);
  return u;
}

// The distance between consecutive U[xi], V[xi] and M[xi] (or D[xi]): their size plus one
// cache line. The transforms read or write all 16 or 36 of them at once, one vector each; at
// their plain distance, a multiple of 4 KiB for most channel counts, the streams share one set
// of L1 ways and evict each other (F(4x4)'s output transform ran 3x slower).
constexpr int64_t skewed(int64_t size) { return size + 16; }

// Per-thread scratch: V, M (D for dW), the input's phases (and their shifted copies), the
// output's phases, and the staging rows.
template <class T>
struct Scratch {
  std::vector<T> v, m, in, out, stage;
};
template <class T>
Scratch<T>& scratch() {
  static thread_local Scratch<T> s;
  return s;
}

// e[j], o[j] = columns 2j and 2j+1 of a row padded by pl zeros on the left (and zeros past its
// end), j < count. The interior reads the row directly, two vectors per output pair.
template <class T>
METALNET_INLINE void split_row(const T* row, int64_t w, int64_t pl, int64_t count, T* e, T* o) {
  const int64_t lo = std::min(count, (pl + 1) / 2);                       // 2j - pl >= 0
  const int64_t last = w + pl - 2;                                         // 2j + 1 - pl < w
  const int64_t hi = last < 0 ? lo : std::max(lo, std::min(count, last / 2 + 1));
  auto at = [&](int64_t col) { return col >= 0 && col < w ? row[col] : T(0); };
  for (int64_t j = 0; j < lo; ++j) e[j] = at(2 * j - pl), o[j] = at(2 * j + 1 - pl);
  const T* base = row - pl;
#pragma omp simd
  for (int64_t j = lo; j < hi; ++j) {
    e[j] = base[2 * j];
    o[j] = base[2 * j + 1];
  }
  for (int64_t j = hi; j < count; ++j) e[j] = at(2 * j - pl), o[j] = at(2 * j + 1 - pl);
}

// A run of tile rows [ti0, ti0 + rows) of image n, tw tiles a row; tile q = i * tw + j. The
// transforms run as one flat loop over a channel's tiles (vectors across tile rows, not only
// along one), so a patch's columns past its tile's own come from copies of the input rows
// split again one tile further along (`shifted`), not from the next tile's entries: those
// would cross into the next tile row at the end of each row.
struct Segment {
  int64_t n, ti0, rows, tw;
};

// Where V[xi] (C x width, tile t of channel c) lives: the GEMM's B panels, NR tiles wide and
// C deep, so the GEMMs read it without packing. With nr >= width it is a plain C x nr matrix.
struct PanelLayout {
  int64_t c, nr, xi_stride;
  METALNET_INLINE int64_t at(int64_t channel, int64_t t) const {
    return (t / nr) * nr * c + channel * nr + t % nr;
  }
};

// Channel c's `xis` staged rows of `tiles` transformed values (tiles first .. first + tiles of
// the block) copied into V's panels, in runs of tiles that share a panel.
template <class T>
METALNET_INLINE void unstage(const PanelLayout& layout, int64_t c, int64_t first, int64_t tiles,
                             int xis, const T* stage, T* v) {
  for (int64_t q = 0; q < tiles;) {
    const int64_t t = first + q, run = std::min(tiles - q, layout.nr - t % layout.nr);
    T* dst = v + layout.at(c, t);
    for (int xi = 0; xi < xis; ++xi)
      copy_run(dst + xi * layout.xi_stride, stage + xi * tiles + q, run);
    q += run;
  }
}

// V for the segment's tiles (numbered from `first` in the block), every channel. The padded
// input is first split into its four phases (even/odd rows x even/odd columns), and again two
// columns further (`shifted`), so that tile q's patch rows are phase rows q and q + tw, its
// columns 2j, 2j+1 from the phases and 2j+2, 2j+3 from the shifted phases. The 16 results go
// straight into the B panels where the segment's tiles lie in one panel, else to an L1 staging
// row and then in runs into the panels.
template <class T>
METALNET_INLINE void input_transform(const ConvGeometry& g, const T* x, const Segment& sg,
                                     const PanelLayout& layout, int64_t first, T* v, T* phase,
                                     T* stage) {
  const int64_t tw = sg.tw, count = (sg.rows + 1) * tw, tiles = sg.rows * tw;
  // ph[a][b][s]: rows of parity a, columns 2j + b + 2s.
  const auto ph = [&](int a, int b, int shifted) { return phase + ((a * 2 + b) * 2 + shifted) * count; };
  for (int64_t c = 0; c < g.c; ++c) {
    const T* plane = x + (sg.n * g.c + c) * g.h * g.w;
    for (int64_t i = 0; i <= sg.rows; ++i)
      for (int a = 0; a < 2; ++a) {
        const int64_t hh = 2 * (sg.ti0 + i) + a - g.pt;
        for (int shifted = 0; shifted < 2; ++shifted) {
          T* e = ph(a, 0, shifted) + i * tw;
          T* o = ph(a, 1, shifted) + i * tw;
          if (hh < 0 || hh >= g.h) {
            std::fill(e, e + tw, T(0));
            std::fill(o, o + tw, T(0));
          } else {
            split_row(plane + hh * g.w, g.w, g.pl - 2 * shifted, tw, e, o);
          }
        }
      }
    const bool direct = first % layout.nr + tiles <= layout.nr;
    T* const out = direct ? v + layout.at(c, first) : stage;
    const int64_t xi_stride = direct ? layout.xi_stride : tiles;
    const T *ee = ph(0, 0, 0), *eo = ph(0, 1, 0), *oe = ph(1, 0, 0), *oo = ph(1, 1, 0);
    const T *ee1 = ph(0, 0, 1), *eo1 = ph(0, 1, 1), *oe1 = ph(1, 0, 1), *oo1 = ph(1, 1, 1);
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      // Rows 0..3 of the tile: even/odd phase rows at q and q + tw. First d B along each row,
      // then B^T down the columns.
      const int64_t at[4] = {q, q, q + tw, q + tw};
      const T* e_row[4] = {ee, oe, ee, oe};
      const T* o_row[4] = {eo, oo, eo, oo};
      const T* e_next[4] = {ee1, oe1, ee1, oe1};
      const T* o_next[4] = {eo1, oo1, eo1, oo1};
      T h[4][4];
      for (int a = 0; a < 4; ++a) {
        const T e0 = e_row[a][at[a]], o0 = o_row[a][at[a]];
        const T e1 = e_next[a][at[a]], o1 = o_next[a][at[a]];
        h[a][0] = e0 - e1;
        h[a][1] = o0 + e1;
        h[a][2] = e1 - o0;
        h[a][3] = o0 - o1;
      }
      for (int b = 0; b < 4; ++b) {
        out[(0 + b) * xi_stride + q] = h[0][b] - h[2][b];
        out[(4 + b) * xi_stride + q] = h[1][b] + h[2][b];
        out[(8 + b) * xi_stride + q] = h[2][b] - h[1][b];
        out[(12 + b) * xi_stride + q] = h[1][b] - h[3][b];
      }
    }
    if (!direct) unstage(layout, c, first, tiles, 16, stage, v);
  }
}

// y[n, k, 2(ti0+i) + a, 2j + b] = (A^T M A)[a][b] (+ bias) for the segment's tiles, from
// M[xi][k][q]: one flat loop per channel into four output phases, then each output row is
// interleaved from two of them.
template <class T>
METALNET_INLINE void output_transform(const ConvGeometry& g, const T* m, int64_t k_stride,
                                      int64_t xi_stride,
                                      const T* bias, const Segment& sg, T* y, T* phase) {
  const int64_t tw = sg.tw, tiles = sg.rows * tw;
  const int64_t pairs = g.wo / 2;
  T* ph[2][2] = {{phase, phase + tiles}, {phase + 2 * tiles, phase + 3 * tiles}};
  for (int64_t k = 0; k < g.k; ++k) {
    const T* in = m + k * k_stride;
    const T add = bias ? bias[k] : T(0);
    T *p00 = ph[0][0], *p01 = ph[0][1], *p10 = ph[1][0], *p11 = ph[1][1];
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      T s0[4], s1[4];  // A^T M: rows 0+1+2 and 1-2-3
      for (int b = 0; b < 4; ++b) {
        const T m0 = in[(0 + b) * xi_stride + q], m1 = in[(4 + b) * xi_stride + q];
        const T m2 = in[(8 + b) * xi_stride + q], m3 = in[(12 + b) * xi_stride + q];
        s0[b] = m0 + m1 + m2;
        s1[b] = m1 - m2 - m3;
      }
      p00[q] = s0[0] + s0[1] + s0[2] + add;
      p01[q] = s0[1] - s0[2] - s0[3] + add;
      p10[q] = s1[0] + s1[1] + s1[2] + add;
      p11[q] = s1[1] - s1[2] - s1[3] + add;
    }
    T* plane = y + (sg.n * g.k + k) * g.ho * g.wo;
    for (int64_t i = 0; i < sg.rows; ++i)
      for (int a = 0; a < 2; ++a) {
        const int64_t oh = 2 * (sg.ti0 + i) + a;
        if (oh >= g.ho) break;
        T* dst = plane + oh * g.wo;
        const T* left = ph[a][0] + i * tw;
        const T* right = ph[a][1] + i * tw;
#pragma omp simd
        for (int64_t j = 0; j < pairs; ++j) {
          dst[2 * j] = left[j];
          dst[2 * j + 1] = right[j];
        }
        if (g.wo % 2) dst[g.wo - 1] = left[pairs];
      }
  }
}

// ------------------------------------------------------------------ F(4x4, 3x3)
// The same scheme with 4x4 output tiles from 6x6 input patches (the patches of neighbouring
// tiles overlap by two): 36 products per tile for 16 outputs, 2.25 per output against F(2x2)'s
// 4, so 1.78x fewer multiply-adds in the GEMMs, for transforms that are no cheaper per output
// and rounding about 6x larger (float32 relative error ~2e-6 at 64 channels, F(2x2) ~3e-7).
//     B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0 4 -4 -1 1 0;
//            0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0 4  0 -5 0 1]
//     A^T = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]

// The lanes of the phase splits' permutes: one 64-byte vector (split in two or four by the
// compiler where the ISA's vectors are narrower).
template <class T>
constexpr int kPhaseLanes = int(64 / sizeof(T));

// p[b][j] = column 4j + b of a row padded by pl zeros on the left (and zeros past its end),
// j < count, b < 4. [begin, end) is the memory holding the row (the whole tensor): vector loads
// may read anywhere in it, the lanes outside the row cleared.
template <class T>
METALNET_INLINE void split_row4(const T* row, int64_t w, int64_t pl, int64_t count,
                                const T* begin, const T* end, T* const (&p)[4]) {
  constexpr int L = kPhaseLanes<T>;
  const int64_t offset = (row - begin) - pl, size = end - begin;  // the padded row's start
  for (int64_t j = 0; j < count; j += L) {
    const int64_t at = offset + 4 * j;  // s[i] of the chunk is column 4j + i of the padded row
    const int lo = int(std::clamp<int64_t>(pl - 4 * j, 0, 4 * L));
    const int hi = int(std::clamp<int64_t>(pl + w - 4 * j, 0, 4 * L));
    T* const at_j[4] = {p[0] + j, p[1] + j, p[2] + j, p[3] + j};
    deinterleave4<T, L>(row - pl + 4 * j, int(std::min<int64_t>(L, count - j)), lo, hi,
                        at >= 0 && at + 4 * L <= size, at_j);
  }
}

// (d0 .. d5) B, the six transformed values of one row (or column) of a patch.
template <class T>
METALNET_INLINE void input_row4(T d0, T d1, T d2, T d3, T d4, T d5, T (&out)[6]) {
  const T p = d4 - T(4) * d2, q = d3 - T(4) * d1;
  const T u = d4 - d2, v = T(2) * (d3 - d1);
  out[0] = T(4) * d0 - T(5) * d2 + d4;
  out[1] = p + q;
  out[2] = p - q;
  out[3] = u + v;
  out[4] = u - v;
  out[5] = T(4) * d1 - T(5) * d3 + d5;
}

// V for the segment's tiles, as input_transform does for F(2x2): the padded input split into
// 16 phases (rows and columns mod 4), and again four columns further, so that row r, column s
// of tile q's patch is phase[r % 4][s][q + (r / 4) * tw] for s < 4 and the shifted
// phase[r % 4][s - 4][q + (r / 4) * tw] for s = 4, 5.
template <class T>
METALNET_INLINE void input_transform4(const ConvGeometry& g, const T* x, const Segment& sg,
                                      const PanelLayout& layout, int64_t first, T* v, T* phase,
                                      T* stage) {
  const int64_t tw = sg.tw, count = (sg.rows + 1) * tw, tiles = sg.rows * tw;
  const T* const x_end = x + g.n * g.c * g.h * g.w;
  for (int64_t c = 0; c < g.c; ++c) {
    const T* plane = x + (sg.n * g.c + c) * g.h * g.w;
    for (int64_t i = 0; i <= sg.rows; ++i)
      for (int a = 0; a < (i < sg.rows ? 4 : 2); ++a) {  // the last tile row's patches end at a = 1
        const int64_t hh = 4 * (sg.ti0 + i) + a - g.pt;
        T* const at = phase + a * 4 * count + i * tw;
        T* const cols[4] = {at, at + count, at + 2 * count, at + 3 * count};
        T* const next[2] = {cols[0] + 16 * count, cols[1] + 16 * count};
        if (hh < 0 || hh >= g.h) {
          for (T* col : cols) std::fill(col, col + tw, T(0));
          for (T* col : next) std::fill(col, col + tw, T(0));
          continue;
        }
        // The row split once, with one phase entry past the tiles, into the staging buffer
        // (free until the transform below writes it), the shifted phases 0 and 1 copied from
        // it one entry along (only columns 4j + 4 and 4j + 5 are needed).
        T* const wide[4] = {stage, stage + tw + 1, stage + 2 * (tw + 1), stage + 3 * (tw + 1)};
        split_row4(plane + hh * g.w, g.w, g.pl, tw + 1, x, x_end, wide);
        for (int b = 0; b < 4; ++b) copy_run(cols[b], wide[b], tw);
        for (int b = 0; b < 2; ++b) copy_run(next[b], wide[b] + 1, tw);
      }
    // Straight into V where the segment's tiles lie in one panel (always, with blocks of one
    // panel, unless one tile row is wider than a panel); else through the staging rows.
    const bool direct = first % layout.nr + tiles <= layout.nr;
    T* const out = direct ? v + layout.at(c, first) : stage;
    const int64_t xi_stride = direct ? layout.xi_stride : tiles;
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      T h[6][6];  // d B along each row of the patch
#pragma GCC unroll 6
      for (int r = 0; r < 6; ++r) {
        const T* row = phase + (r % 4) * 4 * count + q + (r / 4) * tw;
        const T* next = row + 16 * count;  // the shifted phases
        input_row4(row[0], row[count], row[2 * count], row[3 * count], next[0], next[count],
                   h[r]);
      }
#pragma GCC unroll 6
      for (int b = 0; b < 6; ++b) {  // then B^T down each column
        T col[6];
        input_row4(h[0][b], h[1][b], h[2][b], h[3][b], h[4][b], h[5][b], col);
#pragma GCC unroll 6
        for (int a = 0; a < 6; ++a) out[(a * 6 + b) * xi_stride + q] = col[a];
      }
    }
    if (!direct) unstage(layout, c, first, tiles, 36, stage, v);
  }
}

// A^T (m0 .. m5): four values.
template <class T>
METALNET_INLINE void output_row4(T m0, T m1, T m2, T m3, T m4, T m5, T (&out)[4]) {
  const T s = m1 + m2, t = m1 - m2, u = m3 + m4, v = m3 - m4;
  out[0] = m0 + s + u;
  out[1] = t + T(2) * v;
  out[2] = s + T(4) * u;
  out[3] = t + T(8) * v + m5;
}

// y = A^T M A (+ bias) for the segment's tiles, as output_transform does for F(2x2): one flat
// loop per channel into 16 output phases, then each output row interleaved from four of them.
template <class T>
METALNET_INLINE void output_transform4(const ConvGeometry& g, const T* m, int64_t k_stride,
                                       int64_t xi_stride,
                                       const T* bias, const Segment& sg, T* y, T* phase) {
  const int64_t tw = sg.tw, tiles = sg.rows * tw;
  const int64_t quads = g.wo / 4, rest = g.wo % 4;
  for (int64_t k = 0; k < g.k; ++k) {
    const T* in = m + k * k_stride;
    const T add = bias ? bias[k] : T(0);
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      T t[4][6];  // A^T M, column by column
#pragma GCC unroll 6
      for (int b = 0; b < 6; ++b) {
        T col[4];
        output_row4(in[(0 + b) * xi_stride + q], in[(6 + b) * xi_stride + q],
                    in[(12 + b) * xi_stride + q], in[(18 + b) * xi_stride + q],
                    in[(24 + b) * xi_stride + q], in[(30 + b) * xi_stride + q], col);
#pragma GCC unroll 4
        for (int a = 0; a < 4; ++a) t[a][b] = col[a];
      }
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {  // then (A^T M) A along each row
        T row[4];
        output_row4(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], row);
#pragma GCC unroll 4
        for (int b = 0; b < 4; ++b) phase[(a * 4 + b) * tiles + q] = row[b] + add;
      }
    }
    T* plane = y + (sg.n * g.k + k) * g.ho * g.wo;
    for (int64_t i = 0; i < sg.rows; ++i)
      for (int a = 0; a < 4; ++a) {
        const int64_t oh = 4 * (sg.ti0 + i) + a;
        if (oh >= g.ho) break;
        T* dst = plane + oh * g.wo;
        const T* p0 = phase + (a * 4 + 0) * tiles + i * tw;
        const T* p1 = phase + (a * 4 + 1) * tiles + i * tw;
        const T* p2 = phase + (a * 4 + 2) * tiles + i * tw;
        const T* p3 = phase + (a * 4 + 3) * tiles + i * tw;
        constexpr int L = kPhaseLanes<T>;
        for (int64_t j = 0; j < quads; j += L) {
          const T* const at_j[4] = {p0 + j, p1 + j, p2 + j, p3 + j};
          interleave4<T, L>(at_j, int(std::min<int64_t>(L, quads - j)), dst + 4 * j);
        }
        const T* tail[3] = {p0, p1, p2};
        for (int64_t b = 0; b < rest; ++b) dst[4 * quads + b] = tail[b][quads];
      }
  }
}

template <class T>
struct Job {
  const ConvGeometry& g;
  const Blocks& blocks;
  const T* x;
  const GemmTile& tile;
  const T* u;        // U[xi] as packed A panels, u_stride apart
  int64_t u_stride;
  const T* bias;
  T* y;
};

// The part of tile rows [r, r1) (flat over images) that lies in the image of row r.
METALNET_INLINE Segment segment_at(int64_t r, int64_t r1, int64_t th, int64_t tw) {
  return {r / th, r % th, std::min(r1 - r, th - r % th), tw};
}

// Block b: tile rows [r0, r1) of the flat (n, ti) sequence, by F(M x M, 3x3).
template <int M, class T>
METALNET_INLINE void run_block(const Job<T>& job, int64_t b, Scratch<T>& s) {
  constexpr int XI = (M + 2) * (M + 2);
  const ConvGeometry& g = job.g;
  const Blocks& bl = job.blocks;
  const int64_t r0 = b * bl.rows_per_block, r1 = std::min(g.n * bl.th, r0 + bl.rows_per_block);
  const int64_t width = bl.width;
  const PanelLayout layout{g.c, bl.nr, skewed(width * g.c)};
  const int64_t m_stride = skewed(g.k * width);
  // Tiles past the block's last, up to the panel edge, are computed by the GEMMs and never
  // stored; V there holds zeros (from allocation) or an earlier block's finite values.
  for (int64_t r = r0; r < r1;) {  // plain loops, not lambdas: they must inline into the ISA body
    const Segment sg = segment_at(r, r1, bl.th, bl.tw);
    if constexpr (M == 2)
      input_transform(g, job.x, sg, layout, (r - r0) * bl.tw, s.v.data(), s.in.data(), s.stage.data());
    else
      input_transform4(g, job.x, sg, layout, (r - r0) * bl.tw, s.v.data(), s.in.data(), s.stage.data());
    r += sg.rows;
  }
  for (int xi = 0; xi < XI; ++xi)
    gemm_panels<T>(job.tile, g.k, width, g.c, job.u + xi * job.u_stride,
                   s.v.data() + xi * layout.xi_stride, s.m.data() + xi * m_stride,
                   width);
  for (int64_t r = r0; r < r1;) {
    const Segment sg = segment_at(r, r1, bl.th, bl.tw);
    if constexpr (M == 2)
      output_transform(g, s.m.data() + (r - r0) * bl.tw, width, m_stride, job.bias, sg, job.y,
                       s.out.data());
    else
      output_transform4(g, s.m.data() + (r - r0) * bl.tw, width, m_stride, job.bias, sg, job.y,
                        s.out.data());
    r += sg.rows;
  }
}

// The transforms vectorised for each ISA (run_* from dispatch.h inline this body).
template <int M, class T>
struct BlockBody {
  const Job<T>& job;
  METALNET_SIMD_BODY void operator()(int64_t lo, int64_t hi) const {
    constexpr int XI = (M + 2) * (M + 2), PHASES = M * M;
    Scratch<T>& s = scratch<T>();
    const ConvGeometry& g = job.g;
    const int64_t rows = job.blocks.rows_per_block, tw = job.blocks.tw;
    const int64_t width = job.blocks.width;
    auto fit = [](std::vector<T>& buf, int64_t count) {
      if (buf.size() < size_t(count)) buf.resize(size_t(count));
    };
    fit(s.v, XI * skewed(g.c * width));
    fit(s.m, XI * skewed(g.k * width));
    fit(s.in, 2 * PHASES * (rows + 1) * tw);
    fit(s.out, PHASES * rows * tw + kPhaseLanes<T>);  // interleave4 reads whole vectors
    fit(s.stage, XI * rows * tw);
    for (int64_t b = lo; b < hi; ++b) run_block<M>(job, b, s);
  }
};

// ------------------------------------------------------------------ weight gradient
// By the transposition principle the same transforms give dW. For one row, F(2, 3) computes
// y = A^T [(G g) . (B^T d)], so sum_j dy_j y_j = sum_i (A dy)_i (G g)_i (B^T d)_i, whose
// gradient in g is G^T [(A dy) . (B^T d)]. In 2-D, summed over tiles:
//     dW[k, c] = G^T ( sum_t (A dy_t A^T)[k] . (B^T x_t B)[c] ) G
// so the 16 products become 16 GEMMs whose long dimension is the reduction over tiles:
//     M[xi] (K x C) = D[xi] (K x tiles) @ V[xi]^T (tiles x C).

// D[xi][k][first + q] = (A dy A^T)[xi] for the segment's tiles, A = [1 0; 1 1; 1 -1; 0 -1];
// a tile's cells past the output (odd sizes) see zeros.
template <class T>
METALNET_INLINE void grad_transform(const ConvGeometry& g, const T* dy, const Segment& sg,
                                    T* d, int64_t k_stride, int64_t xi_stride, int64_t first,
                                    T* phase) {
  const int64_t tw = sg.tw, tiles = sg.rows * tw;
  T* ph[2][2] = {{phase, phase + tiles}, {phase + 2 * tiles, phase + 3 * tiles}};
  for (int64_t k = 0; k < g.k; ++k) {
    const T* plane = dy + (sg.n * g.k + k) * g.ho * g.wo;
    for (int64_t i = 0; i < sg.rows; ++i)
      for (int a = 0; a < 2; ++a) {
        const int64_t oh = 2 * (sg.ti0 + i) + a;
        T* e = ph[a][0] + i * tw;
        T* o = ph[a][1] + i * tw;
        if (oh >= g.ho) {
          std::fill(e, e + tw, T(0));
          std::fill(o, o + tw, T(0));
        } else {
          split_row(plane + oh * g.wo, g.wo, 0, tw, e, o);
        }
      }
    const T *e0 = ph[0][0], *o0 = ph[0][1], *e1 = ph[1][0], *o1 = ph[1][1];
    T* out = d + k * k_stride + first;
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      const T r0[4] = {e0[q], e0[q] + o0[q], e0[q] - o0[q], -o0[q]};  // dy row 0 times A^T
      const T r1[4] = {e1[q], e1[q] + o1[q], e1[q] - o1[q], -o1[q]};
      for (int b = 0; b < 4; ++b) {
        out[(0 + b) * xi_stride + q] = r0[b];
        out[(4 + b) * xi_stride + q] = r0[b] + r1[b];
        out[(8 + b) * xi_stride + q] = r0[b] - r1[b];
        out[(12 + b) * xi_stride + q] = -r1[b];
      }
    }
  }
}

// G^T (m0 .. m3): three values, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1].
template <class T>
METALNET_INLINE void weight_row(const T (&m)[4], T (&out)[3]) {
  const T half_sum = T(0.5) * (m[1] + m[2]);
  out[0] = m[0] + half_sum;
  out[1] = T(0.5) * (m[1] - m[2]);
  out[2] = half_sum + m[3];
}

// The F(4x4) transposes: A (6 x 4) = (A^T)^T on dy's 4x4 tiles, G^T (3 x 6) on the sums.
// A (y0 .. y3): six values.
template <class T>
METALNET_INLINE void grad_row4(T y0, T y1, T y2, T y3, T (&out)[6]) {
  const T e = y0 + y2, o = y1 + y3, e4 = y0 + T(4) * y2, o4 = T(2) * y1 + T(8) * y3;
  out[0] = y0;
  out[1] = e + o;
  out[2] = e - o;
  out[3] = e4 + o4;
  out[4] = e4 - o4;
  out[5] = y3;
}

// D[xi][k][first + q] = (A dy A^T)[xi] for the segment's 4x4 tiles of dy (which do not
// overlap: dy is split into 16 phases, rows and columns mod 4); tiles past the output see zeros.
template <class T>
METALNET_INLINE void grad_transform4(const ConvGeometry& g, const T* dy, const Segment& sg,
                                     T* d, int64_t k_stride, int64_t xi_stride, int64_t first,
                                     T* phase) {
  const int64_t tw = sg.tw, tiles = sg.rows * tw;
  const T* const dy_end = dy + g.n * g.k * g.ho * g.wo;
  for (int64_t k = 0; k < g.k; ++k) {
    const T* plane = dy + (sg.n * g.k + k) * g.ho * g.wo;
    for (int64_t i = 0; i < sg.rows; ++i)
      for (int a = 0; a < 4; ++a) {
        const int64_t oh = 4 * (sg.ti0 + i) + a;
        T* const cols[4] = {phase + (a * 4 + 0) * tiles + i * tw,
                            phase + (a * 4 + 1) * tiles + i * tw,
                            phase + (a * 4 + 2) * tiles + i * tw,
                            phase + (a * 4 + 3) * tiles + i * tw};
        if (oh >= g.ho) {
          for (T* col : cols) std::fill(col, col + tw, T(0));
        } else {
          split_row4(plane + oh * g.wo, g.wo, 0, tw, dy, dy_end, cols);
        }
      }
    T* out = d + k * k_stride + first;
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      T h[4][6];  // dy A^T along each row of the tile
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        const T* row = phase + a * 4 * tiles + q;
        grad_row4(row[0], row[tiles], row[2 * tiles], row[3 * tiles], h[a]);
      }
#pragma GCC unroll 6
      for (int b = 0; b < 6; ++b) {  // then A down each column
        T col[6];
        grad_row4(h[0][b], h[1][b], h[2][b], h[3][b], col);
#pragma GCC unroll 6
        for (int a = 0; a < 6; ++a) out[(a * 6 + b) * xi_stride + q] = col[a];
      }
    }
  }
}

// G^T (m0 .. m5): three values.
template <class T>
METALNET_INLINE void weight_row(const T (&m)[6], T (&out)[3]) {
  const T sixth = T(1) / T(6), s12 = m[1] + m[2], s34 = m[3] + m[4];
  out[0] = T(0.25) * m[0] - sixth * s12 + T(1) / T(24) * s34;
  out[1] = sixth * (m[2] - m[1]) + T(1) / T(12) * (m[3] - m[4]);
  out[2] = sixth * (s34 - s12) + m[5];
}

// dw[k, c] (3 x 3) = G^T M[k, c] G for F(M x M), M[xi] (K x C) kc apart.
template <int M, class T>
void weight_output_transform(const ConvGeometry& g, const T* m, T* dw) {
  constexpr int A = M + 2;
  const int64_t kc = g.k * g.c;
  parallel_for(kc, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T t[3][A];  // G^T M, column by column
      for (int b = 0; b < A; ++b) {
        T col[A], out[3];
        for (int a = 0; a < A; ++a) col[a] = m[(a * A + b) * kc + i];
        weight_row(col, out);
        for (int r = 0; r < 3; ++r) t[r][b] = out[r];
      }
      for (int r = 0; r < 3; ++r) {  // (G^T M) G
        T out[3];
        weight_row(t[r], out);
        std::copy(out, out + 3, dw + i * 9 + r * 3);
      }
    }
  }, 1);
}

template <int M, class T>
void forward_tiles(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const GemmTile tile = gemm_tile<T>(g.k);  // K rows of the products
  const Blocks blocks = make_blocks(g, tile.nr, M);
  const int64_t u_stride =
      skewed((g.k + tile.mr - 1) / tile.mr * tile.mr * std::max<int64_t>(g.c, 1));
  const T* const u = transform_filters<M>(g, w, tile.mr, u_stride);
  const Job<T> job{g, blocks, x, tile, u, u_stride, b, y};
  const BlockBody<M, T> body{job};
  parallel_for(blocks.count, 1, [&](int64_t lo, int64_t hi) {
    METALNET_DISPATCH_ISA(run, body, lo, hi);
  }, 1);
}

}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.r == 3 && g.s == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

template <class T>
void conv2d_forward_winograd(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                             int tile) {
  if (tile != 2 && tile != 4) throw std::invalid_argument("winograd tiles are 2x2 or 4x4");
  if (g.n * g.ho * g.wo == 0 || g.k == 0) return;
  if (tile == 2) forward_tiles<2>(g, x, w, b, y);
  else forward_tiles<4>(g, x, w, b, y);
}

namespace {

// dW by the transposed F(M x M, 3x3), into dw (zeroed by the caller).
template <int M, class T>
void weight_grad_tiles(const ConvGeometry& g, const T* dy, const T* x, T* dw) {
  constexpr int XI = (M + 2) * (M + 2), PHASES = M * M;
  const int64_t kc = g.k * g.c;
  const int64_t th = (g.ho + M - 1) / M, tw = (g.wo + M - 1) / M, rows = g.n * th;
  // Blocks of tile rows whose D and V (XI x (K + C) values a tile) stay in L2; each thread
  // transforms its blocks and multiplies them into its own M (XI x K x C), and the threads' M
  // are added in thread order at the end.
  const int64_t per_tile = XI * (g.k + g.c) * int64_t(sizeof(T));
  const int64_t block_rows = std::max<int64_t>(1, std::min(rows, kGradBlockBytes / per_tile / tw));
  const int64_t blocks = (rows + block_rows - 1) / block_rows, width = block_rows * tw;
  const int threads = std::max(1, num_threads());
  static thread_local std::vector<T> partial_buffer;  // the calling thread's; pointers go below
  const size_t partial_size = size_t(threads) * XI * kc;
  if (partial_buffer.size() < partial_size) partial_buffer.resize(partial_size);
  T* const partial = partial_buffer.data();
  std::fill(partial, partial + partial_size, T(0));
  const PanelLayout plain{g.c, width, skewed(g.c * width)};
  const int64_t d_stride = skewed(g.k * width);
  parallel_simd(blocks, 1, [&](int64_t lo, int64_t hi) METALNET_SIMD_BODY {
    Scratch<T>& s = scratch<T>();
    auto fit = [](std::vector<T>& buf, int64_t count) {
      if (buf.size() < size_t(count)) buf.resize(size_t(count));
    };
    fit(s.v, XI * plain.xi_stride);
    fit(s.m, XI * d_stride);  // holds D here
    fit(s.in, 2 * PHASES * (block_rows + 1) * tw);
    fit(s.stage, XI * block_rows * tw);
    T* const v = s.v.data();
    T* const d = s.m.data();
    T* const m = partial + size_t(thread_index()) * XI * kc;
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t r0 = blk * block_rows, r1 = std::min(rows, r0 + block_rows);
      const int64_t tiles = (r1 - r0) * tw;
      for (int64_t r = r0; r < r1;) {
        const Segment sg = segment_at(r, r1, th, tw);
        if constexpr (M == 2) {
          input_transform(g, x, sg, plain, (r - r0) * tw, v, s.in.data(), s.stage.data());
          grad_transform(g, dy, sg, d, width, d_stride, (r - r0) * tw, s.stage.data());
        } else {
          input_transform4(g, x, sg, plain, (r - r0) * tw, v, s.in.data(), s.stage.data());
          grad_transform4(g, dy, sg, d, width, d_stride, (r - r0) * tw, s.stage.data());
        }
        r += sg.rows;
      }
      for (int xi = 0; xi < XI; ++xi)
        gemm_serial<T>(false, true, g.k, g.c, tiles, T(1), d + xi * d_stride, width,
                       v + xi * plain.xi_stride, width, T(1), m + xi * kc, g.c);
    }
  }, 1);
  for (int t = 1; t < threads; ++t)
    for (int64_t i = 0; i < XI * kc; ++i) partial[i] += partial[size_t(t) * XI * kc + i];
  weight_output_transform<M>(g, partial, dw);
}

}  // namespace

template <class T>
void conv2d_weight_grad_winograd(const ConvGeometry& g, const T* dy, const T* x, T* dw,
                                 int tile) {
  if (tile != 2 && tile != 4) throw std::invalid_argument("winograd tiles are 2x2 or 4x4");
  std::fill(dw, dw + g.k * g.c * 9, T(0));
  if (g.n * g.ho * g.wo == 0 || g.k * g.c == 0) return;
  if (tile == 2) weight_grad_tiles<2>(g, dy, x, dw);
  else weight_grad_tiles<4>(g, dy, x, dw);
}

template void conv2d_forward_winograd<float>(const ConvGeometry&, const float*, const float*,
                                             const float*, float*, int);
template void conv2d_forward_winograd<double>(const ConvGeometry&, const double*, const double*,
                                              const double*, double*, int);
template void conv2d_weight_grad_winograd<float>(const ConvGeometry&, const float*, const float*,
                                                 float*, int);
template void conv2d_weight_grad_winograd<double>(const ConvGeometry&, const double*,
                                                  const double*, double*, int);

}  // namespace metalnet
