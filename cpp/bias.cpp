// Bias add and its gradient: bandwidth-bound, one pass over memory each.
#include "metalnet/bias.h"

#include <vector>

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

// Short rows (a Linear layer's (N, C) gradient, inner = 1): summing one channel at a time would
// stride through memory, so each thread instead adds whole rows of C * inner into its own
// partial sums (vectorised along the row), and the partials are added in thread order.
template <class T>
void bias_add_backward_rows(const T* dy, T* db, int64_t n, int64_t c, int64_t inner) {
  const int64_t width = c * inner;
  const int threads = std::max(1, num_threads());
  std::vector<double> partial(size_t(threads) * width, 0.0);
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(width, 1));
  parallel_simd(n, grain, [&, dy, width](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    double* acc = partial.data() + size_t(thread_index()) * width;
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = dy + r * width;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) acc[j] += double(row[j]);
    }
  }, 1);
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int t = 0; t < threads; ++t)
      for (int64_t j = 0; j < inner; ++j) sum += partial[size_t(t) * width + ch * inner + j];
    db[ch] = T(sum);
  }
}

template <class T>
void bias_add_backward(const T* dy, T* db, int64_t n, int64_t c, int64_t inner) {
  if (inner < 16) return bias_add_backward_rows(dy, db, n, c, inner);
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
