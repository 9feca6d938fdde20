// GEMM: C = alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T, row-major, any M, N, K >= 0.
//
// Built the Goto/BLIS way (cpp/gemm.cpp): B is packed into KC x NC blocks of NR-wide column
// panels, A into MC x KC blocks of MR-high row panels, and a register-tile microkernel
// (gemm_microkernel.h) computes MR x NR of C at a time. Block sizes live in gemm_config.h.
#pragma once

#include <cstdint>
#include <vector>

namespace metalnet {

// A is M x K (or K x M when trans_a) with row stride lda; likewise B (K x N or N x K, ldb);
// C is M x N with row stride ldc. beta == 0 means C is not read (it may hold NaN).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// op(B) (K x N) packed once into the microkernel's panels, for a B that many GEMMs share (an
// LSTM's recurrent weights, used at every step). Valid for the ISA active when packed.
// m_hint, the M of the products to come (0: unknown), picks the register tile that fits it.
template <class T>
struct PackedB {
  std::vector<T> data;
  int isa = 0, nr = 0;
  int64_t k = 0, n = 0;
};
template <class T>
PackedB<T> gemm_pack_b(bool trans_b, int64_t k, int64_t n, const T* b, int64_t ldb,
                       int64_t m_hint = 0);
// C = alpha * op(A) @ B + beta * C with B from gemm_pack_b (same k, n).
template <class T>
void gemm_packed(bool trans_a, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 const PackedB<T>& b, T beta, T* c, int64_t ldc);

// Columns [n0, n1) of that product on the calling thread only (c still points at column 0;
// n0 a multiple of b.nr): for callers that split the columns between threads themselves.
template <class T>
void gemm_packed_columns(bool trans_a, int64_t m, int64_t n0, int64_t n1, int64_t k, T alpha,
                         const T* a, int64_t lda, const PackedB<T>& b, T beta, T* c, int64_t ldc);

// For callers that pack operands themselves (Winograd writes its transformed input straight
// into B panels). The register tile of the active ISA: A is packed in MR-high panels, B in
// NR-wide ones, each over the full depth K.
struct GemmTile {
  int64_t mr, nr;
  bool wide;
};
// The wide tile where it pads m rows clearly less (64 rows: 64 vs 72), else the tall one;
// the tall one always when its columns must split in quarters (nr % 4 == 0 for both tiles
// except the generic ISA's wide double tile).
template <class T>
GemmTile gemm_tile(int64_t m, bool quarters = false);
// op(B) packed into `tile`'s B panels (gemm_pack_b with the panel width given, not chosen).
template <class T>
PackedB<T> gemm_pack_b(const GemmTile& tile, bool trans_b, int64_t k, int64_t n, const T* b,
                       int64_t ldb);
// B (k x n) packed into `tile`'s panels with column j the k contiguous values at cols[j], or
// zeros where cols[j] is null: for callers that take B's columns from a weight's rows in their
// own order (an LSTM's gates regrouped by hidden unit) without copying them first. `out` keeps
// its storage when it is already the right size (a caller's buffer reused across calls).
template <class T>
void gemm_pack_b_columns(const GemmTile& tile, int64_t k, int64_t n, const T* const* cols,
                         PackedB<T>& out);
// C (M x N, row stride ldc) = A @ B on the calling thread, from panels the caller packed:
// A (M x K) in MR-high panels, element (i, p) at (i / MR) * MR*K + p * MR + i % MR, rows past
// M zero; B (K x N) in NR-wide panels, element (p, j) at (j / NR) * NR*K + p * NR + j % NR.
// N must be a whole number of panels (the caller pads B's last panel with finite values).
// With lda > 0 (lda >= k), A is instead row-major with row stride lda, read in place (only a
// last partial tile of rows is packed): for an A used once, where packing it costs more than
// it saves.
template <class T>
void gemm_panels(const GemmTile& tile, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
                 T* c, int64_t ldc, int64_t lda = 0);

// sums[i * nb + j] = a[i] . b[j], each a dot product of k elements, on the calling thread: C =
// A @ B^T for rows given by pointers (which may overlap, e.g. shifted views of one image).
template <class T>
void dot_rows(int64_t k, const T* const* a, int64_t ma, const T* const* b, int64_t nb, T* sums);

// The same on the calling thread only: for callers that already run one task per thread.
template <class T>
void gemm_serial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace metalnet
