// Register transposes and fixed-size copies for the kernels that move data between layouts.
//
// An L x L block of vectors transposed in registers: log2(L) rounds, each swapping the
// off-diagonal h x h sub-blocks of every 2h x 2h block with one two-source permute per vector
// (L log2 L permutes: 64 for 16 floats, where scalar copies take L*L loads and stores).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
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

// dst[0 .. cells) = src[0 .. cells), cells <= L, as at most log2(L) + 1 copies of fixed size:
// a memcpy of a run-time length compiles to a `rep movs`, which costs tens of cycles to start
// (a quarter of a kernel's time when it copied 10 values per output channel and row).
template <class T, int L>
METALNET_INLINE void copy_cells(T* dst, const T* src, int cells) {
  if (cells >= L) {
    std::memcpy(dst, src, L * sizeof(T));
    return;
  }
  int done = 0;
#pragma GCC unroll 8
  for (int run = L / 2; run >= 1; run /= 2)
    if (cells & run) {
      std::memcpy(dst + done, src + done, run * sizeof(T));
      done += run;
    }
}

// dst[0 .. n) = src[0 .. n) in pieces of at most 16 values copied as copy_cells does: for the
// rows of a few to a few hundred values that convolutions copy by the thousand, where each
// run-time-length memcpy would be a call to memmove (longer runs still go to memcpy).
template <class T>
METALNET_INLINE void copy_run(T* dst, const T* src, int64_t n) {
  if (n >= 256) {  // long enough for the library's copy to pay its start
    std::memcpy(dst, src, size_t(n) * sizeof(T));
    return;
  }
  for (int64_t i = 0; i < n; i += 16)
    copy_cells<T, 16>(dst + i, src + i, int(std::min<int64_t>(16, n - i)));
}

// L runs of `cells` values (run i at run(i); runs past `count` are zero, as are the cells past
// `cells`) loaded and transposed: block[c] holds cell c of every run.
template <class T, int L, class Run>
METALNET_INLINE void load_transposed_runs(typename SimdVec<T, L>::type (&block)[L], Run run,
                                          int count, int cells) {
  using V = typename SimdVec<T, L>::type;
#pragma GCC unroll 16
  for (int i = 0; i < L; ++i) {
    block[i] = V{};
    if (i < count) copy_cells<T, L>(reinterpret_cast<T*>(&block[i]), run(i), cells);
  }
  transpose_square<T, L>(block);
}

// The same with run i at src + i*stride.
template <class T, int L>
METALNET_INLINE void load_transposed(typename SimdVec<T, L>::type (&block)[L], const T* src,
                                     int64_t stride, int count, int cells) {
  load_transposed_runs<T, L>(block, [&](int i) { return src + i * stride; }, count, cells);
}

// Planes of rows x cols elements from `count` sources (images, or channels: source i's plane p
// at src[i*stride + p*rows*cols]) to vectors across the sources, dst[p][row][left + col][L]:
// lane i of a cell is source i's, lanes past count are zero. dst rows are `width` cells long;
// the cells around the copied ones are left as they are (the callers keep them zero: their
// buffers start zeroed and only these cells are ever written).
template <class T, int L>
METALNET_INLINE void to_lanes(const T* src, int64_t stride, int count, int64_t planes,
                              int64_t rows, int64_t cols, int64_t width, int64_t left, T* dst) {
  using V = typename SimdVec<T, L>::type;
  const int64_t size = rows * cols;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t q = 0; q < size; q += L) {
      const int cells = int(std::min<int64_t>(L, size - q));
      V block[L];
      load_transposed<T, L>(block, src + p * size + q, stride, count, cells);
      int64_t row = q / cols, col = q % cols;
      for (int c = 0; c < cells; ++c) {
        store_vec(dst + ((p * rows + row) * width + left + col) * L, block[c]);
        if (++col == cols) col = 0, ++row;
      }
    }
}

// The reverse: dst[i*stride + p*size + q] = src[p][q][i] for the first `count` lanes.
template <class T, int L>
METALNET_INLINE void from_lanes(const T* src, int count, int64_t planes, int64_t size, T* dst,
                                int64_t stride) {
  using V = typename SimdVec<T, L>::type;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t q = 0; q < size; q += L) {
      const int cells = int(std::min<int64_t>(L, size - q));
      V block[L];
#pragma GCC unroll 16
      for (int c = 0; c < L; ++c)
        block[c] = c < cells ? load_vec<V>(src + (p * size + q + c) * L) : V{};
      transpose_square<T, L>(block);
      for (int i = 0; i < count; ++i)
        copy_cells<T, L>(dst + i * stride + p * size + q, reinterpret_cast<const T*>(&block[i]),
                         cells);
    }
}

// dst[j*dst_stride + i] = src[i*src_stride + j] for a rows x cols block, L x L at a time
// through registers (partial blocks at the edges copied as runs of cells).
template <class T, int L>
METALNET_INLINE void transpose_block(const T* src, int64_t src_stride, int64_t rows,
                                     int64_t cols, T* dst, int64_t dst_stride) {
  using V = typename SimdVec<T, L>::type;
  for (int64_t r0 = 0; r0 < rows; r0 += L) {
    const int nr = int(std::min<int64_t>(L, rows - r0));
    for (int64_t c0 = 0; c0 < cols; c0 += L) {
      const int nc = int(std::min<int64_t>(L, cols - c0));
      V block[L];
      load_transposed<T, L>(block, src + r0 * src_stride + c0, src_stride, nr, nc);
      for (int j = 0; j < nc; ++j)
        copy_cells<T, L>(dst + (c0 + j) * dst_stride + r0, reinterpret_cast<const T*>(&block[j]),
                         nr);
    }
  }
}

// Index vectors for the two-source permutes below: lane i takes lane 2i + odd of the pair
// (x, y) (evens or odds), or interleaves the halves: lane 2i + 0/1 from x/y's lane i + base.
template <class I, int L>
METALNET_INLINE I every_other(int odd) {
  I idx;
#pragma GCC unroll 16
  for (int i = 0; i < L; ++i) idx[i] = 2 * i + odd;
  return idx;
}
template <class I, int L>
METALNET_INLINE I zip_half(int base) {
  I idx;
#pragma GCC unroll 16
  for (int i = 0; i < L; ++i) idx[i] = (i % 2) * L + base + i / 2;
  return idx;
}

// dst[b][j] = s[4j + b] for b < 4, j < n <= L, where s[i] = src[i] for lo <= i < hi and 0
// elsewhere: a padded row split into its four column phases (the Winograd F(4x4) input tiles
// step 4 columns), by 8 two-source permutes per 4L values. With `readable` (the 4L values at
// src may be read) the row is loaded whole and the few cells outside [lo, hi) zeroed after;
// else s goes through a zeroed copy (whose small stores the loads wait for).
template <class T, int L>
METALNET_INLINE void deinterleave4(const T* src, int n, int lo, int hi, bool readable,
                                   T* const (&dst)[4]) {
  using V = typename SimdVec<T, L>::type;
  using Index = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef Index I __attribute__((vector_size(sizeof(V))));
  const int first = std::clamp(lo, 0, 4 * n), last = std::clamp(hi, first, 4 * n);
  V v[4];
  if (readable) {
    for (int i = 0; i < 4; ++i) v[i] = load_vec<V>(src + i * L);
  } else {
    T buffer[4 * L] = {};
    copy_run(buffer + first, src + first, last - first);
    for (int i = 0; i < 4; ++i) v[i] = load_vec<V>(buffer + i * L);
  }
  const I even = every_other<I, L>(0), odd = every_other<I, L>(1);
  const V e01 = __builtin_shuffle(v[0], v[1], even), o01 = __builtin_shuffle(v[0], v[1], odd);
  const V e23 = __builtin_shuffle(v[2], v[3], even), o23 = __builtin_shuffle(v[2], v[3], odd);
  const V phase[4] = {__builtin_shuffle(e01, e23, even), __builtin_shuffle(o01, o23, even),
                      __builtin_shuffle(e01, e23, odd), __builtin_shuffle(o01, o23, odd)};
  for (int b = 0; b < 4; ++b) copy_cells<T, L>(dst[b], reinterpret_cast<const T*>(&phase[b]), n);
  if (readable) {  // the padding read from memory around the row
    for (int i = 0; i < first; ++i) dst[i % 4][i / 4] = T(0);
    for (int i = last; i < 4 * n; ++i) dst[i % 4][i / 4] = T(0);
  }
}

// The reverse: dst[4j + b] = src[b][j] for b < 4, j < n <= L; L values are read from each
// src[b] (the lanes past n are discarded), so they must be readable.
template <class T, int L>
METALNET_INLINE void interleave4(const T* const (&src)[4], int n, T* dst) {
  using V = typename SimdVec<T, L>::type;
  using Index = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef Index I __attribute__((vector_size(sizeof(V))));
  V p[4];
  for (int b = 0; b < 4; ++b) p[b] = load_vec<V>(src[b]);
  const I low = zip_half<I, L>(0), high = zip_half<I, L>(L / 2);
  const V e01 = __builtin_shuffle(p[0], p[2], low), e23 = __builtin_shuffle(p[0], p[2], high);
  const V o01 = __builtin_shuffle(p[1], p[3], low), o23 = __builtin_shuffle(p[1], p[3], high);
  const V v[4] = {__builtin_shuffle(e01, o01, low), __builtin_shuffle(e01, o01, high),
                  __builtin_shuffle(e23, o23, low), __builtin_shuffle(e23, o23, high)};
  if (n == L) {
    std::memcpy(dst, v, sizeof(v));
  } else {
    copy_run(dst, reinterpret_cast<const T*>(v), 4 * n);
  }
}

}  // namespace metalnet
