// Batch normalisation passes (see batch_norm.h). Each channel is N runs of `inner` contiguous
// values; threads take whole channels, so every sum is one thread's, in a fixed order.
#include "metalnet/batch_norm.h"

#include <algorithm>

#include "metalnet/dispatch.h"
#include "metalnet/parallel.h"

namespace metalnet {
namespace {

// Channels per task: enough values to be worth a thread.
int64_t channel_grain(int64_t n, int64_t inner) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(n * inner, 1));
}

}  // namespace

template <class T>
void batch_norm_stats(const T* x, int64_t n, int64_t c, int64_t inner, double* mean, double* var) {
  const double count = double(n) * double(inner);
  parallel_simd(c, channel_grain(n, inner), [=](int64_t c0, int64_t c1) METALNET_SIMD_BODY {
    for (int64_t ch = c0; ch < c1; ++ch) {
      // Sums of x - shift, shift one of the channel's values: the variance as E[d^2] - E[d]^2
      // then loses nothing to a mean far from zero.
      const double shift = count > 0 ? double(x[ch * inner]) : 0.0;
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* row = x + (i * c + ch) * inner;
#pragma omp simd reduction(+ : s, ss)
        for (int64_t j = 0; j < inner; ++j) {
          const double d = double(row[j]) - shift;
          s += d;
          ss += d * d;
        }
      }
      const double m = count > 0 ? s / count : 0.0;
      mean[ch] = shift + m;
      var[ch] = count > 0 ? std::max(0.0, ss / count - m * m) : 0.0;
    }
  }, 1);
}

// In float64: x - center loses nothing when the mean is large against the spread (float32
// values around 1000 apart by 0.01), and as one x * a + b it would cancel.
template <class T>
void channel_affine(const T* x, const double* center, const double* scale, const double* shift,
                    T* y, int64_t n, int64_t c, int64_t inner) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
  parallel_simd(n * c, grain, [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    for (int64_t r = r0; r < r1; ++r) {
      const double m = center[r % c], a = scale[r % c], b = shift[r % c];
      const T* xr = x + r * inner;
      T* yr = y + r * inner;
#pragma omp simd
      for (int64_t j = 0; j < inner; ++j) yr[j] = T((double(xr[j]) - m) * a + b);
    }
  }, 1);
}

template <class T>
void batch_norm_backward(const T* dy, const T* x, const double* mean, const double* inv_std,
                         const T* gamma, bool batch, T* dx, T* dgamma, T* dbeta, int64_t n,
                         int64_t c, int64_t inner) {
  const double count = double(n) * double(inner);
  parallel_simd(c, channel_grain(n, inner), [=](int64_t c0, int64_t c1) METALNET_SIMD_BODY {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double m = mean[ch], is = inv_std[ch];
      double sg = 0, sgx = 0;  // sum dy, sum dy * (x - mean)
      for (int64_t i = 0; i < n; ++i) {
        const T* g = dy + (i * c + ch) * inner;
        const T* xr = x + (i * c + ch) * inner;
#pragma omp simd reduction(+ : sg, sgx)
        for (int64_t j = 0; j < inner; ++j) {
          sg += double(g[j]);
          sgx += double(g[j]) * (double(xr[j]) - m);
        }
      }
      if (dbeta) dbeta[ch] = T(sg);
      if (dgamma) dgamma[ch] = T(sgx * is);
      if (!dx) continue;
      // dx = k (dy - a - (x - mean) b): k = gamma inv_std; with batch statistics a = mean(dy)
      // and b = mean(dy xhat) inv_std = sum(dy (x - mean)) inv_std^2 / count.
      const double k = (gamma ? double(gamma[ch]) : 1.0) * is;
      const double ka = batch && count > 0 ? k * sg / count : 0.0;
      const double kb = batch && count > 0 ? k * sgx * is * is / count : 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const T* g = dy + (i * c + ch) * inner;
        const T* xr = x + (i * c + ch) * inner;
        T* out = dx + (i * c + ch) * inner;
#pragma omp simd
        for (int64_t j = 0; j < inner; ++j)
          out[j] = T(k * double(g[j]) - ka - kb * (double(xr[j]) - m));
      }
    }
  }, 1);
}

#define METALNET_INSTANTIATE(T)                                                                \
  template void batch_norm_stats<T>(const T*, int64_t, int64_t, int64_t, double*, double*);    \
  template void channel_affine<T>(const T*, const double*, const double*, const double*, T*,   \
                                  int64_t, int64_t, int64_t);                                   \
  template void batch_norm_backward<T>(const T*, const T*, const double*, const double*,       \
                                       const T*, bool, T*, T*, T*, int64_t, int64_t, int64_t);
METALNET_INSTANTIATE(float)
METALNET_INSTANTIATE(double)
#undef METALNET_INSTANTIATE

}  // namespace metalnet
