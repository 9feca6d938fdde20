// GEMM on the GPU.
//
// float32 (SGEMM): each block computes a BM x BN tile of the output, each of its threads a
// TM x TN register block of it. Per step of BK along K the block stages a BM x BK slice of op(a)
// and a BK x BN slice of op(b) in shared memory, both stored k-major (As[k][m], Bs[k][n]) so the
// inner loop reads TM and TN contiguous values with 128-bit shared loads. Global loads are
// 128-bit (float4) when every pointer is 16-byte aligned and every leading dimension a multiple
// of 4; edges (sizes that are not multiples of the tile) are zero-filled element by element.
// Double buffering: two shared stages; the next slice is fetched from global memory into
// registers while the current one is multiplied, then written to the other stage, so one
// __syncthreads per step suffices. A thread's TM rows are TM/4 groups of 4 spaced TY*4 apart
// (likewise columns), which keeps the 128-bit shared reads of a warp conflict-free. Tile sizes
// are template parameters; three configurations cover large and small outputs.
//
// float64 (DGEMM): a plain shared-memory tiled kernel (64 x 64 tiles, 4 x 4 per thread).
#include <climits>
#include <stdexcept>
#include <string>

#include "check.h"
#include "gemm.h"

namespace metalnet::cuda {
namespace {

// A ROWS x COLS region of a row-major matrix (COLS along the contiguous axis), fetched by NT
// threads into registers as float4 chunks, then written to shared memory k-major.
template <int ROWS, int COLS, int NT>
struct Fetch {
  static_assert(COLS % 4 == 0, "the contiguous side of a tile must be a multiple of 4");
  static constexpr int kChunksPerRow = COLS / 4;
  static constexpr int kPerThread = ROWS * COLS / 4 / NT;
  static_assert(kPerThread >= 1 && kPerThread * NT * 4 == ROWS * COLS,
                "the tile must split evenly into float4 chunks among the threads");
  float4 v[kPerThread];

  // Rows [r0, r0 + ROWS), columns [c0, c0 + COLS) of an nrows x ncols matrix with leading
  // dimension ld; cells outside the matrix read as 0.
  template <bool Vec>
  __device__ __forceinline__ void load(const float* __restrict__ m, int ld, int nrows, int ncols,
                                       int r0, int c0, int tid) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = tid + i * NT;
      const int r = r0 + chunk / kChunksPerRow;
      const int c = c0 + (chunk % kChunksPerRow) * 4;
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < nrows) {
        const float* p = m + int64_t(r) * ld + c;
        if (Vec && c + 3 < ncols) {
          x = __ldg(reinterpret_cast<const float4*>(p));
        } else {
          if (c < ncols) x.x = __ldg(p);
          if (c + 1 < ncols) x.y = __ldg(p + 1);
          if (c + 2 < ncols) x.z = __ldg(p + 2);
          if (c + 3 < ncols) x.w = __ldg(p + 3);
        }
      }
      v[i] = x;
    }
  }

  // The fetched rows are k: smem[row][col .. col + 3] = chunk (one 128-bit store).
  template <int LDS>
  __device__ __forceinline__ void store_rows_are_k(float* smem, int tid) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = tid + i * NT;
      const int r = chunk / kChunksPerRow, c = (chunk % kChunksPerRow) * 4;
      *reinterpret_cast<float4*>(smem + r * LDS + c) = v[i];
    }
  }

  // The fetched columns are k: smem[col + j][row] = chunk[j] (a transposing store).
  template <int LDS>
  __device__ __forceinline__ void store_cols_are_k(float* smem, int tid) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = tid + i * NT;
      const int r = chunk / kChunksPerRow, c = (chunk % kChunksPerRow) * 4;
      smem[(c + 0) * LDS + r] = v[i].x;
      smem[(c + 1) * LDS + r] = v[i].y;
      smem[(c + 2) * LDS + r] = v[i].z;
      smem[(c + 3) * LDS + r] = v[i].w;
    }
  }
};

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool Vec>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
sgemm_kernel(int M, int N, int K, float alpha, const float* __restrict__ A,
             const float* __restrict__ B, float beta, const float* __restrict__ C,
             float* __restrict__ out) {
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register blocks are groups of 4");
  constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
  constexpr int PAD = 4;  // keeps the transposing stores conflict-free and rows 16-byte aligned
  constexpr int LDA_S = BM + PAD, LDB_S = BN + PAD;
  __shared__ __align__(16) float As[2][BK * LDA_S];
  __shared__ __align__(16) float Bs[2][BK * LDB_S];

  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int lda = TA ? M : K, ldb = TB ? K : N;

  // op(a) slice: a is (K, M) when TA (rows are k), else (M, K) (columns are k); likewise b.
  Fetch<TA ? BK : BM, TA ? BM : BK, NT> fa;
  Fetch<TB ? BN : BK, TB ? BK : BN, NT> fb;

  auto fetch = [&](int k0) {
    if constexpr (TA) fa.template load<Vec>(A, lda, K, M, k0, m0, tid);
    else fa.template load<Vec>(A, lda, M, K, m0, k0, tid);
    if constexpr (TB) fb.template load<Vec>(B, ldb, N, K, n0, k0, tid);
    else fb.template load<Vec>(B, ldb, K, N, k0, n0, tid);
  };
  auto stash = [&](int stage) {
    if constexpr (TA) fa.template store_rows_are_k<LDA_S>(As[stage], tid);
    else fa.template store_cols_are_k<LDA_S>(As[stage], tid);
    if constexpr (TB) fb.template store_cols_are_k<LDB_S>(Bs[stage], tid);
    else fb.template store_rows_are_k<LDB_S>(Bs[stage], tid);
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  const int steps = (K + BK - 1) / BK;
  fetch(0);
  stash(0);
  __syncthreads();
  for (int t = 0; t < steps; ++t) {
    const int stage = t & 1;
    const bool more = t + 1 < steps;
    if (more) fetch((t + 1) * BK);  // in flight while this stage is multiplied
    const float* as = As[stage];
    const float* bs = Bs[stage];
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float ra[TM], rb[TN];
#pragma unroll
      for (int i = 0; i < TM / 4; ++i) {
        const float4 v = *reinterpret_cast<const float4*>(as + kk * LDA_S + i * TY * 4 + ty * 4);
        ra[4 * i] = v.x, ra[4 * i + 1] = v.y, ra[4 * i + 2] = v.z, ra[4 * i + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        const float4 v = *reinterpret_cast<const float4*>(bs + kk * LDB_S + j * TX * 4 + tx * 4);
        rb[4 * j] = v.x, rb[4 * j + 1] = v.y, rb[4 * j + 2] = v.z, rb[4 * j + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
    }
    if (more) stash(stage ^ 1);  // the other stage was last read before the previous barrier
    __syncthreads();
  }

  // Epilogue: out = alpha * acc + beta * c (c is null when it must not be read).
#pragma unroll
  for (int i = 0; i < TM / 4; ++i) {
#pragma unroll
    for (int ii = 0; ii < 4; ++ii) {
      const int r = m0 + i * TY * 4 + ty * 4 + ii;
      if (r >= M) continue;
      float* orow = out + int64_t(r) * N;
      const float* crow = C ? C + int64_t(r) * N : nullptr;
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) {
        const int c = n0 + j * TX * 4 + tx * 4;
        float v[4];
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) v[jj] = alpha * acc[4 * i + ii][4 * j + jj];
        if (Vec && c + 3 < N) {
          if (crow) {
            const float4 cv = __ldg(reinterpret_cast<const float4*>(crow + c));
            v[0] = fmaf(beta, cv.x, v[0]), v[1] = fmaf(beta, cv.y, v[1]);
            v[2] = fmaf(beta, cv.z, v[2]), v[3] = fmaf(beta, cv.w, v[3]);
          }
          *reinterpret_cast<float4*>(orow + c) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int jj = 0; jj < 4; ++jj)
            if (c + jj < N) orow[c + jj] = crow ? fmaf(beta, __ldg(crow + c + jj), v[jj]) : v[jj];
        }
      }
    }
  }
}

// The SGEMM configurations: (BM, BN, BK, TM, TN), 256 threads each.
struct Config {
  int bm, bn;
  const char* name;
  const char* name_vec;
};
constexpr Config kConfigs[] = {
    {128, 128, "sgemm_128x128x8", "sgemm_128x128x8_vec"},
    {128, 64, "sgemm_128x64x16", "sgemm_128x64x16_vec"},
    {64, 64, "sgemm_64x64x16", "sgemm_64x64x16_vec"},
};
constexpr int kNumConfigs = int(sizeof(kConfigs) / sizeof(kConfigs[0]));


int64_t blocks_for(const Config& cfg, int64_t m, int64_t n) {
  return ((m + cfg.bm - 1) / cfg.bm) * ((n + cfg.bn - 1) / cfg.bn);
}

// The largest tile that still gives every multiprocessor a block; the smallest otherwise.
int choose_config(int64_t m, int64_t n) {
  static const int sms = multiprocessors();
  for (int i = 0; i < kNumConfigs - 1; ++i)
    if (blocks_for(kConfigs[i], m, n) >= sms) return i;
  return kNumConfigs - 1;
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool Vec>
void launch_sgemm(const char* name, int m, int n, int k, float alpha, const float* a,
                  const float* b, float beta, const float* c, float* out, cudaStream_t stream) {
  constexpr int threads = (BM / TM) * (BN / TN);
  const dim3 grid(unsigned((n + BN - 1) / BN), unsigned((m + BM - 1) / BM));
  sgemm_kernel<BM, BN, BK, TM, TN, TA, TB, Vec>
      <<<grid, threads, 0, stream>>>(m, n, k, alpha, a, b, beta, c, out);
  check_launch(name, stream);
}

template <int BM, int BN, int BK, int TM, int TN>
void dispatch_sgemm(const char* name, bool ta, bool tb, bool vec, int m, int n, int k,
                    float alpha, const float* a, const float* b, float beta, const float* c,
                    float* out, cudaStream_t stream) {
#define METALNET_SGEMM_CASE(TA, TB, VEC)                                                     \
  if (ta == TA && tb == TB && vec == VEC)                                                    \
    return launch_sgemm<BM, BN, BK, TM, TN, TA, TB, VEC>(name, m, n, k, alpha, a, b, beta, c, \
                                                         out, stream);
  METALNET_SGEMM_CASE(false, false, true)
  METALNET_SGEMM_CASE(false, true, true)
  METALNET_SGEMM_CASE(true, false, true)
  METALNET_SGEMM_CASE(true, true, true)
  METALNET_SGEMM_CASE(false, false, false)
  METALNET_SGEMM_CASE(false, true, false)
  METALNET_SGEMM_CASE(true, false, false)
  METALNET_SGEMM_CASE(true, true, false)
#undef METALNET_SGEMM_CASE
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

void check_sizes(int64_t m, int64_t n, int64_t k, int64_t min_tile) {
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    throw std::invalid_argument("gemm: every dimension must be below 2^31, got M, N, K = " +
                                std::to_string(m) + ", " + std::to_string(n) + ", " +
                                std::to_string(k));
  if ((m + min_tile - 1) / min_tile > kMaxGridY)
    throw std::invalid_argument("gemm: M = " + std::to_string(m) +
                                " rows exceed the grid limit of this kernel");
}

void sgemm(const float* a, const float* b, const float* c, float* out, int64_t m, int64_t n,
           int64_t k, float alpha, float beta, bool ta, bool tb, int config,
           cudaStream_t stream) {
  const int cfg = config >= 0 ? config : choose_config(m, n);
  if (cfg >= kNumConfigs)
    throw std::invalid_argument("gemm: no SGEMM configuration " + std::to_string(cfg));
  check_sizes(m, n, k, kConfigs[cfg].bm);
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  const bool vec = aligned16(a) && aligned16(b) && aligned16(out) && (!c || aligned16(c)) &&
                   lda % 4 == 0 && ldb % 4 == 0 && n % 4 == 0;
  const char* name = vec ? kConfigs[cfg].name_vec : kConfigs[cfg].name;
  const int M = int(m), N = int(n), K = int(k);
  switch (cfg) {
    case 0:
      return dispatch_sgemm<128, 128, 8, 8, 8>(name, ta, tb, vec, M, N, K, alpha, a, b, beta, c,
                                               out, stream);
    case 1:
      return dispatch_sgemm<128, 64, 16, 8, 4>(name, ta, tb, vec, M, N, K, alpha, a, b, beta, c,
                                               out, stream);
    default:
      return dispatch_sgemm<64, 64, 16, 4, 4>(name, ta, tb, vec, M, N, K, alpha, a, b, beta, c,
                                              out, stream);
  }
}

// ---------------------------------------------------------------------------------- float64
template <bool TA, bool TB>
__global__ void __launch_bounds__(256)
dgemm_kernel(int M, int N, int K, double alpha, const double* __restrict__ A,
             const double* __restrict__ B, double beta, const double* __restrict__ C,
             double* __restrict__ out) {
  constexpr int BM = 64, BN = 64, BK = 16, T = 256;
  __shared__ double As[BK][BM + 1];
  __shared__ double Bs[BK][BN + 1];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  double acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
    for (int i = 0; i < BM * BK / T; ++i) {
      const int e = tid + i * T;
      int kk, mm;
      if (TA) kk = e / BM, mm = e % BM;  // a is (K, M): consecutive threads walk m
      else mm = e / BK, kk = e % BK;     // a is (M, K): consecutive threads walk k
      const int gm = m0 + mm, gk = k0 + kk;
      double v = 0.0;
      if (gm < M && gk < K) v = TA ? A[int64_t(gk) * M + gm] : A[int64_t(gm) * K + gk];
      As[kk][mm] = v;
    }
#pragma unroll
    for (int i = 0; i < BN * BK / T; ++i) {
      const int e = tid + i * T;
      int kk, nn;
      if (TB) nn = e / BK, kk = e % BK;  // b is (N, K)
      else kk = e / BN, nn = e % BN;     // b is (K, N)
      const int gn = n0 + nn, gk = k0 + kk;
      double v = 0.0;
      if (gn < N && gk < K) v = TB ? B[int64_t(gn) * K + gk] : B[int64_t(gk) * N + gn];
      Bs[kk][nn] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      double ra[4], rb[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) ra[i] = As[kk][ty + 16 * i], rb[i] = Bs[kk][tx + 16 * i];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(ra[i], rb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = m0 + ty + 16 * i;
    if (r >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int c = n0 + tx + 16 * j;
      if (c >= N) continue;
      const double v = alpha * acc[i][j];
      out[int64_t(r) * N + c] = C ? fma(beta, C[int64_t(r) * N + c], v) : v;
    }
  }
}

void dgemm(const double* a, const double* b, const double* c, double* out, int64_t m, int64_t n,
           int64_t k, double alpha, double beta, bool ta, bool tb, cudaStream_t stream) {
  check_sizes(m, n, k, 64);
  const dim3 grid(unsigned((n + 63) / 64), unsigned((m + 63) / 64));
  const int M = int(m), N = int(n), K = int(k);
  if (!ta && !tb) dgemm_kernel<false, false><<<grid, 256, 0, stream>>>(M, N, K, alpha, a, b, beta, c, out);
  else if (!ta && tb) dgemm_kernel<false, true><<<grid, 256, 0, stream>>>(M, N, K, alpha, a, b, beta, c, out);
  else if (ta && !tb) dgemm_kernel<true, false><<<grid, 256, 0, stream>>>(M, N, K, alpha, a, b, beta, c, out);
  else dgemm_kernel<true, true><<<grid, 256, 0, stream>>>(M, N, K, alpha, a, b, beta, c, out);
  check_launch("dgemm_64x64x16", stream);
}

}  // namespace

const char* sgemm_config(int64_t m, int64_t n, int64_t /*k*/, bool vectorised) {
  const Config& cfg = kConfigs[choose_config(m, n)];
  return vectorised ? cfg.name_vec : cfg.name;
}

void sgemm_with_config(const float* a, const float* b, const float* c, float* out, int64_t m,
                       int64_t n, int64_t k, float alpha, float beta, bool trans_a, bool trans_b,
                       int config, cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  sgemm(a, b, beta != 0.f ? c : nullptr, out, m, n, k, alpha, beta, trans_a, trans_b, config,
        stream);
}

template <>
void gemm<float>(const float* a, const float* b, const float* c, float* out, int64_t m,
                 int64_t n, int64_t k, float alpha, float beta, bool trans_a, bool trans_b,
                 cudaStream_t stream) {
  sgemm_with_config(a, b, c, out, m, n, k, alpha, beta, trans_a, trans_b, -1, stream);
}

template <>
void gemm<double>(const double* a, const double* b, const double* c, double* out, int64_t m,
                  int64_t n, int64_t k, double alpha, double beta, bool trans_a, bool trans_b,
                  cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  dgemm(a, b, beta != 0.0 ? c : nullptr, out, m, n, k, alpha, beta, trans_a, trans_b, stream);
}

}  // namespace metalnet::cuda
