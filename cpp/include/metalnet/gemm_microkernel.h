// The GEMM register tile: C[MR x NR] (+)= alpha * A_panel[MR x kc] @ B_panel[kc x NR].
//
// Written once with GCC/Clang vector extensions and compiled per ISA (the vector width comes
// from GemmConfig): the MR x NV accumulators live in registers for the whole k loop, each step
// loads NV vectors of B, broadcasts MR values of A and issues MR*NV fused multiply-adds.
#pragma once

#include <cstdint>
#include <cstring>

#include "metalnet/isa.h"

namespace metalnet {

template <class T, int Lanes>
struct SimdVec {
  typedef T type __attribute__((vector_size(Lanes * sizeof(T))));
};

template <class V, class T>
METALNET_INLINE V load_vec(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

template <class V, class T>
METALNET_INLINE void store_vec(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// a: packed MR-high panel (a[k*MR + i]), or with kRowsA, MR rows of a row-major A read in
// place (a[i*lda + k]: the broadcasts come from MR streams instead of one, which the loads do
// not mind, and the caller saves packing an A it would use once); b: packed NR-wide panel
// (b[k*NR + j]). accumulate == false: C = alpha*AB (C not read); true: C += alpha*AB.
template <class T, int MR, int NV, int Lanes, bool kRowsA = false>
METALNET_INLINE void microkernel_body(int64_t kc, const T* __restrict a, const T* __restrict b,
                                      T* __restrict c, int64_t ldc, T alpha, bool accumulate,
                                      int64_t lda = 0) {
  using V = typename SimdVec<T, Lanes>::type;
  constexpr int NR = NV * Lanes;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = load_vec<V>(b + j * Lanes);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      // Scalar times vector: the compiler broadcasts a[i] straight from memory. (`V{} + a[i]`
      // would be a scalar add of 0.0 -- it must turn -0.0 into +0.0 -- then a register
      // broadcast: two extra floating-point instructions per value of A.)
      const T ai = kRowsA ? a[i * lda] : a[i];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] += ai * bv[j];
    }
    a += kRowsA ? 1 : MR;
    b += NR;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      T* cp = c + i * ldc + j * Lanes;
      V out = acc[i][j] * alpha;
      if (accumulate) out += load_vec<V>(cp);
      store_vec(cp, out);
    }
}

}  // namespace metalnet
