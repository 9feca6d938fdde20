// Elementwise loops: y[i] = op(x[i]) (map) and y[i] = op(a[i], b[i]) (zip), vectorised for the
// active ISA (dispatch.h) and threaded in cache-line aligned ranges.
#pragma once

#include <cstdint>

#include "metalnet/dispatch.h"

namespace metalnet {

// 32K elements per thread before a second thread pays for itself.
constexpr int64_t kElementwiseGrain = 32768;

template <class Op, class T>
void map(const Op& op, const T* __restrict x, T* __restrict y, int64_t n) {
  parallel_simd(n, kElementwiseGrain, [=](int64_t lo, int64_t hi) METALNET_SIMD_BODY {
    const Op f = op;  // a local copy: its parameters (a slope) then cannot alias y
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) y[i] = f(x[i]);
  });
}

template <class Op, class T>
void zip(const Op& op, const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n) {
  parallel_simd(n, kElementwiseGrain, [=](int64_t lo, int64_t hi) METALNET_SIMD_BODY {
    const Op f = op;
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) y[i] = f(a[i], b[i]);
  });
}

}  // namespace metalnet
