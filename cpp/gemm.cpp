// GEMM driver: packing, cache blocking, threading (see gemm.h for the picture).
#include "metalnet/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

#include "metalnet/gemm_config.h"
#include "metalnet/gemm_microkernel.h"
#include "metalnet/parallel.h"

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
template <int MR, class T>
METALNET_INLINE void pack_a(const View<T>& a, int64_t mc, int64_t kc, T* __restrict dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - i0);
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < rows; ++r) dst[r] = a(i0 + r, k);
      for (int64_t r = rows; r < MR; ++r) dst[r] = T(0);
      dst += MR;
    }
  }
}

// Rows [0, kc) x cols [0, nc) of B into NR-wide panels: dst[panel * kc*NR + k*NR + c].
template <int NR, class T>
METALNET_INLINE void pack_b(const View<T>& b, int64_t kc, int64_t nc, T* __restrict dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - j0);
    if (b.rs == 1) {
      // op(B) = B^T of a row-major matrix: each panel column is a contiguous run in memory.
      // Read those runs in order and scatter into the (L1-sized) panel, rather than gather
      // NR elements a full row apart for every k.
      for (int64_t c = 0; c < cols; ++c) {
        const T* src = b.p + (j0 + c) * b.cs;
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
      }
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t c = cols; c < NR; ++c) dst[k * NR + c] = T(0);
      dst += kc * NR;
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {  // row-major B: each panel row is contiguous
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
template <class Cfg, class T>
METALNET_INLINE void gemm_blocked(const View<T>& a, const View<T>& b, int64_t m, int64_t n,
                                  int64_t k, T alpha, T* c, int64_t ldc, bool accumulate) {
  constexpr int MR = Cfg::MR, NR = Cfg::NV * Cfg::lanes;
  constexpr int KC = Cfg::KC, NC = Cfg::NC, MC = Cfg::MC;
  T* apack = scratch<T>(0, size_t(MC) * KC);
  T* bpack = scratch<T>(1, size_t(KC) * ((NC + NR - 1) / NR * NR));
  alignas(64) T edge[MR * NR];

  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min<int64_t>(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, k - pc);
      const bool add = accumulate || pc > 0;
      pack_b<NR>(b.block(pc, jc), kc, nc, bpack);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min<int64_t>(MC, m - ic);
        pack_a<MR>(a.block(ic, pc), mc, kc, apack);
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const int64_t rows = std::min<int64_t>(MR, mc - ir);
          const T* ap = apack + ir * kc;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t cols = std::min<int64_t>(NR, nc - jr);
            const T* bp = bpack + jr * kc;
            T* cp = c + (ic + ir) * ldc + jc + jr;
            if (rows == MR && cols == NR) {
              microkernel_body<T, MR, Cfg::NV, Cfg::lanes>(kc, ap, bp, cp, ldc, alpha, add);
            } else {  // edge tile: compute the full tile aside, copy the valid part
              microkernel_body<T, MR, Cfg::NV, Cfg::lanes>(kc, ap, bp, edge, NR, alpha, false);
              for (int64_t r = 0; r < rows; ++r)
                for (int64_t q = 0; q < cols; ++q)
                  cp[r * ldc + q] = add ? cp[r * ldc + q] + edge[r * NR + q] : edge[r * NR + q];
            }
          }
        }
      }
    }
  }
}

#define METALNET_GEMM_VARIANT(ISA, TARGET)                                                  \
  template <class T>                                                                        \
  TARGET void gemm_##ISA(const View<T>& a, const View<T>& b, int64_t m, int64_t n,          \
                         int64_t k, T alpha, T* c, int64_t ldc, bool accumulate) {          \
    gemm_blocked<GemmConfig<Isa::ISA, T>>(a, b, m, n, k, alpha, c, ldc, accumulate);        \
  }
METALNET_GEMM_VARIANT(avx512, METALNET_TARGET_AVX512)
METALNET_GEMM_VARIANT(avx2, METALNET_TARGET_AVX2)
METALNET_GEMM_VARIANT(generic, )
#undef METALNET_GEMM_VARIANT

template <class T>
int64_t tile_rows() {
  switch (active_isa()) {
    case Isa::avx512: return GemmConfig<Isa::avx512, T>::MR;
    case Isa::avx2: return GemmConfig<Isa::avx2, T>::MR;
    default: return GemmConfig<Isa::generic, T>::MR;
  }
}

template <class T>
int64_t tile_cols() {
  switch (active_isa()) {
    case Isa::avx512: return GemmConfig<Isa::avx512, T>::NV * GemmConfig<Isa::avx512, T>::lanes;
    case Isa::avx2: return GemmConfig<Isa::avx2, T>::NV * GemmConfig<Isa::avx2, T>::lanes;
    default: return GemmConfig<Isa::generic, T>::NV * GemmConfig<Isa::generic, T>::lanes;
  }
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
                  int64_t ldc) {
  if (m == 0 || n == 0) return;
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
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n, unit = by_rows ? tile_rows<T>() : tile_cols<T>();
  const int64_t units = (extent + unit - 1) / unit;
  parallel_for(units, 1, [&](int64_t lo, int64_t hi) {
    const int64_t begin = lo * unit, end = std::min(extent, hi * unit);
    const View<T> a_part = by_rows ? av.block(begin, 0) : av;
    const View<T> b_part = by_rows ? bv : bv.block(0, begin);
    T* c_part = by_rows ? c + begin * ldc : c + begin;
    const int64_t mp = by_rows ? end - begin : m, np = by_rows ? n : end - begin;
    switch (active_isa()) {
      case Isa::avx512: gemm_avx512(a_part, b_part, mp, np, k, alpha, c_part, ldc, accumulate); break;
      case Isa::avx2: gemm_avx2(a_part, b_part, mp, np, k, alpha, c_part, ldc, accumulate); break;
      default: gemm_generic(a_part, b_part, mp, np, k, alpha, c_part, ldc, accumulate); break;
    }
  }, /*align=*/1, threads);
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm_threads(num_threads(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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

}  // namespace metalnet
