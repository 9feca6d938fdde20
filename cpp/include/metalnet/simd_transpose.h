// An L x L block of vectors transposed in registers: log2(L) rounds, each swapping the
// off-diagonal h x h sub-blocks of every 2h x 2h block with one two-source permute per vector
// (L log2 L permutes: 64 for 16 floats, where scalar copies take L*L loads and stores).
#pragma once

#include <type_traits>

#include "metalnet/gemm_microkernel.h"

namespace metalnet {

template <class T, int L>
METALNET_INLINE void transpose_square(typename SimdVec<T, L>::type (&a)[L]) {
  using V = typename SimdVec<T, L>::type;
  using Index = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef Index I __attribute__((vector_size(sizeof(V))));
#pragma GCC unroll 8
  for (int h = L / 2; h >= 1; h /= 2) {
    // Row i (bit h clear) takes row i+h's columns c-h where c has bit h; row i+h the reverse.
    I low, high;
#pragma GCC unroll 16
    for (int c = 0; c < L; ++c) {
      low[c] = (c & h) ? L + c - h : c;
      high[c] = (c & h) ? L + c : c + h;
    }
#pragma GCC unroll 16
    for (int i = 0; i < L; ++i)
      if (!(i & h)) {
        const V x = a[i], y = a[i + h];
        a[i] = __builtin_shuffle(x, y, low);
        a[i + h] = __builtin_shuffle(x, y, high);
      }
  }
}

}  // namespace metalnet
