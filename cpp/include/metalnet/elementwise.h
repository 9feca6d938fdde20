// Elementwise loops, written once and compiled for every ISA.
//
// An operation is a small struct with an always-inline operator(); `map` applies it to one
// input, `zip` to two. Each loop body is instantiated inside three functions carrying target
// attributes (AVX-512, AVX2, generic); the always-inline operation is inlined into each, so the
// compiler vectorises it for that ISA. Threads split the array into cache-line aligned ranges.
#pragma once

#include <cstdint>

#include "metalnet/isa.h"
#include "metalnet/parallel.h"

namespace metalnet {

// 32K elements per thread before a second thread pays for itself.
constexpr int64_t kElementwiseGrain = 32768;

template <class Op, class T>
METALNET_INLINE void map_body(const Op& op, const T* __restrict x, T* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
}

template <class Op, class T>
METALNET_INLINE void zip_body(const Op& op, const T* __restrict a, const T* __restrict b,
                              T* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = op(a[i], b[i]);
}

template <class Op, class T>
METALNET_TARGET_AVX512 void map_avx512(const Op& op, const T* x, T* y, int64_t n) {
  map_body(op, x, y, n);
}
template <class Op, class T>
METALNET_TARGET_AVX2 void map_avx2(const Op& op, const T* x, T* y, int64_t n) {
  map_body(op, x, y, n);
}
template <class Op, class T>
void map_generic(const Op& op, const T* x, T* y, int64_t n) {
  map_body(op, x, y, n);
}

template <class Op, class T>
METALNET_TARGET_AVX512 void zip_avx512(const Op& op, const T* a, const T* b, T* y, int64_t n) {
  zip_body(op, a, b, y, n);
}
template <class Op, class T>
METALNET_TARGET_AVX2 void zip_avx2(const Op& op, const T* a, const T* b, T* y, int64_t n) {
  zip_body(op, a, b, y, n);
}
template <class Op, class T>
void zip_generic(const Op& op, const T* a, const T* b, T* y, int64_t n) {
  zip_body(op, a, b, y, n);
}

// y[i] = op(x[i]) for i < n.
template <class Op, class T>
void map(const Op& op, const T* x, T* y, int64_t n) {
  parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    METALNET_DISPATCH_ISA(map, op, x + lo, y + lo, hi - lo);
  });
}

// y[i] = op(a[i], b[i]) for i < n.
template <class Op, class T>
void zip(const Op& op, const T* a, const T* b, T* y, int64_t n) {
  parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    METALNET_DISPATCH_ISA(zip, op, a + lo, b + lo, y + lo, hi - lo);
  });
}

}  // namespace metalnet
