// Convolution as one GEMM per kernel tap, over only the outputs whose input under that tap is
// real. On small images padding is a large share of im2col's work: a 3x3 kernel padded by 1
// puts 31% of its taps on padding at 4x4 outputs and 56% at 2x2 (ResNet's and VGG's last
// layers), and im2col multiplies every one of those zeros. Here tap t = (r, s) contributes
//
//   y[n, :, oh, ow] += W_t @ x[n, :, oh*sh - pt + r*dh, ow - pl + s*dw]       (W_t = w[:, :, r, s])
//
// for the rows oh and the run of columns ow where that input exists. With images innermost
// (x as H x W x N x C, y as Ho x Wo x N x K), such a run of outputs is a run of consecutive
// rows of both, so each (tap, output row) is one GEMM: (columns x N) x C @ C x K, its B the
// tap's weights packed once per call. dx is the same walk with dy and dx swapped and W_t not
// transposed: no flipped copy of the weights; dW the same walk again, each run adding
// dy_run^T @ x_run to its tap's K x C block. Stride 1 along rows keeps the runs contiguous.
#include <algorithm>
#include <vector>

#include "metalnet/conv2d.h"
#include "metalnet/conv2d_padded.h"
#include "metalnet/dispatch.h"
#include "metalnet/gemm.h"
#include "metalnet/gemm_config.h"
#include "metalnet/isa.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

// dst[j*dst_stride + i] = src[i*src_stride + j] (rows x cols) through register transposes,
// compiled for each ISA.
#define METALNET_TRANSPOSE_VARIANT(ISA, TARGET)                                                \
  template <class T>                                                                           \
  TARGET void transpose_##ISA(const T* src, int64_t src_stride, int64_t rows, int64_t cols,    \
                              T* dst, int64_t dst_stride) {                                    \
    transpose_block<T, GemmConfig<Isa::ISA, T>::lanes>(src, src_stride, rows, cols, dst,       \
                                                       dst_stride);                            \
  }
METALNET_TRANSPOSE_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_TRANSPOSE_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_TRANSPOSE_VARIANT(generic, )
#undef METALNET_TRANSPOSE_VARIANT

template <class T>
void transpose(const T* src, int64_t src_stride, int64_t rows, int64_t cols, T* dst,
               int64_t dst_stride) {
  METALNET_DISPATCH_ISA(transpose, src, src_stride, rows, cols, dst, dst_stride);
}

// (N, C, H*W) -> (H*W, N, C) and back: images and channels innermost for the GEMM rows. Each
// image is one C x HW transpose (its rows of the result n*c apart).
template <class T>
void to_rows(const T* src, int64_t n, int64_t c, int64_t hw, T* dst) {
  parallel_for(n, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0; i < n1; ++i) transpose(src + i * c * hw, hw, c, hw, dst + i * c, n * c);
  }, 1);
}
template <class T>
void from_rows(const T* src, int64_t n, int64_t c, int64_t hw, T* dst) {
  parallel_for(n, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0; i < n1; ++i) transpose(src + i * c, n * c, hw, c, dst + i * c * hw, hw);
  }, 1);
}

// Every tap's weights packed as a GEMM B operand in one pass over w (K, C, R*S): for the
// forward B_t = W_t^T (C x K), for dx B_t = W_t (K x C). Panels are `nr` columns wide, as
// gemm_pack_b lays them out (panel p: depth rows of nr, zero past the last column).
//
// L columns of a panel at a time, through L x L register transposes: L weight runs (one per
// column) are loaded as L vectors, L values each, and turned into L vectors across the columns,
// each one panel row of one tap. Forward, a column is an output channel k and its run w[k, :, :]
// is C*R*S contiguous values in the order (c, tap); for dx a column is an input channel c, and
// the L columns' runs for one k lie side by side, R*S values each. Element by element in scalar
// code the packing cost 8% of a VGG-11 training step (its 512-channel layers go by taps).
template <class T, int L>
METALNET_INLINE void pack_tap_columns(const ConvGeometry& g, const T* w, bool forward,
                                      int64_t nr, int64_t p, T* const* panel) {
  using V = typename SimdVec<T, L>::type;
  const int64_t taps = g.r * g.s, depth = forward ? g.c : g.k, cols = forward ? g.k : g.c;
  for (int64_t j0 = p * nr; j0 < (p + 1) * nr; j0 += L) {
    const int count = int(std::clamp<int64_t>(cols - j0, 0, L));
    const int64_t lane0 = j0 - p * nr;  // within the panel row
    // Forward: one pass over the L channels' (c, tap) runs; dx: one per row k, over its taps.
    const int64_t passes = forward ? 1 : depth, length = forward ? depth * taps : taps;
    for (int64_t d = 0; d < passes; ++d)
      for (int64_t q0 = 0; q0 < length; q0 += L) {
        const int cells = int(std::min<int64_t>(L, length - q0));
        const T* runs =  // no run read past the last column (count 0: none at all)
            count == 0 ? w : (forward ? w + j0 * g.c * taps : w + (d * g.c + j0) * taps) + q0;
        V block[L];
        load_transposed<T, L>(block, runs, forward ? g.c * taps : taps, count, cells);
        for (int c = 0; c < cells; ++c) {  // block[c]: position q0 + c of every column's run
          const int64_t q = q0 + c, row = forward ? q / taps : d, tap = forward ? q % taps : q;
          store_vec(panel[tap] + row * nr + lane0, block[c]);
        }
      }
  }
}

#define METALNET_PACK_TAPS_VARIANT(ISA, TARGET)                                                \
  template <class T>                                                                           \
  TARGET void pack_tap_panel_##ISA(const ConvGeometry& g, const T* w, bool forward, int64_t nr, \
                                   int64_t p, T* const* panel) {                               \
    pack_tap_columns<T, GemmConfig<Isa::ISA, T>::lanes>(g, w, forward, nr, p, panel);          \
  }
METALNET_PACK_TAPS_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_PACK_TAPS_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_PACK_TAPS_VARIANT(generic, )
#undef METALNET_PACK_TAPS_VARIANT

template <class T>
void pack_taps(const ConvGeometry& g, const T* w, bool forward, int64_t m_hint,
               std::vector<PackedB<T>>& panels) {
  const int64_t taps = g.r * g.s;
  const int64_t depth = forward ? g.c : g.k, cols = forward ? g.k : g.c;
  const int64_t nr = gemm_tile<T>(m_hint).nr, count = (cols + nr - 1) / nr;
  for (int64_t t = 0; t < taps; ++t) {
    PackedB<T>& b = panels[size_t(t)];
    b.isa = static_cast<int>(active_isa());
    b.nr = int(nr);
    b.k = depth;
    b.n = cols;
    b.data.resize(size_t(count * nr * std::max<int64_t>(depth, 1)));
  }
  parallel_for(count, 1, [&](int64_t p0, int64_t p1) {
    std::vector<T*> panel(static_cast<size_t>(taps));  // panel p of every tap
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t t = 0; t < taps; ++t)
        panel[size_t(t)] = panels[size_t(t)].data.data() + p * depth * nr;
      METALNET_DISPATCH_ISA(pack_tap_panel, g, w, forward, nr, p, panel.data());
    }
  }, 1);
}

// Calls run(in_row, out_row, rows) for every (tap, output row) whose input exists: `rows` GEMM
// rows starting at row in_row of the input (H x W x N) and out_row of the output (Ho x Wo x N).
// Whole output rows of consecutive oh whose inputs are whole consecutive rows merge into one.
template <class Run>
void walk_taps(const ConvGeometry& g, int64_t tap, Run&& run) {
  const int64_t r = tap / g.s, s = tap % g.s;
  const int64_t ow0 = std::max<int64_t>(0, g.pl - s * g.dw);
  const int64_t ow1 = std::min<int64_t>(g.wo, g.w + g.pl - s * g.dw);
  if (ow0 >= ow1) return;
  const bool whole = ow0 == 0 && ow1 == g.wo && g.w == g.wo && g.sh == 1;
  int64_t oh = 0;
  while (oh < g.ho) {
    const int64_t ih = oh * g.sh - g.pt + r * g.dh;
    if (ih < 0 || ih >= g.h) {
      ++oh;
      continue;
    }
    int64_t count = 1;  // output rows in this GEMM
    if (whole)
      while (oh + count < g.ho && ih + count < g.h) ++count;
    const int64_t iw0 = ow0 - g.pl + s * g.dw;
    run((ih * g.w + iw0) * g.n, (oh * g.wo + ow0) * g.n,
        whole ? count * g.wo * g.n : (ow1 - ow0) * g.n);
    oh += count;
  }
}

// One packed B per tap, the calling thread's, kept across calls (their pages are then warm).
template <class T>
std::vector<PackedB<T>>& tap_panels(int64_t taps) {
  static thread_local std::vector<PackedB<T>> panels;
  if (int64_t(panels.size()) < taps) panels.resize(size_t(taps));
  return panels;
}

// The forward (x -> y, B_t = W_t^T) or dx (dy -> dx, B_t = W_t): the source turned into rows,
// every tap's GEMMs accumulated into the destination's rows, turned back (+ bias).
template <class T>
void taps_pass(const ConvGeometry& g, bool forward, const T* src, const T* w, const T* b,
               T* dst) {
  const int64_t taps = g.r * g.s, in_cells = g.h * g.w, out_cells = g.ho * g.wo;
  const int64_t src_c = forward ? g.c : g.k, dst_c = forward ? g.k : g.c;
  const int64_t src_cells = forward ? in_cells : out_cells;
  const int64_t dst_cells = forward ? out_cells : in_cells;
  if (g.n * src_cells * dst_cells == 0 || dst_c == 0) return;
  T* st = conv_scratch<T, 6>(size_t(src_cells * g.n * src_c));
  T* dt = conv_scratch<T, 7>(size_t(dst_cells * g.n * dst_c));
  to_rows(src, g.n, src_c, src_cells, st);
  // Every destination row starts as the bias (the forward's) or zero; the GEMMs add to it.
  for (int64_t row = 0; row < dst_cells * g.n; ++row)
    for (int64_t j = 0; j < dst_c; ++j) dt[row * dst_c + j] = b ? b[j] : T(0);
  std::vector<PackedB<T>>& panels = tap_panels<T>(taps);
  pack_taps(g, w, forward, g.wo * g.n, panels);  // tiles for GEMMs of about a row of outputs
  for (int64_t t = 0; t < taps; ++t)
    walk_taps(g, t, [&](int64_t in_row, int64_t out_row, int64_t rows) {
      const int64_t from = forward ? in_row : out_row, to = forward ? out_row : in_row;
      gemm_packed(false, rows, dst_c, src_c, T(1), st + from * src_c, src_c, panels[t], T(1),
                  dt + to * dst_c, dst_c);
    });
  from_rows(dt, g.n, dst_c, dst_cells, dst);
}

// Every tap's K x C block (sums: taps x K x C) into dw's (K, C, R*S) layout.
template <class T>
void gather_taps(const ConvGeometry& g, const T* sums, T* dw) {
  const int64_t taps = g.r * g.s, kc = g.k * g.c;
  parallel_for(g.k, 1, [&](int64_t k0, int64_t k1) {  // a taps x (k1-k0)*C transpose
    transpose(sums + k0 * g.c, kc, taps, (k1 - k0) * g.c, dw + k0 * g.c * taps, taps);
  }, 1);
}

}  // namespace

bool taps_applies(const ConvGeometry& g) { return g.sw == 1; }

template <class T>
void conv2d_forward_taps(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  taps_pass(g, true, x, w, b, y);
}

template <class T>
void conv2d_dx_taps(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  taps_pass(g, false, dy, w, static_cast<const T*>(nullptr), dx);
}

template <class T>
void conv2d_weight_grad_taps(const ConvGeometry& g, const T* dy, const T* x, T* dw) {
  const int64_t taps = g.r * g.s, in_cells = g.h * g.w, out_cells = g.ho * g.wo, kc = g.k * g.c;
  T* sums = conv_scratch<T, 5>(size_t(taps * kc));
  T* xt = conv_scratch<T, 6>(size_t(in_cells * g.n * g.c));
  T* dyt = conv_scratch<T, 7>(size_t(out_cells * g.n * g.k));
  to_rows(x, g.n, g.c, in_cells, xt);
  to_rows(dy, g.n, g.k, out_cells, dyt);
  for (int64_t t = 0; t < taps; ++t) {
    T beta = T(0);  // the tap's first run writes its block, the others add to it
    walk_taps(g, t, [&](int64_t in_row, int64_t out_row, int64_t rows) {
      gemm<T>(true, false, g.k, g.c, rows, T(1), dyt + out_row * g.k, g.k, xt + in_row * g.c,
              g.c, beta, sums + t * kc, g.c);
      beta = T(1);
    });
    if (beta == T(0)) std::fill(sums + t * kc, sums + (t + 1) * kc, T(0));  // only padding
  }
  gather_taps(g, static_cast<const T*>(sums), dw);
}

template void conv2d_forward_taps<float>(const ConvGeometry&, const float*, const float*,
                                         const float*, float*);
template void conv2d_forward_taps<double>(const ConvGeometry&, const double*, const double*,
                                          const double*, double*);
template void conv2d_dx_taps<float>(const ConvGeometry&, const float*, const float*, float*);
template void conv2d_dx_taps<double>(const ConvGeometry&, const double*, const double*, double*);
template void conv2d_weight_grad_taps<float>(const ConvGeometry&, const float*, const float*,
                                             float*);
template void conv2d_weight_grad_taps<double>(const ConvGeometry&, const double*, const double*,
                                              double*);

}  // namespace metalnet
