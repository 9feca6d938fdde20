// Winograd F(2x2, 3x3) convolution (forward; stride 1, dilation 1, 3x3 kernels).
//
// Each 2x2 block of outputs ("tile") comes from a 4x4 patch d of the padded input. With the
// transforms (docs/convolution.md derives them, metalnet.explain.winograd runs them in NumPy)
//     V = B^T d B      U = G g G^T      Y = A^T (U . V) A
// the 36 multiplications of a tile per (input, output) channel pair become 16, and over all
// channels the 16 elementwise products turn into 16 independent GEMMs:
//     M[xi] (K x tiles) = U[xi] (K x C) @ V[xi] (C x tiles),   xi = 0..15.
// So 2.25x fewer multiply-adds than a direct or im2col convolution, run by our GEMM. The
// transforms are additions only; they run vectorised along a row of tiles, with the input's
// even and odd columns split apart first so that every access is unit-stride.
//
// Work is cut into blocks of whole tile rows (over the flat batch) that keep V and M in the
// L2/L3 caches; each thread transforms, multiplies and un-transforms its own blocks.
#include <algorithm>
#include <cstring>
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
constexpr int64_t kMaxPanels = 2, kBlockOverheadTiles = 24;
// The weight gradient's blocks: D and V of a block within this many bytes (most of L2).
constexpr int64_t kGradBlockBytes = int64_t(768) << 10;

struct Blocks {
  int64_t th, w1;            // tile rows per image; tile columns per row (one extra, below)
  int64_t rows_per_block, count;
  int64_t nr, width;         // GEMM panel width; tiles per block rounded up to whole panels
};

// Blocks of whole tile rows. The row count per block is picked to waste least: tiles past the
// last GEMM panel, threads left idle by an uneven share of blocks, and the fixed cost of a block
// (small GEMMs). Rows of w1 tiles rarely fill panels exactly (8 rows of 17 = 136 tiles in 160).
Blocks make_blocks(const ConvGeometry& g, int64_t nr) {
  const int64_t max_tiles = kMaxPanels * nr;
  const int64_t th = (g.ho + 1) / 2, w1 = (g.wo + 1) / 2 + 1, rows = g.n * th;
  const int64_t threads = std::max(1, num_threads());
  const int64_t most = std::max<int64_t>(1, std::min(rows, max_tiles / w1));
  double best = 0;
  int64_t pick = 1;
  for (int64_t per = 1; per <= most; ++per) {
    const int64_t tiles = per * w1, width = (tiles + nr - 1) / nr * nr;
    const int64_t count = (rows + per - 1) / per, rounds = (count + threads - 1) / threads;
    const double work = double(rounds) * width * (1.0 + double(kBlockOverheadTiles) / tiles);
    const double ideal = double(rows) * w1 / threads;
    const double cost = work / ideal;
    if (per == 1 || cost < best) best = cost, pick = per;
  }
  return {th, w1, pick, (rows + pick - 1) / pick, nr, (pick * w1 + nr - 1) / nr * nr};
}

// U[xi] (K x C) = (G g G^T)[xi] for every filter g = w[k, c], G = [1 0 0; .5 .5 .5; .5 -.5 .5;
// 0 0 1], written straight into the GEMM's A panels (MR rows of K; rows past K zero):
// U[xi] starts at xi * stride, element (k, c) at (k / MR) * MR*C + c * MR + k % MR.
// The panels live in the calling thread's buffer, kept across calls (megabytes at 256 channels:
// fresh pages would cost more than the transform).
// Threads take whole panels and walk them in the panels' own order -- channel by channel, the
// MR filters of a channel side by side as vector lanes (their taps gathered C*9 apart) -- so
// each of the 16 U[xi] is written as one forward stream of MR-value stores; filter by filter in
// scalar code it cost 2-3% of a ResNet-18 training step. Only the padding rows of the last panel
// are cleared, not the whole buffer.
template <class T>
const T* transform_filters(const ConvGeometry& g, const T* w, int64_t mr, int64_t stride) {
  static thread_local std::vector<T> buffer;
  if (buffer.size() < size_t(16 * stride)) buffer.resize(size_t(16 * stride));
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
          T gf[4][3];  // G g
          for (int s = 0; s < 3; ++s) {
            gf[0][s] = f[s];
            gf[1][s] = T(0.5) * (f[s] + f[3 + s] + f[6 + s]);
            gf[2][s] = T(0.5) * (f[s] - f[3 + s] + f[6 + s]);
            gf[3][s] = f[6 + s];
          }
          for (int a = 0; a < 4; ++a) {  // (G g) G^T
            dst[(a * 4 + 0) * stride + r] = gf[a][0];
            dst[(a * 4 + 1) * stride + r] = T(0.5) * (gf[a][0] + gf[a][1] + gf[a][2]);
            dst[(a * 4 + 2) * stride + r] = T(0.5) * (gf[a][0] - gf[a][1] + gf[a][2]);
            dst[(a * 4 + 3) * stride + r] = gf[a][2];
          }
        }
        for (int64_t xi = 0; xi < 16; ++xi)  // rows past K
          for (int64_t r = filters; r < mr; ++r) dst[xi * stride + r] = T(0);
      }
    }
  }, 1);
  return u;
}

// Per-thread scratch: V, M, the input's four phases and the output's four phases.
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

// A run of tile rows [ti0, ti0 + rows) of image n. Tiles are numbered q = i * w1 + j with
// w1 = tw + 1 columns: the extra column lets the transforms below run as one flat loop over a
// channel's tiles (a tile row's last tile reads one step past its row), at the price of one
// discarded tile per row in the GEMMs.
struct Segment {
  int64_t n, ti0, rows, w1;
};

// Where V[xi] (C x width, tile t of channel c) lives: the GEMM's B panels, NR tiles wide and
// C deep, so the GEMMs read it without packing. With nr >= width it is a plain C x nr matrix.
struct PanelLayout {
  int64_t c, nr, xi_stride;
  METALNET_INLINE int64_t at(int64_t channel, int64_t t) const {
    return (t / nr) * nr * c + channel * nr + t % nr;
  }
};

// V for the segment's tiles (numbered from `first` in the block), every channel. The padded
// input is first split into its four phases (even/odd rows x even/odd columns), so that the 16
// inputs of tile q are phase[..][q], phase[..][q + 1], phase[..][q + w1], phase[..][q + w1 + 1];
// the 16 results go to an L1 staging row, then in runs into the B panels.
template <class T>
METALNET_INLINE void input_transform(const ConvGeometry& g, const T* x, const Segment& sg,
                                     const PanelLayout& layout, int64_t first, T* v, T* phase,
                                     T* stage) {
  const int64_t w1 = sg.w1, count = (sg.rows + 1) * w1, tiles = sg.rows * w1;
  T* ph[2][2] = {{phase, phase + (count + 1)}, {phase + 2 * (count + 1), phase + 3 * (count + 1)}};
  for (int p = 0; p < 4; ++p) phase[p * (count + 1) + count] = T(0);  // read by the last tile only
  const int64_t xi_stride = tiles;
  for (int64_t c = 0; c < g.c; ++c) {
    const T* plane = x + (sg.n * g.c + c) * g.h * g.w;
    for (int64_t i = 0; i <= sg.rows; ++i)
      for (int a = 0; a < 2; ++a) {
        const int64_t hh = 2 * (sg.ti0 + i) + a - g.pt;
        T* e = ph[a][0] + i * w1;
        T* o = ph[a][1] + i * w1;
        if (hh < 0 || hh >= g.h) {
          std::fill(e, e + w1, T(0));
          std::fill(o, o + w1, T(0));
        } else {
          split_row(plane + hh * g.w, g.w, g.pl, w1, e, o);
        }
      }
    const T *ee = ph[0][0], *eo = ph[0][1], *oe = ph[1][0], *oo = ph[1][1];
    T* out = stage;
#pragma omp simd
    for (int64_t q = 0; q < tiles; ++q) {
      // Rows 0..3 of the tile: even/odd phase rows at q and q + w1; columns 2j .. 2j+3 are
      // e[q], o[q], e[q+1], o[q+1]. First d B along each row, then B^T down the columns.
      const T* e_row[4] = {ee + q, oe + q, ee + q + w1, oe + q + w1};
      const T* o_row[4] = {eo + q, oo + q, eo + q + w1, oo + q + w1};
      T h[4][4];
      for (int a = 0; a < 4; ++a) {
        const T e0 = e_row[a][0], e1 = e_row[a][1], o0 = o_row[a][0], o1 = o_row[a][1];
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
    for (int64_t q = 0; q < tiles;) {  // runs of tiles that share a panel
      const int64_t t = first + q, run = std::min(tiles - q, layout.nr - t % layout.nr);
      T* dst = v + layout.at(c, t);
      for (int xi = 0; xi < 16; ++xi)
        copy_run(dst + xi * layout.xi_stride, stage + xi * tiles + q, run);
      q += run;
    }
  }
}

// y[n, k, 2(ti0+i) + a, 2j + b] = (A^T M A)[a][b] (+ bias) for the segment's tiles, from
// M[xi][k][q]: one flat loop per channel into four output phases, then each output row is
// interleaved from two of them.
template <class T>
METALNET_INLINE void output_transform(const ConvGeometry& g, const T* m, int64_t k_stride,
                                      const T* bias, const Segment& sg, T* y, T* phase) {
  const int64_t w1 = sg.w1, tiles = sg.rows * w1, xi_stride = g.k * k_stride;
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
        const T* left = ph[a][0] + i * w1;
        const T* right = ph[a][1] + i * w1;
#pragma omp simd
        for (int64_t j = 0; j < pairs; ++j) {
          dst[2 * j] = left[j];
          dst[2 * j + 1] = right[j];
        }
        if (g.wo % 2) dst[g.wo - 1] = left[pairs];
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
METALNET_INLINE Segment segment_at(int64_t r, int64_t r1, int64_t th, int64_t w1) {
  return {r / th, r % th, std::min(r1 - r, th - r % th), w1};
}

// Block b: tile rows [r0, r1) of the flat (n, ti) sequence.
template <class T>
METALNET_INLINE void run_block(const Job<T>& job, int64_t b, Scratch<T>& s) {
  const ConvGeometry& g = job.g;
  const Blocks& bl = job.blocks;
  const int64_t r0 = b * bl.rows_per_block, r1 = std::min(g.n * bl.th, r0 + bl.rows_per_block);
  const int64_t width = bl.width, tiles = (r1 - r0) * bl.w1;
  const PanelLayout layout{g.c, bl.nr, width * g.c};
  // Tiles past the block's last, up to the panel edge, are computed by the GEMMs and never
  // stored; V there holds zeros (from allocation) or an earlier block's finite values.
  for (int64_t r = r0; r < r1;) {  // plain loops, not lambdas: they must inline into the ISA body
    const Segment sg = segment_at(r, r1, bl.th, bl.w1);
    input_transform(g, job.x, sg, layout, (r - r0) * bl.w1, s.v.data(), s.in.data(), s.stage.data());
    r += sg.rows;
  }
  for (int xi = 0; xi < 16; ++xi)
    gemm_panels<T>(job.tile, g.k, width, g.c, job.u + xi * job.u_stride,
                   s.v.data() + xi * layout.xi_stride, s.m.data() + size_t(xi) * g.k * width,
                   width);
  for (int64_t r = r0; r < r1;) {
    const Segment sg = segment_at(r, r1, bl.th, bl.w1);
    output_transform(g, s.m.data() + (r - r0) * bl.w1, width, job.bias, sg, job.y, s.out.data());
    r += sg.rows;
  }
}

// The transforms vectorised for each ISA (run_* from dispatch.h inline this body).
template <class T>
struct BlockBody {
  const Job<T>& job;
  METALNET_SIMD_BODY void operator()(int64_t lo, int64_t hi) const {
    Scratch<T>& s = scratch<T>();
    const ConvGeometry& g = job.g;
    const int64_t rows = job.blocks.rows_per_block, w1 = job.blocks.w1;
    const int64_t width = job.blocks.width;
    auto fit = [](std::vector<T>& buf, int64_t count) {
      if (buf.size() < size_t(count)) buf.resize(size_t(count));
    };
    fit(s.v, 16 * g.c * width);
    fit(s.m, 16 * g.k * width);
    fit(s.in, 4 * ((rows + 1) * w1 + 1));
    fit(s.out, 4 * rows * w1);
    fit(s.stage, 16 * rows * w1);
    for (int64_t b = lo; b < hi; ++b) run_block(job, b, s);
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
// tiles in the column past the output (and rows past it) see zeros.
template <class T>
METALNET_INLINE void grad_transform(const ConvGeometry& g, const T* dy, const Segment& sg,
                                    T* d, int64_t k_stride, int64_t first, T* phase) {
  const int64_t w1 = sg.w1, tiles = sg.rows * w1, xi_stride = g.k * k_stride;
  T* ph[2][2] = {{phase, phase + tiles}, {phase + 2 * tiles, phase + 3 * tiles}};
  for (int64_t k = 0; k < g.k; ++k) {
    const T* plane = dy + (sg.n * g.k + k) * g.ho * g.wo;
    for (int64_t i = 0; i < sg.rows; ++i)
      for (int a = 0; a < 2; ++a) {
        const int64_t oh = 2 * (sg.ti0 + i) + a;
        T* e = ph[a][0] + i * w1;
        T* o = ph[a][1] + i * w1;
        if (oh >= g.ho) {
          std::fill(e, e + w1, T(0));
          std::fill(o, o + w1, T(0));
        } else {
          split_row(plane + oh * g.wo, g.wo, 0, w1, e, o);
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

// dw[k, c] (3 x 3) = G^T M[k, c] G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1].
template <class T>
void weight_output_transform(const ConvGeometry& g, const T* m, T* dw) {
  const int64_t kc = g.k * g.c;
  parallel_for(kc, 256, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T t[3][4];  // G^T M
      for (int b = 0; b < 4; ++b) {
        const T m0 = m[(0 + b) * kc + i], m1 = m[(4 + b) * kc + i];
        const T m2 = m[(8 + b) * kc + i], m3 = m[(12 + b) * kc + i];
        t[0][b] = m0 + T(0.5) * (m1 + m2);
        t[1][b] = T(0.5) * (m1 - m2);
        t[2][b] = T(0.5) * (m1 + m2) + m3;
      }
      T* out = dw + i * 9;
      for (int r = 0; r < 3; ++r) {  // (G^T M) G
        out[r * 3 + 0] = t[r][0] + T(0.5) * (t[r][1] + t[r][2]);
        out[r * 3 + 1] = T(0.5) * (t[r][1] - t[r][2]);
        out[r * 3 + 2] = T(0.5) * (t[r][1] + t[r][2]) + t[r][3];
      }
    }
  }, 1);
}

}  // namespace

bool winograd_applies(const ConvGeometry& g) {
  return g.r == 3 && g.s == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

template <class T>
void conv2d_forward_winograd(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (g.n * g.ho * g.wo == 0 || g.k == 0) return;
  const GemmTile tile = gemm_tile<T>(g.k);  // K rows of the 16 products
  const Blocks blocks = make_blocks(g, tile.nr);
  const int64_t u_stride = (g.k + tile.mr - 1) / tile.mr * tile.mr * std::max<int64_t>(g.c, 1);
  const T* const u = transform_filters(g, w, tile.mr, u_stride);
  const Job<T> job{g, blocks, x, tile, u, u_stride, b, y};
  const BlockBody<T> body{job};
  parallel_for(blocks.count, 1, [&](int64_t lo, int64_t hi) {
    METALNET_DISPATCH_ISA(run, body, lo, hi);
  }, 1);
}

template <class T>
void conv2d_weight_grad_winograd(const ConvGeometry& g, const T* dy, const T* x, T* dw) {
  const int64_t kc = g.k * g.c;
  std::fill(dw, dw + kc * 9, T(0));
  if (g.n * g.ho * g.wo == 0 || kc == 0) return;
  const int64_t th = (g.ho + 1) / 2, w1 = (g.wo + 1) / 2 + 1, rows = g.n * th;
  // Blocks of tile rows whose D and V (16 x (K + C) values a tile) stay in L2; each thread
  // transforms its blocks and multiplies them into its own M (16 x K x C), and the threads' M
  // are added in thread order at the end.
  const int64_t per_tile = 16 * (g.k + g.c) * int64_t(sizeof(T));
  const int64_t block_rows = std::max<int64_t>(1, std::min(rows, kGradBlockBytes / per_tile / w1));
  const int64_t blocks = (rows + block_rows - 1) / block_rows, width = block_rows * w1;
  const int threads = std::max(1, num_threads());
  static thread_local std::vector<T> partial_buffer;  // the calling thread's; pointers go below
  if (partial_buffer.size() < size_t(threads) * 16 * kc) partial_buffer.resize(size_t(threads) * 16 * kc);
  T* const partial = partial_buffer.data();
  std::fill(partial, partial + size_t(threads) * 16 * kc, T(0));
  const PanelLayout plain{g.c, width, g.c * width};
  parallel_simd(blocks, 1, [&](int64_t lo, int64_t hi) METALNET_SIMD_BODY {
    Scratch<T>& s = scratch<T>();
    auto fit = [](std::vector<T>& buf, int64_t count) {
      if (buf.size() < size_t(count)) buf.resize(size_t(count));
    };
    fit(s.v, 16 * g.c * width);
    fit(s.m, 16 * g.k * width);  // holds D here
    fit(s.in, 4 * ((block_rows + 1) * w1 + 1));
    fit(s.stage, 16 * block_rows * w1);
    T* const v = s.v.data();
    T* const d = s.m.data();
    T* const m = partial + size_t(thread_index()) * 16 * kc;
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t r0 = blk * block_rows, r1 = std::min(rows, r0 + block_rows);
      const int64_t tiles = (r1 - r0) * w1;
      for (int64_t r = r0; r < r1;) {
        const Segment sg = segment_at(r, r1, th, w1);
        input_transform(g, x, sg, plain, (r - r0) * w1, v, s.in.data(), s.stage.data());
        grad_transform(g, dy, sg, d, width, (r - r0) * w1, s.stage.data());
        r += sg.rows;
      }
      for (int xi = 0; xi < 16; ++xi)
        gemm_serial<T>(false, true, g.k, g.c, tiles, T(1), d + xi * g.k * width, width,
                       v + xi * g.c * width, width, T(1), m + xi * kc, g.c);
    }
  }, 1);
  for (int t = 1; t < threads; ++t)
    for (int64_t i = 0; i < 16 * kc; ++i) partial[i] += partial[size_t(t) * 16 * kc + i];
  weight_output_transform(g, partial, dw);
}

template void conv2d_forward_winograd<float>(const ConvGeometry&, const float*, const float*,
                                             const float*, float*);
template void conv2d_forward_winograd<double>(const ConvGeometry&, const double*, const double*,
                                              const double*, double*);
template void conv2d_weight_grad_winograd<float>(const ConvGeometry&, const float*, const float*,
                                                 float*);
template void conv2d_weight_grad_winograd<double>(const ConvGeometry&, const double*,
                                                  const double*, double*);

}  // namespace metalnet
