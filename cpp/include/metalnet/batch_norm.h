// Batch normalisation over the channel axis of an (N, C, inner) array, inner >= 1: the
// per-channel passes of BatchNorm1d/2d, each channel's statistics summed by one thread in a
// fixed order in float64 (so results do not depend on the thread count).
#pragma once

#include <cstdint>

namespace metalnet {

// mean[c] and the biased variance var[c] of x[:, c, :].
template <class T>
void batch_norm_stats(const T* x, int64_t n, int64_t c, int64_t inner, double* mean, double* var);

// y = (x - center[c]) * scale[c] + shift[c]: the normalisation and the affine map in one pass.
template <class T>
void channel_affine(const T* x, const double* center, const double* scale, const double* shift,
                    T* y, int64_t n, int64_t c, int64_t inner);

// Gradients of y = gamma * xhat + beta, xhat = (x - mean) * inv_std, from dy: dgamma[c] =
// sum dy * xhat, dbeta[c] = sum dy and dx. With `batch` the statistics were the batch's own, so
// dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)); otherwise dx = gamma inv_std dy.
// gamma may be null (no affine weight: 1).
template <class T>
void batch_norm_backward(const T* dy, const T* x, const double* mean, const double* inv_std,
                         const T* gamma, bool batch, T* dx, T* dgamma, T* dbeta, int64_t n,
                         int64_t c, int64_t inner);

}  // namespace metalnet
