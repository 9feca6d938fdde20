// Bias add and its gradient: bandwidth-bound, one pass over memory each.
#include "metalnet/bias.h"

#include "metalnet/dispatch.h"

namespace metalnet {

template <class T>
void bias_add(const T* x, const T* b, T* y, int64_t n, int64_t c, int64_t inner) {
  // Rows of `inner` elements share one bias value; threads take whole rows.
  const int64_t rows = n * c;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
  parallel_simd(rows, grain, [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    for (int64_t r = r0; r < r1; ++r) {
      const T bias = b[r % c];
      const T* xr = x + r * inner;
      T* yr = y + r * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] + bias;
    }
  }, 1);
}

template <class T>
void bias_add_backward(const T* dy, T* db, int64_t n, int64_t c, int64_t inner) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(n * inner, 1));
  parallel_simd(c, grain, [=](int64_t c0, int64_t c1) METALNET_SIMD_BODY {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* row = dy + (i * c + ch) * inner;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < inner; ++j) sum += double(row[j]);
      }
      db[ch] = T(sum);
    }
  }, 1);
}

template void bias_add<float>(const float*, const float*, float*, int64_t, int64_t, int64_t);
template void bias_add<double>(const double*, const double*, double*, int64_t, int64_t, int64_t);
template void bias_add_backward<float>(const float*, float*, int64_t, int64_t, int64_t);
template void bias_add_backward<double>(const double*, double*, int64_t, int64_t, int64_t);

}  // namespace metalnet
