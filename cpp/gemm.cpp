// GEMM driver: packing, cache blocking, threading (see gemm.h for the picture).
#include "metalnet/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "metalnet/dispatch.h"
#include "metalnet/gemm_config.h"
#include "metalnet/gemm_microkernel.h"
#include "metalnet/parallel.h"
#include "metalnet/simd_transpose.h"

namespace metalnet {
namespace {

// A strided view: element (i, j) is p[i * rs + j * cs]. Transposition is a swap of strides,
// so packing handles all four op(A), op(B) combinations with one loop.
template <class T>
struct View {
  const T* p;
  int64_t rs, cs;
  METALNET_INLINE T operator()(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
  View block(int64_t i, int64_t j) const { return {p + i * rs + j * cs, rs, cs}; }
};

// Rows [0, mc) x cols [0, kc) of A into MR-high panels, each stored k-major:
// dst[panel * MR*kc + k*MR + r]. Rows past mc are zero so the microkernel needs no edge case.
// A run of a run-time length compiles to a call to memmove, whose start-up cost is that of
// copying a few hundred bytes: whole tiles and panels copy a compile-time count of elements,
// which becomes a few vector moves (the LSTM backward's GEMMs spent 9% of their time in memmove).
//
// A row-major A (the common case) is read L values of a row at a time: up to L of the MR rows
// make an L x L block (zero rows past them; ceil(MR / L) blocks when MR > L, as for 12 rows of
// 8 doubles) transposed in registers, whose vector j holds column k0 + j's values -- instead of
// MR scalar loads a row apart for every k (13% of a GEMM's time at 3200 x 256 x 2048).
// L = 0: no register transposes.
template <int MR, int L, class T>
METALNET_INLINE void pack_a_rows(const View<T>& a, int64_t i0, int64_t kc, T* __restrict dst) {
  using V = typename SimdVec<T, L>::type;
  for (int64_t k0 = 0; k0 < kc; k0 += L) {
    const int cells = int(std::min<int64_t>(L, kc - k0));
#pragma GCC unroll 4
    for (int r0 = 0; r0 < MR; r0 += L) {  // MR may exceed L (12 rows of 8 doubles)
      constexpr int kChunk = MR < L ? MR : L;
      V block[L];
      load_transposed<T, L>(block, a.p + (i0 + r0) * a.rs + k0, a.rs, std::min(kChunk, MR - r0),
                            cells);
      for (int j = 0; j < cells; ++j)
        copy_cells<T, L>(dst + (k0 + j) * MR + r0, reinterpret_cast<const T*>(&block[j]),
                         std::min(kChunk, MR - r0));
    }
  }
}

template <int MR, int L, class T>
METALNET_INLINE void pack_a(const View<T>& a, int64_t mc, int64_t kc, T* __restrict dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - i0);
    if constexpr (L > 0) {
      if (rows == MR && a.cs == 1) {
        pack_a_rows<MR, L>(a, i0, kc, dst);
        dst += MR * kc;
        continue;
      }
    }
    if (rows == MR && a.rs == 1) {  // op(A) = A^T: each k's MR values are contiguous
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = a.p + i0 + k * a.cs;
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) dst[r] = src[r];
        dst += MR;
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < rows; ++r) dst[r] = a(i0 + r, k);
      for (int64_t r = rows; r < MR; ++r) dst[r] = T(0);
      dst += MR;
    }
  }
}

// One nr-wide panel from `cols` columns whose kc values each lie contiguous in memory (column c
// from column(c)): dst[k*nr + c], the columns past `cols` zero. As pack_a_rows reads A's rows:
// L columns x L values at a time, transposed in registers, so that both the reads and the
// writes move whole vectors (a GEMM whose time is its packing of B^T ran ~5% faster than with
// each value scattered on its own; the LSTM packs its 6 MiB of weights so every call).
// nr is a multiple of L.
template <int L, class T, class Column>
METALNET_INLINE void pack_columns(Column column, int64_t cols, int64_t nr, int64_t kc,
                                  T* __restrict dst) {
  using V = typename SimdVec<T, L>::type;
  for (int64_t j0 = 0; j0 < nr; j0 += L) {
    const int count = int(std::clamp<int64_t>(cols - j0, 0, L));
    for (int64_t k0 = 0; k0 < kc; k0 += L) {
      const int cells = int(std::min<int64_t>(L, kc - k0));
      V block[L];
      load_transposed_runs<T, L>(block, [&](int i) { return column(j0 + i) + k0; }, count,
                                 cells);
      for (int c = 0; c < cells; ++c) store_vec(dst + (k0 + c) * nr + j0, block[c]);
    }
  }
}

// Rows [0, kc) x cols [0, nc) of B into NR-wide panels: dst[panel * kc*NR + k*NR + c].
// L: the vector length for the transposes of a B^T (any divisor of NR; the ISA's lanes).
template <int NR, int L, class T>
METALNET_INLINE void pack_b(const View<T>& b, int64_t kc, int64_t nc, T* __restrict dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - j0);
    if (b.rs == 1) {  // op(B) = B^T of a row-major matrix: each panel column is contiguous
      pack_columns<L>([&](int64_t c) { return b.p + (j0 + c) * b.cs; }, cols, NR, kc, dst);
      dst += kc * NR;
      continue;
    }
    if (cols == NR) {  // row-major B, a whole panel: each of its rows is NR contiguous values
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = b.p + k * b.rs + j0;
#pragma GCC unroll 16
        for (int c = 0; c < NR; ++c) dst[c] = src[c];
        dst += NR;
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {  // row-major B, the last partial panel
      const T* src = b.p + k * b.rs + j0;
      for (int64_t c = 0; c < cols; ++c) dst[c] = src[c];
      for (int64_t c = cols; c < NR; ++c) dst[c] = T(0);
      dst += NR;
    }
  }
}

// Pack buffers, one pair per thread, reused across calls (64-byte aligned).
template <class T>
T* scratch(int which, size_t count) {
  struct Buffer {
    T* p = nullptr;
    size_t n = 0;
    ~Buffer() { std::free(p); }
  };
  static thread_local Buffer buffers[2];
  Buffer& b = buffers[which];
  if (b.n < count) {
    std::free(b.p);
    b.p = static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64));
    if (!b.p) throw std::bad_alloc();
    b.n = count;
  }
  return b.p;
}

// One thread's GEMM on its part of C, with the blocking of Cfg.
// accumulate: C already holds beta*C, add to it; otherwise overwrite C.
// `pre`: when not null, op(B) already packed whole (gemm_pack_b), starting at the panel that
// holds this part's first column; then nothing of B is packed here.
template <class Cfg, class T>
METALNET_INLINE void gemm_blocked(const View<T>& a, const View<T>& b, int64_t m, int64_t n,
                                  int64_t k, T alpha, T* c, int64_t ldc, bool accumulate,
                                  const T* pre) {
  constexpr int MR = Cfg::MR, NR = Cfg::NV * Cfg::lanes;
  constexpr int KC = Cfg::KC, NC = Cfg::NC, MC = Cfg::MC;
  T* apack = scratch<T>(0, size_t(MC) * KC);
  T* bpack = pre ? nullptr : scratch<T>(1, size_t(KC) * ((NC + NR - 1) / NR * NR));
  alignas(64) T edge[MR * NR];

  // A prepacked B needs no column blocks: its panels stream past an A block that stays in L2,
  // and A is packed once per depth slice instead of once per block.
  const int64_t block_n = pre ? std::max<int64_t>(n, 1) : NC;
  // There each B micro-panel is reused from L1 by every A panel: half of L1 at most.
  const int64_t depth = pre ? std::min<int64_t>(KC, kL1Bytes / 2 / (NR * sizeof(T)) / 8 * 8) : KC;
  for (int64_t jc = 0; jc < n; jc += block_n) {
    const int64_t nc = std::min<int64_t>(block_n, n - jc);
    for (int64_t pc = 0; pc < k; pc += depth) {
      const int64_t kc = std::min<int64_t>(depth, k - pc);
      const bool add = accumulate || pc > 0;
      if (!pre) pack_b<NR, Cfg::lanes>(b.block(pc, jc), kc, nc, bpack);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min<int64_t>(MC, m - ic);
        pack_a<MR, Cfg::lanes>(a.block(ic, pc), mc, kc, apack);
        auto tile = [&](int64_t ir, int64_t jr) METALNET_SIMD_BODY {
          const int64_t rows = std::min<int64_t>(MR, mc - ir), cols = std::min<int64_t>(NR, nc - jr);
          const T* ap = apack + ir * kc;
          const T* bp = pre ? pre + (jc + jr) * k + pc * NR : bpack + jr * kc;
          T* cp = c + (ic + ir) * ldc + jc + jr;
          if (rows == MR && cols == NR) {
            microkernel_body<T, MR, Cfg::NV, Cfg::lanes>(kc, ap, bp, cp, ldc, alpha, add);
          } else {  // edge tile: compute the full tile aside, copy the valid part
            microkernel_body<T, MR, Cfg::NV, Cfg::lanes>(kc, ap, bp, edge, NR, alpha, false);
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t q = 0; q < cols; ++q)
                cp[r * ldc + q] = add ? cp[r * ldc + q] + edge[r * NR + q] : edge[r * NR + q];
          }
        };
        if (pre) {
          // A prepacked B spans all of N, far beyond L2: keep each B panel in L1 while every A
          // panel (one small MC x KC block, in L2) passes it, so B is read once per block.
          for (int64_t jr = 0; jr < nc; jr += NR)
            for (int64_t ir = 0; ir < mc; ir += MR) tile(ir, jr);
        } else {
          // B block packed here to fit L2: keep each A panel in L1 while B streams past.
          for (int64_t ir = 0; ir < mc; ir += MR)
            for (int64_t jr = 0; jr < nc; jr += NR) tile(ir, jr);
        }
      }
    }
  }
}

#define METALNET_GEMM_VARIANT(ISA, TARGET)                                                    \
  template <class T>                                                                          \
  TARGET void gemm_##ISA(const View<T>& a, const View<T>& b, int64_t m, int64_t n,            \
                         int64_t k, T alpha, T* c, int64_t ldc, bool accumulate,              \
                         const T* pre, bool wide) {                                           \
    if (wide)                                                                                 \
      gemm_blocked<GemmConfigWide<Isa::ISA, T>>(a, b, m, n, k, alpha, c, ldc, accumulate, pre); \
    else                                                                                      \
      gemm_blocked<GemmConfig<Isa::ISA, T>>(a, b, m, n, k, alpha, c, ldc, accumulate, pre);   \
  }
METALNET_GEMM_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_GEMM_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_GEMM_VARIANT(generic, )
#undef METALNET_GEMM_VARIANT

// ---------------------------------------------------------------- small C, long reduction
// C (m x n, both small) = alpha * A @ B^T with A (m x k) and B (n x k) row-major: every output
// is a dot product of two contiguous rows. This is a weight gradient of a small layer
// (dW = dY @ cols^T: 6 x 25 outputs summed over 200,000 positions), where the packed-panel
// path would spend its time packing and on mostly empty register tiles. Here a 4 x 6 block of
// dot products is accumulated in vector registers along k, then reduced across lanes.
constexpr int kDotRows = 4, kDotCols = 6;

template <class T, int Lanes>
METALNET_INLINE void dot_block(int64_t k, const T* const* a, const T* const* b, T* sums) {
  using V = typename SimdVec<T, Lanes>::type;
  V acc[kDotRows][kDotCols];
#pragma GCC unroll 8
  for (int i = 0; i < kDotRows; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < kDotCols; ++j) acc[i][j] = V{};
  int64_t p = 0;
  for (; p + Lanes <= k; p += Lanes) {
    V bv[kDotCols];
#pragma GCC unroll 8
    for (int j = 0; j < kDotCols; ++j) bv[j] = load_vec<V>(b[j] + p);
#pragma GCC unroll 8
    for (int i = 0; i < kDotRows; ++i) {
      const V av = load_vec<V>(a[i] + p);
#pragma GCC unroll 8
      for (int j = 0; j < kDotCols; ++j) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < kDotRows; ++i)
    for (int j = 0; j < kDotCols; ++j) {
      T sum = 0;
      for (int l = 0; l < Lanes; ++l) sum += acc[i][j][l];
      for (int64_t q = p; q < k; ++q) sum += a[i][q] * b[j][q];
      sums[i * kDotCols + j] = sum;
    }
}

#define METALNET_DOT_VARIANT(ISA, TARGET)                                                    \
  template <class T>                                                                         \
  TARGET void dot_block_##ISA(int64_t k, const T* const* a, const T* const* b, T* sums) {    \
    dot_block<T, GemmConfig<Isa::ISA, T>::lanes>(k, a, b, sums);                             \
  }
METALNET_DOT_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_DOT_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_DOT_VARIANT(generic, )
#undef METALNET_DOT_VARIANT

// Whether C = A @ B^T is better served by dot products than by packed panels.
bool small_output(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
  return !trans_a && trans_b && m * n <= 512 && k >= 8 * std::max(m, n) && k >= 256;
}

// The 4 x 6 block of dot products at rows i0.., columns j0..: arow(i) and brow(j) give the rows;
// rows/cols past the edge repeat the last valid one (real memory) and their sums are dropped;
// store(i, j, sum) receives the others.
template <class T, class ARow, class BRow, class Store>
void dot_tile(int64_t k, int64_t m, int64_t n, int64_t i0, int64_t j0, const ARow& arow,
              const BRow& brow, const Store& store) {
  const T* arows[kDotRows];
  const T* brows[kDotCols];
  for (int i = 0; i < kDotRows; ++i) arows[i] = arow(std::min(i0 + i, m - 1));
  for (int j = 0; j < kDotCols; ++j) brows[j] = brow(std::min(j0 + j, n - 1));
  T sums[kDotRows * kDotCols];
  METALNET_DISPATCH_ISA(dot_block, k, arows, brows, sums);
  for (int i = 0; i < kDotRows && i0 + i < m; ++i)
    for (int j = 0; j < kDotCols && j0 + j < n; ++j) store(i0 + i, j0 + j, sums[i * kDotCols + j]);
}

// Blocks of 4 x 6 outputs are spread over threads.
template <class T>
void gemm_small_output(int max_threads, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                       int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int64_t row_blocks = (m + kDotRows - 1) / kDotRows, col_blocks = (n + kDotCols - 1) / kDotCols;
  const int64_t blocks = row_blocks * col_blocks;
  const int threads = double(m) * n * k < kGemmParallelFlops ? 1 : max_threads;
  parallel_for(blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk)
      dot_tile<T>(k, m, n, (blk / col_blocks) * kDotRows, (blk % col_blocks) * kDotCols,
                  [&](int64_t i) { return a + i * lda; }, [&](int64_t j) { return b + j * ldb; },
                  [&](int64_t i, int64_t j, T sum) {
                    T& out = c[i * ldc + j];
                    out = alpha * sum + (beta == T(0) ? T(0) : beta * out);
                  });
  }, 1, threads);
}

template <class T, template <Isa, class> class Cfg>
int64_t tile_rows_of() {
  switch (active_isa()) {
    case Isa::avx512: return Cfg<Isa::avx512, T>::MR;
    case Isa::avx2: return Cfg<Isa::avx2, T>::MR;
    default: return Cfg<Isa::generic, T>::MR;
  }
}

template <class T, template <Isa, class> class Cfg>
int64_t tile_cols_of() {
  switch (active_isa()) {
    case Isa::avx512: return Cfg<Isa::avx512, T>::NV * Cfg<Isa::avx512, T>::lanes;
    case Isa::avx2: return Cfg<Isa::avx2, T>::NV * Cfg<Isa::avx2, T>::lanes;
    default: return Cfg<Isa::generic, T>::NV * Cfg<Isa::generic, T>::lanes;
  }
}

template <class T>
int64_t tile_rows(bool wide = false) {
  return wide ? tile_rows_of<T, GemmConfigWide>() : tile_rows_of<T, GemmConfig>();
}
template <class T>
int64_t tile_cols(bool wide = false) {
  return wide ? tile_cols_of<T, GemmConfigWide>() : tile_cols_of<T, GemmConfig>();
}

// Whether the wide tile computes clearly less padding for an M x N product.
template <class T>
bool prefer_wide(int64_t m, int64_t n) {
  auto padded = [&](bool wide) {
    const int64_t mr = tile_rows<T>(wide), nr = tile_cols<T>(wide);
    return double((m + mr - 1) / mr * mr) * double((n + nr - 1) / nr * nr);
  };
  return padded(true) * 1.03 < padded(false);
}

// C = beta * C before accumulating (beta == 0 never reads C, so NaN there is harmless).
template <class T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

}  // namespace

template <class T>
void gemm_threads(int max_threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                  T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                  int64_t ldc, const T* pre = nullptr, int pre_nr = 0) {
  if (m == 0 || n == 0) return;
  if (!pre && k > 0 && small_output(trans_a, trans_b, m, n, k)) {
    gemm_small_output(std::min(max_threads, num_threads()), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const bool accumulate = beta != T(0);
  if (k == 0 || alpha == T(0)) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  if (accumulate && beta != T(1)) scale_c(m, n, beta, c, ldc);
  const View<T> av = trans_a ? View<T>{a, 1, lda} : View<T>{a, lda, 1};
  const View<T> bv = trans_b ? View<T>{b, 1, ldb} : View<T>{b, ldb, 1};

  // Split C between threads along its longer side, in whole register tiles; each thread runs
  // the full blocked algorithm on its part (re-packing the shared operand costs O(1/M)).
  const double flops = double(m) * double(n) * double(k);
  const int threads = flops < kGemmParallelFlops ? 1 : std::min(max_threads, num_threads());
  const bool by_rows = m >= n && !pre;  // a prepacked B is split by whole panels
  // A prepacked B fixes the tile; otherwise the one that pads M and N least.
  const bool wide = pre ? pre_nr != tile_cols<T>(false) : prefer_wide<T>(m, n);
  const int64_t extent = by_rows ? m : n, unit = by_rows ? tile_rows<T>(wide) : tile_cols<T>(wide);
  const int64_t units = (extent + unit - 1) / unit;
  parallel_for(units, 1, [&](int64_t lo, int64_t hi) {
    const int64_t begin = lo * unit, end = std::min(extent, hi * unit);
    const View<T> a_part = by_rows ? av.block(begin, 0) : av;
    const View<T> b_part = by_rows ? bv : bv.block(0, begin);
    T* c_part = by_rows ? c + begin * ldc : c + begin;
    const int64_t mp = by_rows ? end - begin : m, np = by_rows ? n : end - begin;
    const T* pre_part = pre ? pre + begin * k : nullptr;  // begin is a whole number of panels
    switch (active_isa()) {
      case Isa::avx512: gemm_avx512(a_part, b_part, mp, np, k, alpha, c_part, ldc, accumulate, pre_part, wide); break;
      case Isa::avx2: gemm_avx2(a_part, b_part, mp, np, k, alpha, c_part, ldc, accumulate, pre_part, wide); break;
      default: gemm_generic(a_part, b_part, mp, np, k, alpha, c_part, ldc, accumulate, pre_part, wide); break;
    }
  }, /*align=*/1, threads);
}

namespace {

// C = A @ B from whole-depth panels (gemm_panels): B panel by B panel, each swept against every
// A panel while it sits in L1; so the depth is cut into slices of half L1, as for a prepacked B.
// A few row tiles (the LSTM's blocks of rows) read a panel only that often: there each slice's
// pass over C (loaded, added to, stored again) cost more than the panel's reads from L2 (the
// LSTM's step 1.5% faster at its whole depth of 512, side by side).
template <class Cfg, class T>
METALNET_INLINE void panels_blocked(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
                                    const T* b, T* c, int64_t ldc) {
  constexpr int MR = Cfg::MR, NR = Cfg::NV * Cfg::lanes, KC = Cfg::KC;
  constexpr int64_t kFewRowTiles = 4;
  alignas(64) T edge[MR * NR];
  const int64_t depth = m <= kFewRowTiles * MR
                            ? std::max<int64_t>(k, 1)
                            : std::min<int64_t>(KC, kL1Bytes / 2 / (NR * sizeof(T)) / 8 * 8);
  // An unpacked A's last partial tile of rows is packed (zero rows past m), depth by depth:
  // reading MR rows in place would run past the matrix.
  const int64_t full = lda ? m / MR * MR : m;
  T* a_edge = lda && full < m ? scratch<T>(0, size_t(MR * depth)) : nullptr;
  for (int64_t pc = 0; pc < k; pc += depth) {
    const int64_t kc = std::min<int64_t>(depth, k - pc);
    if (a_edge) pack_a<MR, 0>(View<T>{a + full * lda + pc, lda, 1}, m - full, kc, a_edge);
    for (int64_t jr = 0; jr < n; jr += NR) {
      const T* bp = b + jr * k + pc * NR;
      for (int64_t ir = 0; ir < m; ir += MR) {
        T* cp = c + ir * ldc + jr;
        const int64_t rows = std::min<int64_t>(MR, m - ir);
        if (lda && ir < full) {
          microkernel_body<T, MR, Cfg::NV, Cfg::lanes, true>(kc, a + ir * lda + pc, bp, cp, ldc,
                                                             T(1), pc > 0, lda);
          continue;
        }
        const T* ap = lda ? a_edge : a + ir * k + pc * MR;
        if (rows == MR) {
          microkernel_body<T, MR, Cfg::NV, Cfg::lanes>(kc, ap, bp, cp, ldc, T(1), pc > 0);
          continue;
        }
        microkernel_body<T, MR, Cfg::NV, Cfg::lanes>(kc, ap, bp, edge, NR, T(1), false);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t q = 0; q < NR; ++q)
            cp[r * ldc + q] = pc > 0 ? cp[r * ldc + q] + edge[r * NR + q] : edge[r * NR + q];
      }
    }
  }
}

#define METALNET_PANELS_VARIANT(ISA, TARGET)                                                 \
  template <class T>                                                                         \
  TARGET void panels_##ISA(bool wide, int64_t m, int64_t n, int64_t k, const T* a,          \
                           int64_t lda, const T* b, T* c, int64_t ldc) {                     \
    if (wide)                                                                                \
      panels_blocked<GemmConfigWide<Isa::ISA, T>>(m, n, k, a, lda, b, c, ldc);               \
    else                                                                                     \
      panels_blocked<GemmConfig<Isa::ISA, T>>(m, n, k, a, lda, b, c, ldc);                   \
  }
METALNET_PANELS_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_PANELS_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_PANELS_VARIANT(generic, )
#undef METALNET_PANELS_VARIANT

}  // namespace

template <class T>
GemmTile gemm_tile(int64_t m, bool quarters) {
  auto padded = [&](bool wide) {
    const int64_t mr = tile_rows<T>(wide);
    return (m + mr - 1) / mr * mr;
  };
  // A clear margin: the wide tile's 48-column panels round the caller's N up further.
  const bool wide = double(padded(true)) * 1.05 < double(padded(false)) &&
                    (!quarters || tile_cols<T>(true) % 4 == 0);
  return {tile_rows<T>(wide), tile_cols<T>(wide), wide};
}

template <class T>
void dot_rows(int64_t k, const T* const* a, int64_t ma, const T* const* b, int64_t nb, T* sums) {
  for (int64_t i0 = 0; i0 < ma; i0 += kDotRows)
    for (int64_t j0 = 0; j0 < nb; j0 += kDotCols)
      dot_tile<T>(k, ma, nb, i0, j0, [&](int64_t i) { return a[i]; },
                  [&](int64_t j) { return b[j]; },
                  [&](int64_t i, int64_t j, T sum) { sums[i * nb + j] = sum; });
}

template <class T>
void gemm_panels(const GemmTile& tile, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
                 T* c, int64_t ldc, int64_t lda) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_c(m, n, T(0), c, ldc);
    return;
  }
  METALNET_DISPATCH_ISA(panels, tile.wide, m, n, k, a, lda, b, c, ldc);
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm_threads(num_threads(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

namespace {

// f(std::integral_constant<int, NR>) for the panel width nr (one of the register tiles').
template <class F>
METALNET_INLINE void for_panel_width(int64_t nr, F f) {
  switch (nr) {
    case 48: f(std::integral_constant<int, 48>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 24: f(std::integral_constant<int, 24>{}); break;
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 12: f(std::integral_constant<int, 12>{}); break;
    case 8: f(std::integral_constant<int, 8>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}

// The vector length for transposing into NR-wide panels: at most 64 bytes, dividing NR.
template <class T>
constexpr int pack_lanes(int nr) {
  int lanes = 64 / int(sizeof(T));
  while (nr % lanes) lanes /= 2;
  return lanes;
}

// op(B) into panels nr wide (one of the register tiles' widths).
template <class T>
PackedB<T> pack_b_panels(int nr, bool trans_b, int64_t k, int64_t n, const T* b, int64_t ldb) {
  PackedB<T> out;
  out.isa = static_cast<int>(active_isa());
  out.nr = nr;
  out.k = k;
  out.n = n;
  const int64_t panels = (n + out.nr - 1) / out.nr;
  out.data.resize(size_t(panels) * out.nr * std::max<int64_t>(k, 1));
  const View<T> bv = trans_b ? View<T>{b, 1, ldb} : View<T>{b, ldb, 1};
  // The same panels the driver would pack, made once for the full depth K: panel p holds
  // columns [p*NR, p*NR + NR) as K rows of NR.
  parallel_simd(panels, 16, [&](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    const int64_t j0 = p0 * out.nr, j1 = std::min(n, p1 * out.nr);
    T* dst = out.data.data() + j0 * k;
    for_panel_width(out.nr, [&](auto width) METALNET_SIMD_BODY {
      constexpr int NR = width();
      pack_b<NR, pack_lanes<T>(NR)>(bv.block(0, j0), k, j1 - j0, dst);
    });
  }, 1);
  return out;
}

}  // namespace

template <class T>
PackedB<T> gemm_pack_b(bool trans_b, int64_t k, int64_t n, const T* b, int64_t ldb, int64_t m_hint) {
  const bool wide = m_hint > 0 && prefer_wide<T>(m_hint, n);
  return pack_b_panels<T>(static_cast<int>(tile_cols<T>(wide)), trans_b, k, n, b, ldb);
}

template <class T>
PackedB<T> gemm_pack_b(const GemmTile& tile, bool trans_b, int64_t k, int64_t n, const T* b,
                       int64_t ldb) {
  return pack_b_panels<T>(static_cast<int>(tile.nr), trans_b, k, n, b, ldb);
}

template <class T>
void gemm_pack_b_columns(const GemmTile& tile, int64_t k, int64_t n, const T* const* cols,
                         PackedB<T>& out) {
  out.isa = static_cast<int>(active_isa());
  out.nr = static_cast<int>(tile.nr);
  out.k = k;
  out.n = n;
  const int64_t nr = tile.nr, panels = (n + nr - 1) / nr;
  out.data.resize(size_t(panels * nr * std::max<int64_t>(k, 1)));
  // A null column is a zero one: read from a run of zeros.
  const std::vector<T> zeros(std::any_of(cols, cols + n, [](const T* c) { return !c; }) ? k : 0);
  parallel_simd(panels, 16, [&](int64_t p0, int64_t p1) METALNET_SIMD_BODY {
    for_panel_width(nr, [&](auto width) METALNET_SIMD_BODY {
      constexpr int NR = width();
      for (int64_t p = p0; p < p1; ++p) {
        const auto column = [&](int64_t c) {
          const T* col = cols[p * NR + c];
          return col ? col : zeros.data();
        };
        pack_columns<pack_lanes<T>(NR)>(column, std::min<int64_t>(NR, n - p * NR), NR, k,
                                        out.data.data() + p * NR * k);
      }
    });
  }, 1);
}

template <class T>
void gemm_packed(bool trans_a, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 const PackedB<T>& b, T beta, T* c, int64_t ldc) {
  if (b.isa != static_cast<int>(active_isa()) || b.k != k || b.n != n)
    throw std::logic_error("gemm_packed: B was packed for another ISA or shape");
  gemm_threads(num_threads(), trans_a, false, m, n, k, alpha, a, lda, b.data.data(), n, beta, c,
               ldc, b.data.data(), b.nr);
}

template <class T>
void gemm_packed_columns(bool trans_a, int64_t m, int64_t n0, int64_t n1, int64_t k, T alpha,
                         const T* a, int64_t lda, const PackedB<T>& b, T beta, T* c, int64_t ldc) {
  if (b.isa != static_cast<int>(active_isa()) || b.k != k || n0 % b.nr != 0 || n1 > b.n || n0 > n1)
    throw std::logic_error("gemm_packed_columns: B packed for another ISA or shape, or n0 not on a panel");
  const T* pre = b.data.data() + n0 * k;
  gemm_threads(1, trans_a, false, m, n1 - n0, k, alpha, a, lda, pre, n1 - n0, beta, c + n0, ldc,
               pre, b.nr);
}

template <class T>
void gemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm_threads(1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#define METALNET_INSTANTIATE(NAME, T)                                                          \
  template void NAME<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, \
                        int64_t, T, T*, int64_t);
METALNET_INSTANTIATE(gemm, float)
METALNET_INSTANTIATE(gemm, double)
METALNET_INSTANTIATE(gemm_serial, float)
METALNET_INSTANTIATE(gemm_serial, double)
#undef METALNET_INSTANTIATE
template void dot_rows<float>(int64_t, const float* const*, int64_t, const float* const*, int64_t, float*);
template void dot_rows<double>(int64_t, const double* const*, int64_t, const double* const*, int64_t, double*);
template void gemm_packed_columns<float>(bool, int64_t, int64_t, int64_t, int64_t, float,
                                         const float*, int64_t, const PackedB<float>&, float,
                                         float*, int64_t);
template void gemm_packed_columns<double>(bool, int64_t, int64_t, int64_t, int64_t, double,
                                          const double*, int64_t, const PackedB<double>&, double,
                                          double*, int64_t);
template GemmTile gemm_tile<float>(int64_t, bool);
template GemmTile gemm_tile<double>(int64_t, bool);
template void gemm_pack_b_columns<float>(const GemmTile&, int64_t, int64_t, const float* const*,
                                        PackedB<float>&);
template void gemm_pack_b_columns<double>(const GemmTile&, int64_t, int64_t, const double* const*,
                                         PackedB<double>&);
template PackedB<float> gemm_pack_b<float>(const GemmTile&, bool, int64_t, int64_t, const float*,
                                           int64_t);
template PackedB<double> gemm_pack_b<double>(const GemmTile&, bool, int64_t, int64_t,
                                             const double*, int64_t);
template void gemm_panels<float>(const GemmTile&, int64_t, int64_t, int64_t, const float*,
                                 const float*, float*, int64_t, int64_t);
template void gemm_panels<double>(const GemmTile&, int64_t, int64_t, int64_t, const double*,
                                  const double*, double*, int64_t, int64_t);
template PackedB<float> gemm_pack_b<float>(bool, int64_t, int64_t, const float*, int64_t, int64_t);
template PackedB<double> gemm_pack_b<double>(bool, int64_t, int64_t, const double*, int64_t, int64_t);
template void gemm_packed<float>(bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                 const PackedB<float>&, float, float*, int64_t);
template void gemm_packed<double>(bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                  const PackedB<double>&, double, double*, int64_t);

}  // namespace metalnet
