// Bias over the channel axis of an (N, C, inner) array: y = x + b[c]; db[c] = sum of dy[:, c, :].
#pragma once

#include <cstdint>

namespace metalnet {

template <class T>
void bias_add(const T* x, const T* b, T* y, int64_t n, int64_t c, int64_t inner);
// Each channel is summed by one thread in a fixed order (float64 accumulation), so the result
// does not depend on the thread count.
template <class T>
void bias_add_backward(const T* dy, T* db, int64_t n, int64_t c, int64_t inner);

}  // namespace metalnet
