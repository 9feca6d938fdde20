// CUDA GEMM: out = alpha * op(a) @ op(b) + beta * c, all row-major (C-contiguous).
//
// op(a) is (M, K): a is (M, K) with leading dimension K, or (K, M) with leading dimension M when
// trans_a. op(b) is (K, N): b is (K, N) (ld N), or (N, K) (ld K) when trans_b. out and c are
// (M, N) (ld N). c is read only when it is non-null and beta != 0 (BLAS semantics: NaN in c does
// not leak through beta = 0); out is written in full and never read, so out may be uninitialised.
// K = 0 gives out = beta * c (or zeros). Pointers are device pointers; the kernels run on
// `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace metalnet::cuda {

template <class T>
void gemm(const T* a, const T* b, const T* c, T* out, int64_t m, int64_t n, int64_t k, T alpha,
          T beta, bool trans_a, bool trans_b, cudaStream_t stream);

// The name of the kernel configuration gemm<float> picks for this shape and these pointers
// (e.g. "sgemm_128x128x8_vec"): for tests that want to cross a particular path, and benchmarks.
const char* sgemm_config(int64_t m, int64_t n, int64_t k, bool vectorised);

}  // namespace metalnet::cuda

namespace metalnet::cuda {

// gemm<float> with a forced configuration: 0 = 128x128 tiles, 1 = 128x64, 2 = 64x64, -1 = the
// automatic choice (so tests can run every configuration on shapes of their choosing).
void sgemm_with_config(const float* a, const float* b, const float* c, float* out, int64_t m,
                       int64_t n, int64_t k, float alpha, float beta, bool trans_a, bool trans_b,
                       int config, cudaStream_t stream);

constexpr int kSgemmConfigs = 3;

}  // namespace metalnet::cuda
