// Convolution by blocked im2col + GEMM (see conv2d.h).
//
// The batch is one flat space of N * Ho*Wo output columns, cut into blocks of a few MiB of
// unrolled input: a block is part of one large image, or several whole small images (LeNet's
// 10x10 outputs), so every GEMM is wide enough to run near peak. Per block [J0, J1):
//     col[(c, r, s), J] = x[n, c, ho*sh + r*dh - pt, wo*sw + s*dw - pl]   (0 in the padding)
//     Y[K, block]       = W[K, CRS] @ col          -> scattered to y[n, :, ho, wo]
// Backward, with dY[K, block] gathered from dy:
//     dW^T += col @ dY^T        dcol = W^T @ dY          dx += col2im(dcol)
// (conv2d_backward first hands dx and dW to the faster kernels where they apply: dx of a
// stride-1 layer is a convolution of dy; dW by Winograd or by shifted dot products.)
// Blocks are spread over threads when there are enough of them (serial GEMMs on per-thread
// buffers); otherwise they run one after another with threaded GEMMs.
#include "metalnet/conv2d.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "metalnet/bias.h"
#include "metalnet/conv2d_padded.h"
#include "metalnet/gemm.h"
#include "metalnet/isa.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

// The unrolled block stays in L2/L3: 2 MiB, or as large as the weights up to 8 MiB. Every
// block's GEMM packs all the weights again, so with 512 channels (9 MiB of 3x3 weights) and a
// 2 MiB block of only 112 columns the packing cost nearly as much as the products (ResNet's
// strided 256 -> 512 layer: 1.7x faster forward, 1.3x backward with the larger block).
constexpr int64_t kColBlockBytes = int64_t(2) << 20, kColBlockMaxBytes = int64_t(8) << 20;

// Columns per block: whole images when they are small, else part of one image.
int64_t block_cols(const ConvGeometry& g, size_t elem) {
  const int64_t crs = std::max<int64_t>(1, g.c * g.r * g.s), per_image = g.ho * g.wo;
  const int64_t weights = g.k * crs * int64_t(elem);
  const int64_t bytes = std::max(kColBlockBytes, std::min(kColBlockMaxBytes, weights));
  const int64_t cols = std::max<int64_t>(64, bytes / (crs * int64_t(elem)));
  if (cols >= per_image) return std::min(g.n, cols / per_image) * per_image;
  return std::max<int64_t>(32, cols / 32 * 32);
}

// A unit is what one thread owns at a time: whole images [n0, n1), copied once into a padded
// buffer so that every tap of every window is in range -- the unrolling below then needs no
// bounds checks, only row copies. Its columns are cut into GEMM blocks of `step`. The padded
// plane holds the whole input (hp >= h + pt, wp >= w + pl) plus whatever windows reach.
struct Padded {
  int64_t hp, wp;  // padded plane: rows/cols any window of the output can touch
};

Padded padded_plane(const ConvGeometry& g) {
  return {std::max(g.h + g.pt, (g.ho - 1) * g.sh + (g.r - 1) * g.dh + 1),
          std::max(g.w + g.pl, (g.wo - 1) * g.sw + (g.s - 1) * g.dw + 1)};
}

// xp[nl, c] = x[n0 + nl, c] placed at (pt, pl) inside a zero plane of hp x wp.
template <class T>
void pad_images(const ConvGeometry& g, const Padded& p, const T* x, int64_t n0, int64_t n1, T* xp) {
  std::fill(xp, xp + (n1 - n0) * g.c * p.hp * p.wp, T(0));
  for (int64_t plane = 0; plane < (n1 - n0) * g.c; ++plane)
    for (int64_t hh = 0; hh < g.h; ++hh)
      copy_run(xp + (plane * p.hp + hh + g.pt) * p.wp + g.pl,
               x + (n0 * g.c + plane) * g.h * g.w + hh * g.w, g.w);
}

// dx[n0 + nl] = the interior of dxp[nl] (the padding rows/cols collected taps that fell off).
template <class T>
void crop_images(const ConvGeometry& g, const Padded& p, const T* dxp, int64_t n0, int64_t n1, T* dx) {
  for (int64_t plane = 0; plane < (n1 - n0) * g.c; ++plane)
    for (int64_t hh = 0; hh < g.h; ++hh)
      copy_run(dx + (n0 * g.c + plane) * g.h * g.w + hh * g.w,
               dxp + (plane * p.hp + hh + g.pt) * p.wp + g.pl, g.w);
}

// Calls fn(row, off, src, len) for every row (c, r, s), c in [c0, c1), of the unrolled block
// [J0, J1) (columns counted from the unit's first image) and every output-row segment in it:
// block columns off .. off+len come from padded-input elements src[0], src[sw], ...
// src[(len-1)*sw]. im2col and col2im share this walk, so their index arithmetic cannot disagree.
template <class T, class Fn>
void walk_channels(const ConvGeometry& g, const Padded& p, T* xp, int64_t J0, int64_t J1,
                   int64_t c0, int64_t c1, Fn&& fn) {
  const int64_t per_image = g.ho * g.wo;
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t row = (c * g.r + r) * g.s + s;
        int64_t nl = J0 / per_image, ho = (J0 % per_image) / g.wo, wo = J0 % g.wo;
        for (int64_t J = J0; J < J1;) {
          const int64_t len = std::min(g.wo - wo, J1 - J);
          T* src = xp + ((nl * g.c + c) * p.hp + ho * g.sh + r * g.dh) * p.wp + wo * g.sw + s * g.dw;
          fn(row, J - J0, src, len);
          J += len;
          wo = 0;
          if (++ho == g.ho) ho = 0, ++nl;
        }
      }
}

// Every channel; shared between the threads unless `serial` (rows of distinct channels touch
// distinct input planes, so col2im's scatter-adds never race).
template <class T, class Fn>
void walk_block(const ConvGeometry& g, const Padded& p, T* xp, int64_t J0, int64_t J1,
                bool serial, Fn&& fn) {
  if (serial) return walk_channels(g, p, xp, J0, J1, 0, g.c, fn);
  parallel_for(g.c, 1, [&](int64_t c0, int64_t c1) {
    walk_channels(g, p, xp, J0, J1, c0, c1, fn);
  }, 1);
}

template <class T>
void im2col_block(const ConvGeometry& g, const Padded& p, const T* xp, int64_t J0, int64_t J1,
                  T* col, bool serial) {
  const int64_t cols = J1 - J0, sw = g.sw;
  T* const x = const_cast<T*>(xp);
  walk_block(g, p, x, J0, J1, serial, [&](int64_t row, int64_t off, T* src, int64_t len) {
    T* dst = col + row * cols + off;
    if (sw == 1) {
      copy_run(dst, static_cast<const T*>(src), len);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) dst[i] = src[i * sw];
    }
  });
}

template <class T>
void col2im_block(const ConvGeometry& g, const Padded& p, const T* col, int64_t J0, int64_t J1,
                  T* dxp, bool serial) {
  const int64_t cols = J1 - J0, sw = g.sw;
  walk_block(g, p, dxp, J0, J1, serial, [&](int64_t row, int64_t off, T* dst, int64_t len) {
    const T* src = col + row * cols + off;
    // Distinct columns of one row hit distinct input cells: no conflicts within the loop.
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) dst[i * sw] += src[i];
  });
}

// Moves a [K, block] matrix to/from the NCHW layout, image segment by image segment.
template <class T>
void scatter_block(const ConvGeometry& g, const T* block, int64_t J0, int64_t J1, T* y) {
  const int64_t per_image = g.ho * g.wo, cols = J1 - J0;
  for (int64_t J = J0; J < J1;) {
    const int64_t n = J / per_image, j = J % per_image, len = std::min(J1 - J, per_image - j);
    for (int64_t k = 0; k < g.k; ++k)
      copy_run(y + (n * g.k + k) * per_image + j, block + k * cols + (J - J0), len);
    J += len;
  }
}

template <class T>
void gather_block(const ConvGeometry& g, const T* y, int64_t J0, int64_t J1, T* block) {
  const int64_t per_image = g.ho * g.wo, cols = J1 - J0;
  for (int64_t J = J0; J < J1;) {
    const int64_t n = J / per_image, j = J % per_image, len = std::min(J1 - J, per_image - j);
    for (int64_t k = 0; k < g.k; ++k)
      copy_run(block + k * cols + (J - J0), y + (n * g.k + k) * per_image + j, len);
    J += len;
  }
}

// Runs unit(n0, n1, serial) over groups of whole images: in parallel with serial GEMMs when
// there are at least as many units as threads (and not `threaded`), otherwise in order with
// threaded GEMMs and unrolling. A thread owns its images' dx outright, so overlapping windows
// never race.
template <class Unit>
void over_units(const ConvGeometry& g, int64_t step, Unit&& unit, bool threaded = false) {
  const int64_t per_image = std::max<int64_t>(1, g.ho * g.wo);
  const int threads = threaded ? 1 : num_threads();
  // Images per unit: as many as a block holds, then evened out so that every thread gets the
  // same number of units of the same size (32 images in blocks of 28 are two units of 16, not
  // 28 and 4 with one thread idle most of the time).
  const int64_t most = std::max<int64_t>(1, step / per_image);
  const int64_t rounds = ((g.n + most - 1) / most + threads - 1) / threads;
  const int64_t images = std::max<int64_t>(1, (g.n + rounds * threads - 1) / (rounds * threads));
  const int64_t units = (g.n + images - 1) / images;
  auto run = [&](int64_t u0, int64_t u1, bool serial) {
    for (int64_t u = u0; u < u1; ++u) unit(u * images, std::min(g.n, (u + 1) * images), serial);
  };
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

// dw (k x crs) += the sum of `count` matrices q (crs x k, one after another), transposed: in
// square blocks, so that neither side is walked with a stride of a whole row (with 512 channels
// the plain loop missed the cache on every element and took longer than the GEMMs).
template <class T>
void sum_transposed(const T* q, int count, int64_t crs, int64_t k, T* dw) {
  constexpr int64_t B = 32;
  parallel_for((k + B - 1) / B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t k0 = b0 * B; k0 < std::min(k, b1 * B); k0 += B)
      for (int64_t j0 = 0; j0 < crs; j0 += B) {
        const int64_t k1 = std::min(k, k0 + B), j1 = std::min(crs, j0 + B);
        for (int t = 0; t < count; ++t) {
          const T* qt = q + size_t(t) * k * crs;
          for (int64_t kk = k0; kk < k1; ++kk)
            for (int64_t j = j0; j < j1; ++j) dw[kk * crs + j] += qt[j * k + kk];
        }
      }
  }, 1);
}

}  // namespace

template <class T>
void conv2d_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t crs = g.c * g.r * g.s, per_image = g.ho * g.wo;
  if (g.n * per_image == 0 || g.k == 0) return;
  const int64_t step = block_cols(g, sizeof(T));
  const Padded p = padded_plane(g);
  over_units(g, step, [&](int64_t n0, int64_t n1, bool serial) {
    T* xp = conv_scratch<T, 2>(size_t(n1 - n0) * g.c * p.hp * p.wp);
    pad_images(g, p, x, n0, n1, xp);
    T* col = conv_scratch<T, 0>(size_t(crs) * step);
    T* out = conv_scratch<T, 1>(size_t(g.k) * step);
    const int64_t total = (n1 - n0) * per_image;
    for (int64_t J0 = 0; J0 < total; J0 += step) {
      const int64_t J1 = std::min(total, J0 + step), cols = J1 - J0;
      if (crs > 0) im2col_block(g, p, xp, J0, J1, col, serial);
      run_gemm<T>(serial, false, false, g.k, cols, crs, w, crs, col, cols, T(0), out, cols);
      if (b)
        for (int64_t k = 0; k < g.k; ++k) {
          T* row = out + k * cols;
          const T bias = b[k];
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) row[j] += bias;
        }
      scatter_block(g, out, n0 * per_image + J0, n0 * per_image + J1, y);
    }
  });
}

// With stride 1, dx is itself a convolution: of dy, padded by (R-1)*dh - pt on top (and the
// like on the left), with the kernel flipped and its channel axes swapped. Strided layers, and
// padding wider than the kernel's reach, use col2im instead; so do layers whose few input
// channels would leave the direct kernel's channel vectors mostly empty (col2im does better).
// Where the transposed layer goes to im2col, so does dx (512 channels at 4x4: 1.6x faster than
// col2im, whose scatter-adds run in rows of four).
bool winograd_pays(const ConvGeometry& g);
bool taps_pay(const ConvGeometry& g);

ConvAlgorithm dx_algorithm(const ConvGeometry& g, size_t elem, ConvGeometry* transposed) {
  if (!winograd_pays(g) && taps_pay(g)) return ConvAlgorithm::taps;  // on g itself, no flip
  const int64_t top = (g.r - 1) * g.dh - g.pt, left = (g.s - 1) * g.dw - g.pl;
  if (g.sh != 1 || g.sw != 1 || top < 0 || left < 0) return ConvAlgorithm::col2im;
  const ConvGeometry t{g.n, g.k, g.ho, g.wo, g.c, g.r, g.s, g.h, g.w, 1, 1, top, left, g.dh, g.dw};
  if (transposed) *transposed = t;
  const ConvAlgorithm algorithm = choose_algorithm(t, elem);
  return algorithm == ConvAlgorithm::direct && g.c < 16 ? ConvAlgorithm::col2im : algorithm;
}

ConvAlgorithm dw_algorithm(const ConvGeometry& g, size_t elem) {
  const ConvAlgorithm forward = choose_algorithm(g, elem);
  if (forward == ConvAlgorithm::rows) return forward;
  // The window's dW transposes dy first and meets each dy vector with S taps per broadcast:
  // it pays with 5-wide kernels (LeNet's 6 -> 16: 2x over rows) or many input channels (64 ->
  // 16 at 12x12: 2.2x); 3x3 kernels on few channels do better as rows' dot products (1.1-1.2x
  // on 3 and 16 channels at 28x28 to 56x56; rows needs stride 1 both ways).
  if (forward == ConvAlgorithm::window)
    return g.s == 5 || g.c >= 32 || g.sh != 1 ? ConvAlgorithm::window : ConvAlgorithm::rows;
  // Layers the images kernel takes (<= 16 output channels, much padding): the window's or rows'
  // dW, which walk the padded input as it is (im2col unrolled a 256 x 16 x 10 x 10 layer padded
  // by 4 into 10.6 ms of dW; PyTorch 1.4 ms).
  if (forward == ConvAlgorithm::images) {
    if (window_applies(g, elem)) return ConvAlgorithm::window;
    if (g.sh == 1 && g.sw == 1) return ConvAlgorithm::rows;
  }
  // Winograd's dW, in L2-sized blocks of tiles, beat im2col's by 1.1-1.3x on every 3x3 layer
  // the forward rule gives it (32 to 256 channels, measured); so it does on 3x3 layers whose
  // forward goes to the direct kernel, from 32 channels each way and 8x8 outputs (1.2-1.4x at
  // 32 to 128 channels, 8x8 and 16x16); at 4x4 im2col's is faster (1.4x at 128 channels;
  // conv-algorithms-2026-11-21.log).
  // F(4x4)'s dW from 24x24 outputs on the layers its forward takes: 1.2-1.27x over F(2x2)'s at
  // 28x28 to 56x56 with 64-128 channels; at 16x16 0.7-1.0x (blocks of few tiles).
  if (forward == ConvAlgorithm::winograd4 && g.ho >= 24 && g.wo >= 24)
    return ConvAlgorithm::winograd4;
  if (forward == ConvAlgorithm::winograd || forward == ConvAlgorithm::winograd4)
    return ConvAlgorithm::winograd;
  // Layers the taps forward takes: their dW by taps too, from 128 channels each way (ResNet's
  // and VGG's 256/512-channel layers at 4x4: 1.2-1.35x over im2col, at 2x2 1.7x; 128 at 4x4
  // 1.06x; 64 at 4x4 im2col 1.2x faster; benchmarks/results/conv-taps-dw-2026-11-21.log).
  if (forward == ConvAlgorithm::taps && g.c >= 128 && g.k >= 128) return ConvAlgorithm::taps;
  if (winograd_applies(g) && g.c >= 32 && g.k >= 32 && g.ho * g.wo >= 64)
    return ConvAlgorithm::winograd;
  // Few taps in all (first layers: 3 channels, 3x3): rows' dot products over whole images,
  // where im2col's GEMM has a depth of 27 (2.1x faster at 3 -> 64 channels on 32x32, 2.1x at
  // 16 -> 32 on 16x16).
  if (g.sh == 1 && g.sw == 1 && g.c * g.r * g.s <= 160) return ConvAlgorithm::rows;
  return ConvAlgorithm::im2col;
}

const char* algorithm_name(ConvAlgorithm algorithm) {
  switch (algorithm) {
    case ConvAlgorithm::im2col: return "im2col";
    case ConvAlgorithm::direct: return "direct";
    case ConvAlgorithm::rows: return "rows";
    case ConvAlgorithm::window: return "window";
    case ConvAlgorithm::images: return "images";
    case ConvAlgorithm::taps: return "taps";
    case ConvAlgorithm::winograd: return "winograd";
    case ConvAlgorithm::winograd4: return "winograd4";
    case ConvAlgorithm::col2im: return "col2im";
    default: return "auto";
  }
}

// flipped[c, k, R-1-r, S-1-s] = w[k, c, r, s], in 16 x 16 blocks of (k, c) so that both sides
// run through whole cache lines (one (k, c) at a time wrote 36 bytes every 18 KiB: 2.8 ms for
// 512 x 512 3x3 weights, a third of the dx it feeds), the blocks of k shared between threads.
template <class T>
void flip_weights(const ConvGeometry& g, const T* w, T* flipped) {
  constexpr int64_t B = 16;
  const int64_t taps = g.r * g.s;
  parallel_for((g.k + B - 1) / B, std::max<int64_t>(1, 4096 / (B * g.c * taps + 1)),
               [&](int64_t b0, int64_t b1) {
    for (int64_t k0 = b0 * B; k0 < std::min(g.k, b1 * B); k0 += B)
      for (int64_t c0 = 0; c0 < g.c; c0 += B)
        for (int64_t c = c0; c < std::min(g.c, c0 + B); ++c)
          for (int64_t k = k0; k < std::min(g.k, k0 + B); ++k) {
            const T* src = w + (k * g.c + c) * taps;
            T* dst = flipped + (c * g.k + k) * taps;
            for (int64_t t = 0; t < taps; ++t) dst[taps - 1 - t] = src[t];
          }
  }, 1);
}

template <class T>
bool dx_as_convolution(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  ConvGeometry t{};
  const ConvAlgorithm algorithm = dx_algorithm(g, sizeof(T), &t);
  if (algorithm == ConvAlgorithm::col2im) return false;
  if (algorithm == ConvAlgorithm::taps) {
    conv2d_dx_taps(g, dy, w, dx);
    return true;
  }
  T* const flipped = conv_scratch<T, 4>(size_t(g.c) * g.k * g.r * g.s);  // calling thread's
  flip_weights(g, w, flipped);
  conv2d_forward_with(algorithm, t, dy, static_cast<const T*>(flipped), static_cast<const T*>(nullptr), dx);
  return true;
}

template <class T>
void conv2d_backward(const ConvGeometry& g, const T* dy, const T* x, const T* w, T* dx, T* dw,
                     T* db) {
  const int64_t crs = g.c * g.r * g.s, per_image = g.ho * g.wo;
  if (dx && g.n * per_image > 0 && g.k > 0 && crs > 0 && dx_as_convolution(g, dy, w, dx))
    dx = nullptr;  // done; the loop below computes dW only
  const ConvAlgorithm for_dw = dw ? dw_algorithm(g, sizeof(T)) : ConvAlgorithm::im2col;
  if (for_dw == ConvAlgorithm::window) {
    conv2d_weight_grad_window(g, dy, x, dw);
    dw = nullptr;  // done
  } else if (for_dw == ConvAlgorithm::rows) {
    conv2d_weight_grad_rows(g, dy, x, dw);
    dw = nullptr;  // done
  } else if (for_dw == ConvAlgorithm::winograd || for_dw == ConvAlgorithm::winograd4) {
    conv2d_weight_grad_winograd(g, dy, x, dw, for_dw == ConvAlgorithm::winograd ? 2 : 4);
    dw = nullptr;
  } else if (for_dw == ConvAlgorithm::taps) {
    conv2d_weight_grad_taps(g, dy, x, dw);
    dw = nullptr;
  }
  if (db) bias_add_backward(dy, db, g.n, g.k, per_image);
  if (dw) std::fill(dw, dw + g.k * crs, T(0));
  if (g.n * per_image == 0 || g.k == 0 || crs == 0) {
    if (dx) std::fill(dx, dx + g.n * g.c * g.h * g.w, T(0));
    return;
  }
  if (!dx && !dw) return;
  const int64_t step = block_cols(g, sizeof(T));
  const Padded p = padded_plane(g);
  // Weights of 2 MiB or more (256 channels and up, 3x3): one block at a time with threaded
  // GEMMs and unrolling, rather than a block per thread -- each thread would pack all the
  // weights for dx and keep a dW partial as large as them -- and dW accumulated straight into
  // dw (K x CRS): no partial, no transposed sum (dW 1.2-1.8x faster on ResNet's and VGG's
  // 512-channel layers, measured interleaved).
  const bool threaded = g.k * crs * int64_t(sizeof(T)) >= kColBlockBytes;
  // Otherwise one dW^T partial (CRS x K) per thread, summed in thread order at the end.
  // Transposed because the unrolled block is then GEMM's A, packed by reading a few of its rows
  // at once; as B^T it would be scattered into panels one element at a time (15% slower at 64
  // channels, where the partials are small).
  const int threads = std::max(1, num_threads());
  T* const partial =
      dw && !threaded ? conv_scratch<T, 5>(size_t(threads) * g.k * crs) : nullptr;
  if (partial) std::fill(partial, partial + size_t(threads) * g.k * crs, T(0));
  over_units(g, step, [&](int64_t n0, int64_t n1, bool serial) {
    const int t = serial ? thread_index() : 0;
    const size_t padded = size_t(n1 - n0) * g.c * p.hp * p.wp;
    T* xp = conv_scratch<T, 2>(padded);
    T* dxp = conv_scratch<T, 3>(padded);
    if (dw) pad_images(g, p, x, n0, n1, xp);
    if (dx) std::fill(dxp, dxp + padded, T(0));
    T* col = conv_scratch<T, 0>(size_t(crs) * step);
    T* grad = conv_scratch<T, 1>(size_t(g.k) * step);
    const int64_t total = (n1 - n0) * per_image;
    for (int64_t J0 = 0; J0 < total; J0 += step) {
      const int64_t J1 = std::min(total, J0 + step), cols = J1 - J0;
      gather_block(g, dy, n0 * per_image + J0, n0 * per_image + J1, grad);
      if (dw) {
        im2col_block(g, p, xp, J0, J1, col, serial);
        if (threaded)
          run_gemm<T>(serial, false, true, g.k, crs, cols, grad, cols, col, cols, T(1), dw, crs);
        else
          run_gemm<T>(serial, false, true, crs, g.k, cols, col, cols, grad, cols, T(1),
                      partial + size_t(t) * g.k * crs, g.k);
      }
      if (dx) {
        run_gemm<T>(serial, true, false, crs, cols, g.k, w, crs, grad, cols, T(0), col, cols);
        col2im_block(g, p, col, J0, J1, dxp, serial);
      }
    }
    if (dx) crop_images(g, p, dxp, n0, n1, dx);
  }, threaded);
  if (partial) sum_transposed(partial, threads, crs, g.k, dw);
}

// Winograd where it pays, measured on 3x3 stride-1 layers from 4x4 to 56x56 outputs with 32 to
// 512 channels (all algorithms interleaved in one process): from 20x20 outputs with at least 32
// channels each way (1.2x over direct at 64 channels, 1.5-2.2x from 128); on smaller outputs
// only with 128 to 256 channels and at least 6x6 outputs (1.2-1.6x), or 64 and more at 14x14
// (VGG's 64 -> 128: 1.28x over direct, 64 -> 64 and 128 -> 64 4-6%; batch 32,
// benchmarks/results/conv-algorithms-2026-11-21.log; at 14x14 10% over direct with 64 channels
// and 1.36x over im2col with 512, once a tile row no longer carried an extra tile,
// conv-winograd-small-2026-11-21.log). With fewer channels or smaller images its
// 16 GEMMs are too small for their fixed costs (direct 1.25-1.4x faster at 32 channels on 16x16
// and 64 on 8x8); 512 x 512 weights, 16 MiB once transformed, are streamed by every block of
// tiles (im2col 1.2x faster at 4x4, 2.5x at 7x7, ResNet's and VGG's last layers).
bool winograd_pays(const ConvGeometry& g) {
  if (!winograd_applies(g) || g.c < 32 || g.k < 32) return false;
  const int64_t outputs = g.ho * g.wo, fewer = std::min(g.c, g.k);
  if (outputs >= 400 || (outputs >= 196 && fewer >= 64)) return true;
  return fewer >= 128 && g.c * g.k <= 256 * 512 && outputs >= 36;
}

// F(4x4, 3x3) over F(2x2, 3x3), measured side by side (benchmarks/results/
// conv-winograd4-2026-11-21.log, and conv-winograd4-gapless-2026-11-21.log once neither
// carried an extra tile per row, which helped F(2x2) as much): with 128 input channels 1.03-1.3x
// from 16x16 outputs (56x56 1.16-1.29x), with 64 about even at 16x16 to 24x24 (0.84-1.11x over
// three runs) and 1.03-1.16x at 32x32. Slower with 256 input channels (0.6-0.8x: 36
// transformed weight matrices, 9 MiB, streamed by every block of tiles), on smaller outputs
// (128 at 8x8 0.6-0.7x) and at 32 channels (1.05x at 32x32, 0.76x at 16x16).
bool winograd4_pays(const ConvGeometry& g) {
  return winograd_pays(g) && g.c >= 64 && g.c <= 128 && g.k >= 64 && g.k <= 256 &&
         g.ho >= 16 && g.wo >= 16;
}

// The share of a layer's taps that land on the input rather than on padding.
double real_tap_share(const ConvGeometry& g) {
  const auto axis = [](int64_t out, int64_t stride, int64_t pad, int64_t taps, int64_t dilation,
                       int64_t size) {
    int64_t real = 0;
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t o = 0; o < out; ++o) {
        const int64_t i = o * stride - pad + t * dilation;
        real += i >= 0 && i < size;
      }
    return double(real) / double(std::max<int64_t>(1, out * taps));
  };
  return axis(g.ho, g.sh, g.pt, g.r, g.dh, g.h) * axis(g.wo, g.sw, g.pl, g.s, g.dw, g.w);
}

// Vectors across images pay where other kernels would multiply padding or fill few lanes, on
// layers with few output channels: with 40% or more of the taps on padding (LeNet conv2's dx, a
// 10x10 dy padded by 4: 0.38 ms against rows' 0.83, conv-algorithms-2026-11-21.log; a 12x12
// one: 1.8x) or one or two output channels (LeNet conv1's dx: 1.7x); and with two groups of
// images or more. With little padding the transposes and the bounds cost more than they save
// (rows 1.3-2x faster on 3x3 layers padded by 1 or 2); with many channels GEMMs reuse far more
// (im2col 1.8x faster on VGG's 512-channel 2x2 layers, 5 of 9 taps on padding).
bool images_pay(const ConvGeometry& g, size_t elem) {
  if (!images_applies(g) || g.n < 2 * lanes_for(elem) || g.k > 16) return false;
  return g.k <= 2 || real_tap_share(g) <= 0.6;
}

// One GEMM per tap pays where im2col would multiply many zeros and the GEMMs are large: a
// quarter or more of the taps on padding, 64 channels or more each way (ResNet's and VGG's
// 512-channel layers at 4x4: 1.35x faster than im2col forward, at 2x2 1.5x; 64 -> 128
// channels at 16x16, 12% on padding: im2col 1.3x faster; benchmarks/results/
// conv-algorithms-2026-11-21.log).
bool taps_pay(const ConvGeometry& g) {
  return taps_applies(g) && g.c >= 64 && g.k >= 64 && real_tap_share(g) <= 0.75;
}

// Measured on the course layers (benchmarks/bench_conv2d.py and the above): with at most 16
// output channels and stride 1, vectors across positions beat vectors across channels (3x on
// LeNet's 1 -> 6, 1.2x on 6 -> 16, 3x on its dx); the direct kernel wins up to 128 output
// channels (1.3x on the 7x7/2 stem, even at 128); with 256 channels im2col's long GEMM rows
// reuse the input better (1.2x). Where output channels fill one vector and the kernel is 3 or
// 5 wide, sliding windows beat both (LeNet's 6 -> 16: 1.3x over rows forward, 1.8x on dW).
ConvAlgorithm choose_algorithm(const ConvGeometry& g, size_t elem) {
  if (winograd4_pays(g)) return ConvAlgorithm::winograd4;
  if (winograd_pays(g)) return ConvAlgorithm::winograd;
  if (images_pay(g, elem)) return ConvAlgorithm::images;
  if (taps_pay(g)) return ConvAlgorithm::taps;
  if (window_applies(g, elem)) return ConvAlgorithm::window;
  if (g.sh == 1 && g.sw == 1 && g.k <= 16) return ConvAlgorithm::rows;
  return g.k <= 128 ? ConvAlgorithm::direct : ConvAlgorithm::im2col;
}

template <class T>
void conv2d_forward_with(ConvAlgorithm algorithm, const ConvGeometry& g, const T* x, const T* w,
                         const T* b, T* y) {
  if (algorithm == ConvAlgorithm::automatic) algorithm = choose_algorithm(g, sizeof(T));
  switch (algorithm) {
    case ConvAlgorithm::winograd:
    case ConvAlgorithm::winograd4:
      if (!winograd_applies(g))
        throw std::invalid_argument("winograd needs a 3x3 kernel, stride 1 and dilation 1");
      conv2d_forward_winograd(g, x, w, b, y, algorithm == ConvAlgorithm::winograd ? 2 : 4);
      break;
    case ConvAlgorithm::direct: conv2d_forward_direct(g, x, w, b, y); break;
    case ConvAlgorithm::taps:
      if (!taps_applies(g)) throw std::invalid_argument("taps needs stride 1 along rows");
      conv2d_forward_taps(g, x, w, b, y);
      break;
    case ConvAlgorithm::images:
      if (!images_applies(g))
        throw std::invalid_argument("images needs stride and dilation 1 along rows and a 3- or "
                                    "5-wide kernel");
      conv2d_forward_images(g, x, w, b, y);
      break;
    case ConvAlgorithm::window:
      if (!window_applies(g, sizeof(T)))
        throw std::invalid_argument("window needs stride and dilation 1 along rows, a 3- or "
                                    "5-wide kernel and output channels filling one vector");
      conv2d_forward_window(g, x, w, b, y);
      break;
    case ConvAlgorithm::rows:
      if (g.sh != 1 || g.sw != 1) throw std::invalid_argument("rows needs stride 1");
      conv2d_forward_rows(g, x, w, b, y);
      break;
    default: conv2d_forward(g, x, w, b, y); break;
  }
}

template void conv2d_forward<float>(const ConvGeometry&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const ConvGeometry&, const double*, const double*, const double*, double*);
template void conv2d_forward_with<float>(ConvAlgorithm, const ConvGeometry&, const float*,
                                         const float*, const float*, float*);
template void conv2d_forward_with<double>(ConvAlgorithm, const ConvGeometry&, const double*,
                                          const double*, const double*, double*);
template void conv2d_backward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                     float*, float*, float*);
template void conv2d_backward<double>(const ConvGeometry&, const double*, const double*,
                                      const double*, double*, double*, double*);

}  // namespace metalnet
