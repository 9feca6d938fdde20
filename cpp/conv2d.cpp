// Convolution by blocked im2col + GEMM (see conv2d.h).
//
// The batch is one flat space of N * Ho*Wo output columns, cut into blocks of a few MiB of
// unrolled input: a block is part of one large image, or several whole small images (LeNet's
// 10x10 outputs), so every GEMM is wide enough to run near peak. Per block [J0, J1):
//     col[(c, r, s), J] = x[n, c, ho*sh + r*dh - pt, wo*sw + s*dw - pl]   (0 in the padding)
//     Y[K, block]       = W[K, CRS] @ col          -> scattered to y[n, :, ho, wo]
// Backward, with dY[K, block] gathered from dy:
//     dW += dY @ col^T          dcol = W^T @ dY          dx += col2im(dcol)
// Blocks are spread over threads when there are enough of them (serial GEMMs on per-thread
// buffers); otherwise they run one after another with threaded GEMMs.
#include "metalnet/conv2d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "metalnet/bias.h"
#include "metalnet/gemm.h"
#include "metalnet/parallel.h"

namespace metalnet {
namespace {

constexpr int64_t kColBlockBytes = int64_t(2) << 20;  // the unrolled block stays in L2/L3

// Columns per block: whole images when they are small, else part of one image.
int64_t block_cols(const ConvGeometry& g, size_t elem) {
  const int64_t crs = std::max<int64_t>(1, g.c * g.r * g.s), per_image = g.ho * g.wo;
  const int64_t cols = std::max<int64_t>(64, kColBlockBytes / (crs * int64_t(elem)));
  if (cols >= per_image) return std::min(g.n, cols / per_image) * per_image;
  return std::max<int64_t>(32, cols / 32 * 32);
}

// Output columns wo whose tap s reads inside the input row: 0 <= wo*sw + s*dw - pl < W.
inline void tap_cols(const ConvGeometry& g, int64_t s, int64_t& lo, int64_t& hi) {
  const int64_t shift = s * g.dw - g.pl;  // wi = wo*sw + shift
  lo = shift >= 0 ? 0 : (-shift + g.sw - 1) / g.sw;
  const int64_t last = g.w - 1 - shift;
  hi = last < 0 ? 0 : std::min(g.wo, last / g.sw + 1);
  if (lo > hi) lo = hi;
}

// Calls fn(row, off, wo0, wo1, lo, hi, in_row, shift) for every row (c, r, s) of the unrolled
// block [J0, J1) and every output-row segment in it: columns off.. of the block hold outputs
// (n, ho, wo0..wo1), whose tap reads input row in_row (null in the padding) at wo*sw + shift,
// valid for wo in [lo, hi). im2col and col2im share this walk, so they cannot disagree.
template <class T, class Fn>
void walk_block(const ConvGeometry& g, T* x, int64_t J0, int64_t J1, Fn&& fn) {
  const int64_t per_image = g.ho * g.wo;
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t row = (c * g.r + r) * g.s + s, shift = s * g.dw - g.pl;
        int64_t lo, hi;
        tap_cols(g, s, lo, hi);
        for (int64_t J = J0; J < J1;) {
          const int64_t n = J / per_image, j = J % per_image;
          const int64_t ho = j / g.wo, wo0 = j % g.wo;
          const int64_t wo1 = std::min(g.wo, wo0 + (J1 - J));
          const int64_t in_row = ho * g.sh + r * g.dh - g.pt;
          T* in = (in_row >= 0 && in_row < g.h) ? x + ((n * g.c + c) * g.h + in_row) * g.w : nullptr;
          fn(row, J - J0, wo0, wo1, lo, hi, in, shift);
          J += wo1 - wo0;
        }
      }
}

template <class T>
void im2col_block(const ConvGeometry& g, const T* x, int64_t J0, int64_t J1, T* col) {
  const int64_t cols = J1 - J0;
  walk_block(g, const_cast<T*>(x), J0, J1,
             [&](int64_t row, int64_t off, int64_t wo0, int64_t wo1, int64_t lo, int64_t hi,
                 T* in, int64_t shift) {
               T* dst = col + row * cols + off;  // dst[wo - wo0] for wo in [wo0, wo1)
               const int64_t a = std::max(wo0, lo), b = std::max(a, std::min(wo1, hi));
               if (!in) {
                 std::fill(dst, dst + (wo1 - wo0), T(0));
                 return;
               }
               std::fill(dst, dst + (a - wo0), T(0));
               const int64_t sw = g.sw;
               T* d = dst - wo0;
               if (sw == 1) {
                 std::memcpy(d + a, in + a + shift, sizeof(T) * (b - a));
               } else {
#pragma omp simd
                 for (int64_t wo = a; wo < b; ++wo) d[wo] = in[wo * sw + shift];
               }
               std::fill(dst + (b - wo0), dst + (wo1 - wo0), T(0));
             });
}

template <class T>
void col2im_block(const ConvGeometry& g, const T* col, int64_t J0, int64_t J1, T* dx) {
  const int64_t cols = J1 - J0;
  walk_block(g, dx, J0, J1,
             [&](int64_t row, int64_t off, int64_t wo0, int64_t wo1, int64_t lo, int64_t hi,
                 T* in, int64_t shift) {
               if (!in) return;  // the tap fell in the padding
               const T* src = col + row * cols + off - wo0;
               const int64_t a = std::max(wo0, lo), b = std::min(wo1, hi), sw = g.sw;
               // Distinct wo hit distinct input columns for one tap: no conflicts.
#pragma omp simd
               for (int64_t wo = a; wo < b; ++wo) in[wo * sw + shift] += src[wo];
             });
}

// Moves a [K, block] matrix to/from the NCHW layout, image segment by image segment.
template <class T>
void scatter_block(const ConvGeometry& g, const T* block, int64_t J0, int64_t J1, T* y) {
  const int64_t per_image = g.ho * g.wo, cols = J1 - J0;
  for (int64_t J = J0; J < J1;) {
    const int64_t n = J / per_image, j = J % per_image, len = std::min(J1 - J, per_image - j);
    for (int64_t k = 0; k < g.k; ++k)
      std::memcpy(y + (n * g.k + k) * per_image + j, block + k * cols + (J - J0), sizeof(T) * len);
    J += len;
  }
}

template <class T>
void gather_block(const ConvGeometry& g, const T* y, int64_t J0, int64_t J1, T* block) {
  const int64_t per_image = g.ho * g.wo, cols = J1 - J0;
  for (int64_t J = J0; J < J1;) {
    const int64_t n = J / per_image, j = J % per_image, len = std::min(J1 - J, per_image - j);
    for (int64_t k = 0; k < g.k; ++k)
      std::memcpy(block + k * cols + (J - J0), y + (n * g.k + k) * per_image + j, sizeof(T) * len);
    J += len;
  }
}

// Runs task(J0, J1, serial) for every block. Threads own whole units -- a block of whole
// images, or one large image and all its column blocks -- so no two threads ever add into the
// same dx rows (windows of neighbouring output rows overlap). With at least as many units as
// threads the units run in parallel with serial GEMMs, otherwise in order with threaded GEMMs.
template <class Task>
void over_blocks(const ConvGeometry& g, int64_t step, Task&& task) {
  const int64_t per_image = g.ho * g.wo, total = g.n * per_image;
  const int64_t unit = std::max(step, per_image);
  const int64_t units = (total + unit - 1) / unit;
  auto run = [&](int64_t u0, int64_t u1, bool serial) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t end = std::min(total, (u + 1) * unit);
      for (int64_t J = u * unit; J < end; J += step) task(J, std::min(end, J + step), serial);
    }
  };
  const int threads = num_threads();
  if (units >= threads && threads > 1)
    parallel_for(units, 1, [&](int64_t lo, int64_t hi) { run(lo, hi, true); }, 1);
  else
    run(0, units, false);
}

template <class T>
void run_gemm(bool serial, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  (serial ? gemm_serial<T> : gemm<T>)(ta, tb, m, n, k, T(1), a, lda, b, ldb, beta, c, ldc);
}

// Per-thread scratch, reused across calls.
template <class T, int Which>
T* scratch(size_t count) {
  static thread_local std::vector<T> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

}  // namespace

template <class T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t crs = g.c * g.r * g.s, total = g.n * g.ho * g.wo;
  if (total == 0 || g.k == 0) return;
  const int64_t step = block_cols(g, sizeof(T));
  over_blocks(g, step, [&](int64_t J0, int64_t J1, bool serial) {
    const int64_t cols = J1 - J0;
    T* col = scratch<T, 0>(size_t(crs) * step);
    T* out = scratch<T, 1>(size_t(g.k) * step);
    if (crs > 0) im2col_block(g, x, J0, J1, col);
    run_gemm<T>(serial, false, false, g.k, cols, crs, w, crs, col, cols, T(0), out, cols);
    if (b)
      for (int64_t k = 0; k < g.k; ++k) {
        T* row = out + k * cols;
        const T bias = b[k];
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) row[j] += bias;
      }
    scatter_block(g, out, J0, J1, y);
  });
}

template <class T>
void conv2d_backward(const ConvGeometry& g, const T* dy, const T* x, const T* w, T* dx, T* dw,
                     T* db) {
  const int64_t crs = g.c * g.r * g.s, total = g.n * g.ho * g.wo;
  if (db) bias_add_backward(dy, db, g.n, g.k, g.ho * g.wo);
  if (dx) std::fill(dx, dx + g.n * g.c * g.h * g.w, T(0));
  if (dw) std::fill(dw, dw + g.k * crs, T(0));
  if (total == 0 || g.k == 0 || crs == 0) return;
  const int64_t step = block_cols(g, sizeof(T));
  // One dW partial per thread, summed in thread order at the end.
  const int threads = std::max(1, num_threads());
  std::vector<T> partial(dw ? size_t(threads) * g.k * crs : 0, T(0));
  over_blocks(g, step, [&](int64_t J0, int64_t J1, bool serial) {
    const int t = serial ? thread_index() : 0;
    const int64_t cols = J1 - J0;
    T* col = scratch<T, 0>(size_t(crs) * step);
    T* grad = scratch<T, 1>(size_t(g.k) * step);
    gather_block(g, dy, J0, J1, grad);
    if (dw) {
      im2col_block(g, x, J0, J1, col);
      run_gemm<T>(serial, false, true, g.k, crs, cols, grad, cols, col, cols, T(1),
                  partial.data() + size_t(t) * g.k * crs, crs);
    }
    if (dx) {
      run_gemm<T>(serial, true, false, crs, cols, g.k, w, crs, grad, cols, T(0), col, cols);
      col2im_block(g, col, J0, J1, dx);
    }
  });
  if (dw)
    for (int t = 0; t < threads; ++t) {
      const T* p = partial.data() + size_t(t) * g.k * crs;
      for (int64_t i = 0; i < g.k * crs; ++i) dw[i] += p[i];
    }
}

template void conv2d_forward<float>(const ConvGeometry&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const ConvGeometry&, const double*, const double*, const double*, double*);
template void conv2d_backward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                     float*, float*, float*);
template void conv2d_backward<double>(const ConvGeometry&, const double*, const double*,
                                      const double*, double*, double*, double*);

}  // namespace metalnet
