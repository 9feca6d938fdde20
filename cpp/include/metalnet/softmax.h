// Row-wise softmax, log-softmax and softmax cross-entropy over an (N, C) matrix.
#pragma once

#include <cstdint>

namespace metalnet {

template <class T> void softmax(const T* x, T* y, int64_t n, int64_t c);
template <class T> void log_softmax(const T* x, T* y, int64_t n, int64_t c);
// loss = mean_i(logsumexp(x_i) - x_i[label_i]); dx = (softmax(x) - onehot(label)) / n.
// Per-row losses are summed in row order afterwards, so the result is the same for any
// number of threads.
template <class T>
T softmax_cross_entropy(const T* x, const int64_t* labels, T* dx, int64_t n, int64_t c);

}  // namespace metalnet
