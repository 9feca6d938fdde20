// Pooling: one thread per group of (n, c) planes; inside a plane, each output row is built by
// sweeping the window offsets (r, s) in row-major order and, for each, updating all outputs of
// the row at once -- a unit- or constant-stride loop over ow that the compiler vectorises.
#include "metalnet/pooling.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "metalnet/dispatch.h"

namespace metalnet {
namespace {

// Outputs ow whose window column ow*sw - pl + s falls inside [0, W): [lo, hi).
METALNET_INLINE void valid_cols(const PoolGeometry& g, int64_t s, int64_t& lo, int64_t& hi) {
  const int64_t first = g.pl - s;  // ow*sw >= pl - s
  lo = first <= 0 ? 0 : (first + g.sw - 1) / g.sw;
  const int64_t last = g.w - 1 + g.pl - s;  // ow*sw <= W - 1 + pl - s
  hi = last < 0 ? 0 : std::min(g.wo, last / g.sw + 1);
}

METALNET_INLINE void valid_rows(const PoolGeometry& g, int64_t oh, int64_t& h0, int64_t& h1) {
  const int64_t top = oh * g.sh - g.pt;
  h0 = std::max<int64_t>(top, 0);
  h1 = std::min<int64_t>(top + g.kh, g.h);
}

// The valid output columns [lo[s], hi[s]) of every window column s, computed once per call:
// the per-row loops then do no integer division (on LeNet's 28- and 10-wide planes, the
// divisions cost more than the pooling itself).
struct ColumnRanges {
  std::vector<int64_t> lo, hi;
  explicit ColumnRanges(const PoolGeometry& g) : lo(size_t(g.kw)), hi(size_t(g.kw)) {
    for (int64_t s = 0; s < g.kw; ++s) valid_cols(g, s, lo[size_t(s)], hi[size_t(s)]);
  }
};

// Windows that tile the planes exactly (stride = kernel, no padding, no leftover): a run of
// planes is one block of rows, so a window's columns are summed by one flat strided loop and
// its rows by one pass over the output rows. Tiny planes (LeNet's 10 x 10) then no longer pay
// a handful of short loops per output row. Runs of planes are cut to keep the column sums in L1.
bool tiles_exactly(const PoolGeometry& g) {
  return g.kh == g.sh && g.kw == g.sw && g.pt == 0 && g.pl == 0 && g.h == g.ho * g.kh &&
         g.w == g.wo * g.kw;
}

constexpr int64_t kTiledSums = 4096;  // column sums per run of planes

int64_t planes_per_run(const PoolGeometry& g) {
  return std::max<int64_t>(1, kTiledSums / std::max<int64_t>(1, g.h * g.wo));
}

// y (rows_out x wo) = scale * window sums of x (rows_out*kh x W); cs: rows_out*kh*wo scratch.
// Plane-parallel loop: enough planes per thread that a thread gets >= 32K elements.
template <class Body>
void over_planes(const PoolGeometry& g, const Body& body) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.h * g.w));
  parallel_simd(g.planes, grain, body, 1);
}

// Runs f(first plane, planes) over runs of at most planes_per_run(g) whole planes, each thread
// on its own planes (the tiled kernels); f is METALNET_SIMD_BODY so it is compiled per ISA.
template <class F>
void over_plane_runs(const PoolGeometry& g, const F& f) {
  const int64_t run = planes_per_run(g);
  over_planes(g, [=](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    for (int64_t p = p0; p < p1; p += run) f(p, std::min(run, p1 - p));
  });
}

// The running thread's scratch for one run's column sums (Which tells the buffers apart).
template <class T, int Which>
METALNET_INLINE T* run_scratch(const PoolGeometry& g) {
  static thread_local std::vector<T> buffer;
  const size_t count = size_t(planes_per_run(g) * g.h * g.wo);
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

}  // namespace

// Two sweeps per output row, each a plain vectorisable loop: the maxima first, then the index
// of the first cell equal to its maximum (row-major window order, so ties go to the first).
// A NaN in a window makes the maximum NaN, and the first NaN cell is the argmax.
// One sweep over the window offsets (r, s) in row-major order; for each, all outputs of the row
// are updated at once. A strictly greater value replaces the best (so ties keep the first
// cell), and a NaN replaces a number (so the first NaN wins, as in the reference). The index
// starts at the window's first real cell, which is right when every value is -inf.
// Max over windows that tile the plane: the best cell of each window row first (its column),
// then the best of those rows -- ties keep the earlier cell and a NaN replaces a number, the
// same row-major rule as the sweep below. Window width a constant for 2 and 3, as for averages.
template <int KW, class T, class Idx>
METALNET_INLINE void max_columns(const T* x, T* best, Idx* col, int64_t sums, int64_t kw) {
  const int64_t k = KW > 0 ? KW : kw;
#pragma omp simd
  for (int64_t i = 0; i < sums; ++i) {
    T b = x[i * k];
    Idx c = 0;
    for (int64_t s = 1; s < k; ++s) {
      const T v = x[i * k + s];
      const bool take = (v > b) | ((v != v) & (b == b));
      b = take ? v : b;
      c = take ? Idx(s) : c;
    }
    best[i] = b;
    col[i] = c;
  }
}

// rows_out output rows of a run of whole planes (so row r is plane row r % ho).
template <class T, class Idx>
METALNET_INLINE void max_tiled_forward(const PoolGeometry& g, const T* x, T* y, int64_t* argmax,
                                       int64_t rows_out, T* best, Idx* col) {
  const int64_t kh = g.kh, kw = g.kw, wo = g.wo, sums = rows_out * kh * wo;
  if (kw == 2) max_columns<2>(x, best, col, sums, kw);
  else if (kw == 3) max_columns<3>(x, best, col, sums, kw);
  else max_columns<0>(x, best, col, sums, kw);
  for (int64_t r = 0, oh = 0; r < rows_out; ++r, oh = oh + 1 == g.ho ? 0 : oh + 1) {
    const T* b_in = best + r * kh * wo;
    const Idx* c_in = col + r * kh * wo;
    T* out = y + r * wo;
    int64_t* where = argmax + r * wo;
    const int64_t row_base = oh * kh * g.w;
#pragma omp simd
    for (int64_t ow = 0; ow < wo; ++ow) {
      T b = b_in[ow];
      int64_t h_best = 0;
      for (int64_t h = 1; h < kh; ++h) {
        const T v = b_in[h * wo + ow];
        const bool take = (v > b) | ((v != v) & (b == b));
        b = take ? v : b;
        h_best = take ? h : h_best;
      }
      out[ow] = b;
      where[ow] = row_base + h_best * g.w + ow * kw + c_in[h_best * wo + ow];
    }
  }
}

template <class T>
void max_pool2d_forward(const PoolGeometry& g, const T* x, T* y, int64_t* argmax) {
  // Indices are tracked in an integer of T's width (int32 for float) so the compare-and-select
  // stays in one vector shape and vectorises; they are widened to int64 once per row.
  using Idx = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  // Short output rows only: from 16 outputs a row the sweep below vectorises better (measured
  // 1.4x slower tiled at 28; 3x faster tiled at 5, 1.3x at 14).
  if (tiles_exactly(g) && g.wo < 16) {
    over_plane_runs(g, [=](int64_t p, int64_t planes) METALNET_SIMD_BODY {
      max_tiled_forward(g, x + p * g.h * g.w, y + p * g.ho * g.wo, argmax + p * g.ho * g.wo,
                        planes * g.ho, run_scratch<T, 0>(g), run_scratch<Idx, 1>(g));
    });
    return;
  }
  const ColumnRanges cols(g);
  const int64_t *col_lo = cols.lo.data(), *col_hi = cols.hi.data();
  over_planes(g, [=](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    std::vector<Idx> index(g.wo);
    Idx* where = index.data();
    const Idx sw = Idx(g.sw), pl = Idx(g.pl), width = Idx(g.w);
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = x + p * g.h * g.w;
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        T* best = y + (p * g.ho + oh) * g.wo;
        int64_t h0, h1;
        valid_rows(g, oh, h0, h1);
        const Idx first_row = Idx(h0) * width;
#pragma omp simd
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          const Idx left = Idx(ow) * sw - pl;
          best[ow] = -std::numeric_limits<T>::infinity();
          where[ow] = first_row + (left < 0 ? Idx(0) : left);
        }
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t s = 0; s < g.kw; ++s) {
            const int64_t lo = col_lo[s], hi = col_hi[s];
            // Locals, and | & rather than || &&: the loop must stay branch-free and must not
            // reload the geometry through pointers the compiler fears may alias the output.
            const Idx base = Idx(h) * width + Idx(s) - pl;
#pragma omp simd
            for (int64_t ow = lo; ow < hi; ++ow) {
              const Idx at = base + Idx(ow) * sw;
              const T v = plane[at], b = best[ow];
              const bool take = (v > b) | ((v != v) & (b == b));
              best[ow] = take ? v : b;
              where[ow] = take ? at : where[ow];
            }
          }
        int64_t* out = argmax + (p * g.ho + oh) * g.wo;
#pragma omp simd
        for (int64_t ow = 0; ow < g.wo; ++ow) out[ow] = where[ow];
      }
    }
  });
}

template <class T>
void max_pool2d_backward(const PoolGeometry& g, const T* dy, const int64_t* argmax, T* dx) {
  over_planes(g, [=](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = dx + p * g.h * g.w;
      std::fill(plane, plane + g.h * g.w, T(0));
      const int64_t n_out = g.ho * g.wo;
      const T* d = dy + p * n_out;
      const int64_t* a = argmax + p * n_out;
      for (int64_t i = 0; i < n_out; ++i) plane[a[i]] += d[i];  // overlapping windows add up
    }
  });
}

// 1 / (cells counted) for every output position (ho x wo), once per call.
template <class T>
std::vector<T> avg_scales(const PoolGeometry& g, bool include_pad) {
  std::vector<T> scale(size_t(g.ho * g.wo), T(1) / T(g.kh * g.kw));
  if (include_pad) return scale;
  for (int64_t oh = 0; oh < g.ho; ++oh) {
    int64_t h0, h1;
    valid_rows(g, oh, h0, h1);
    for (int64_t ow = 0; ow < g.wo; ++ow) {
      const int64_t left = ow * g.sw - g.pl;
      const int64_t cols = std::min<int64_t>(left + g.kw, g.w) - std::max<int64_t>(left, 0);
      scale[size_t(oh * g.wo + ow)] = T(1) / T((h1 - h0) * cols);
    }
  }
  return scale;
}

// cs[i] = x[i*KW] + ... + x[i*KW + KW-1]: KW a constant where it can be (2 and 3, the common
// windows), so the loads are shuffles of contiguous vectors rather than gathers.
template <int KW, class T>
METALNET_INLINE void column_sums(const T* x, T* cs, int64_t sums, int64_t kw) {
  const int64_t k = KW > 0 ? KW : kw;
#pragma omp simd
  for (int64_t i = 0; i < sums; ++i) {
    T acc = T(0);
    for (int64_t s = 0; s < k; ++s) acc += x[i * k + s];
    cs[i] = acc;
  }
}

// The reverse: x[i*KW + s] = cs[i] for every s.
template <int KW, class T>
METALNET_INLINE void column_spread(const T* cs, T* x, int64_t sums, int64_t kw) {
  const int64_t k = KW > 0 ? KW : kw;
#pragma omp simd
  for (int64_t i = 0; i < sums; ++i)
    for (int64_t s = 0; s < k; ++s) x[i * k + s] = cs[i];
}

template <class T>
METALNET_INLINE void avg_tiled_forward(const PoolGeometry& g, T scale, const T* x, T* y,
                                       int64_t rows_out, T* cs) {
  const int64_t kh = g.kh, kw = g.kw, wo = g.wo, sums = rows_out * kh * wo;
  if (kw == 2) column_sums<2>(x, cs, sums, kw);
  else if (kw == 3) column_sums<3>(x, cs, sums, kw);
  else column_sums<0>(x, cs, sums, kw);
  for (int64_t r = 0; r < rows_out; ++r) {
    const T* in = cs + r * kh * wo;
    T* out = y + r * wo;
#pragma omp simd
    for (int64_t ow = 0; ow < wo; ++ow) {
      T acc = T(0);
      for (int64_t h = 0; h < kh; ++h) acc += in[h * wo + ow];
      out[ow] = acc * scale;
    }
  }
}

// The reverse: every cell of a window receives scale * its output's gradient.
template <class T>
METALNET_INLINE void avg_tiled_backward(const PoolGeometry& g, T scale, const T* dy, T* dx,
                                        int64_t rows_out, T* cs) {
  const int64_t kh = g.kh, kw = g.kw, wo = g.wo, sums = rows_out * kh * wo;
  for (int64_t r = 0; r < rows_out; ++r) {
    const T* in = dy + r * wo;
    T* out = cs + r * kh * wo;
    for (int64_t h = 0; h < kh; ++h)
#pragma omp simd
      for (int64_t ow = 0; ow < wo; ++ow) out[h * wo + ow] = in[ow] * scale;
  }
  if (kw == 2) column_spread<2>(cs, dx, sums, kw);
  else if (kw == 3) column_spread<3>(cs, dx, sums, kw);
  else column_spread<0>(cs, dx, sums, kw);
}

template <class T>
void avg_pool2d_forward(const PoolGeometry& g, bool include_pad, const T* x, T* y) {
  if (tiles_exactly(g)) {
    const T scale = T(1) / T(g.kh * g.kw);
    over_plane_runs(g, [=](int64_t p, int64_t planes) METALNET_SIMD_BODY {
      avg_tiled_forward(g, scale, x + p * g.h * g.w, y + p * g.ho * g.wo, planes * g.ho,
                        run_scratch<T, 0>(g));
    });
    return;
  }
  const ColumnRanges cols(g);
  const int64_t *col_lo = cols.lo.data(), *col_hi = cols.hi.data();
  const std::vector<T> scales = avg_scales<T>(g, include_pad);
  const T* scale = scales.data();
  over_planes(g, [=](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    for (int64_t p = p0; p < p1; ++p) {
      const T* plane = x + p * g.h * g.w;
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        T* yr = y + (p * g.ho + oh) * g.wo;
        std::fill(yr, yr + g.wo, T(0));
        int64_t h0, h1;
        valid_rows(g, oh, h0, h1);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t s = 0; s < g.kw; ++s) {
            const int64_t base = h * g.w + s - g.pl, sw = g.sw;
#pragma omp simd
            for (int64_t ow = col_lo[s]; ow < col_hi[s]; ++ow) yr[ow] += plane[base + ow * sw];
          }
        const T* sr = scale + oh * g.wo;
#pragma omp simd
        for (int64_t ow = 0; ow < g.wo; ++ow) yr[ow] *= sr[ow];
      }
    }
  });
}

template <class T>
void avg_pool2d_backward(const PoolGeometry& g, bool include_pad, const T* dy, T* dx) {
  if (tiles_exactly(g)) {
    const T scale = T(1) / T(g.kh * g.kw);
    over_plane_runs(g, [=](int64_t p, int64_t planes) METALNET_SIMD_BODY {
      avg_tiled_backward(g, scale, dy + p * g.ho * g.wo, dx + p * g.h * g.w, planes * g.ho,
                         run_scratch<T, 0>(g));
    });
    return;
  }
  const ColumnRanges cols(g);
  const int64_t *col_lo = cols.lo.data(), *col_hi = cols.hi.data();
  const std::vector<T> scales = avg_scales<T>(g, include_pad);
  const T* scale = scales.data();
  over_planes(g, [=](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    std::vector<T> share(g.wo);
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = dx + p * g.h * g.w;
      std::fill(plane, plane + g.h * g.w, T(0));
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        const T* dr = dy + (p * g.ho + oh) * g.wo;
        const T* sr = scale + oh * g.wo;
#pragma omp simd
        for (int64_t ow = 0; ow < g.wo; ++ow) share[ow] = sr[ow] * dr[ow];
        int64_t h0, h1;
        valid_rows(g, oh, h0, h1);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t s = 0; s < g.kw; ++s) {
            const int64_t base = h * g.w + s - g.pl, sw = g.sw;
            // Distinct ow hit distinct columns for a fixed s (stride >= 1): no conflicts.
#pragma omp simd
            for (int64_t ow = col_lo[s]; ow < col_hi[s]; ++ow) plane[base + ow * sw] += share[ow];
          }
      }
    }
  });
}

#define METALNET_INSTANTIATE(T)                                                               \
  template void max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int64_t*);           \
  template void max_pool2d_backward<T>(const PoolGeometry&, const T*, const int64_t*, T*);    \
  template void avg_pool2d_forward<T>(const PoolGeometry&, bool, const T*, T*);               \
  template void avg_pool2d_backward<T>(const PoolGeometry&, bool, const T*, T*);
METALNET_INSTANTIATE(float)
METALNET_INSTANTIATE(double)
#undef METALNET_INSTANTIATE

}  // namespace metalnet
