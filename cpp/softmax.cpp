// Softmax family: per row, one pass for the max, one that writes exp(x - max), one that sums
// it (in double), one that scales; the row stays in L1 throughout. Rows are split between threads; exp comes from vmath.h (vectorised).
#include "metalnet/softmax.h"

#include <cmath>
#include <limits>
#include <vector>

#include "metalnet/dispatch.h"
#include "metalnet/vmath.h"

namespace metalnet {
namespace {

template <class T>
METALNET_INLINE T row_max(const T* x, int64_t c) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < c; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// y = exp(x - m); returns the sum, accumulated in double so that wide float32 rows (a
// 70,000-class output layer) keep float32 accuracy.
// Two loops, not one: mixing the float exp with a double reduction in one loop stops the
// compiler vectorising the exp (4x slower); the second pass reads a row still in L1.
template <class T>
METALNET_INLINE T exp_shifted(const T* x, T m, T* y, int64_t c) {
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) y[j] = vexp(x[j] - m);
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < c; ++j) sum += double(y[j]);
  return T(sum);
}

int64_t row_grain(int64_t c) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(c, 1)); }

}  // namespace

template <class T>
void softmax(const T* x, T* y, int64_t n, int64_t c) {
  parallel_simd(n, row_grain(c), [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * c;
      T* yr = y + r * c;
      const T inv = T(1) / exp_shifted(xr, row_max(xr, c), yr, c);
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) yr[j] *= inv;
    }
  }, 1);
}

template <class T>
void log_softmax(const T* x, T* y, int64_t n, int64_t c) {
  parallel_simd(n, row_grain(c), [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * c;
      T* yr = y + r * c;
      const T m = row_max(xr, c);
      const T shift = m + std::log(exp_shifted(xr, m, yr, c));  // yr is scratch here
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) yr[j] = xr[j] - shift;
    }
  }, 1);
}

template <class T>
T softmax_cross_entropy(const T* x, const int64_t* labels, T* dx, int64_t n, int64_t c) {
  std::vector<double> losses(n);
  double* loss = losses.data();
  parallel_simd(n, row_grain(c), [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    const T inv_n = T(1) / T(n);
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * c;
      T* dr = dx + r * c;
      const T m = row_max(xr, c);
      const T sum = exp_shifted(xr, m, dr, c);
      const T scale = inv_n / sum;
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) dr[j] *= scale;
      const int64_t label = labels[r];
      dr[label] -= inv_n;
      loss[r] = double(m) + std::log(double(sum)) - double(xr[label]);
    }
  }, 1);
  double total = 0;
  for (int64_t r = 0; r < n; ++r) total += losses[r];
  return T(total / double(n));
}

#define METALNET_INSTANTIATE(T)                                                     \
  template void softmax<T>(const T*, T*, int64_t, int64_t);                         \
  template void log_softmax<T>(const T*, T*, int64_t, int64_t);                     \
  template T softmax_cross_entropy<T>(const T*, const int64_t*, T*, int64_t, int64_t);
METALNET_INSTANTIATE(float)
METALNET_INSTANTIATE(double)
#undef METALNET_INSTANTIATE

}  // namespace metalnet
