// Convolution on the GPU by implicit GEMM (see conv2d.h for the three products).
//
// One kernel template runs all three passes. It is the tiled GEMM of gemm.cu with the operand
// loads replaced by a "problem" object that knows where element (row, k) of A and (k, col) of B
// live in x, w or dy (returning 0 for padded or out-of-stride cells): each block computes a
// BM x BN tile of the output, each thread a TM x TN register block of it, and per step of BK
// along the reduction the block gathers a BM x BK slice of A and a BK x BN slice of B into
// shared memory (stored k-major), so the im2col tile exists only there. Double buffering as in
// the SGEMM: the next slice is gathered into registers while the current one is multiplied, one
// barrier per step. Every index decomposition (k -> (c, r, s), column -> (image, row, col)) uses
// multiply-shift division by run-time constants instead of the integer divider.
//
// Which operand element a thread gathers is chosen per operand so that consecutive threads read
// consecutive addresses where the layout allows it (columns of x / dy are the fast axis).
// The epilogue writes NCHW directly: forward adds the bias and applies the optional ReLU;
// backward weight adds split partial sums with atomics when the reduction was split.
#include <climits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "check.h"
#include "conv2d.h"

namespace metalnet::cuda {
namespace {

// ------------------------------------------------------------------------ fast division
// n / d for 0 <= n < 2^31 and 1 <= d < 2^31 as one multiply-high, an add and a shift
// (Granlund-Montgomery): shift = ceil(log2 d), mul = floor(2^32 * (2^shift - d) / d) + 1.
struct FastDiv {
  uint32_t d = 1, mul = 1, shift = 0;
  FastDiv() = default;
  explicit FastDiv(int divisor) : d(uint32_t(divisor < 1 ? 1 : divisor)) {
    shift = 0;
    while ((uint64_t(1) << shift) < d) ++shift;
    mul = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
  }
  __device__ __forceinline__ int operator()(int n) const {
    const uint32_t t = __umulhi(uint32_t(n), mul);
    return int((t + uint32_t(n)) >> shift);
  }
};

// ------------------------------------------------------------------------------ problems
// Each problem: sizes M, N, Kd; a(m, k) and b(k, n) for in-range indices (the kernel checks
// m < M, n < N, k < Kd); col(n) decomposes an output column once for the epilogue; store.
// kAKFast / kBNFast: which index consecutive threads walk when gathering A (k or m) and B (n or k).

template <class T>
struct Forward {  // y (K, N*Ho*Wo) = w (K, C*R*S) @ im2col(x)
  static constexpr bool kAKFast = true, kBNFast = true;
  const T* x;
  const T* w;
  const T* bias;
  T* y;
  int M, N, Kd;
  bool relu;
  int C, H, W, RS, S, HoWo, Wo, sh, sw, top, left, dh, dw;
  FastDiv div_rs, div_s, div_howo, div_wo;

  __device__ __forceinline__ T a(int m, int k) const { return __ldg(w + int64_t(m) * Kd + k); }
  __device__ __forceinline__ T b(int k, int n) const {
    const int c = div_rs(k), rs = k - c * RS, r = div_s(rs), s = rs - r * S;
    const int img = div_howo(n), pq = n - img * HoWo, p = div_wo(pq), q = pq - p * Wo;
    const int h = p * sh - top + r * dh, ww = q * sw - left + s * dw;
    if (unsigned(h) >= unsigned(H) || unsigned(ww) >= unsigned(W)) return T(0);
    return __ldg(x + ((int64_t(img) * C + c) * H + h) * W + ww);
  }
  struct Col { int img, pq; };
  __device__ __forceinline__ Col col(int n) const {
    const int img = div_howo(n);
    return {img, n - img * HoWo};
  }
  __device__ __forceinline__ void store(int m, Col cl, T v) const {
    if (bias) v += __ldg(bias + m);
    if (relu) v = v < T(0) ? T(0) : v;  // as relu_forward: NaN passes through
    y[(int64_t(cl.img) * M + m) * HoWo + cl.pq] = v;
  }
};

template <class T>
struct BackwardData {  // dx (C, N*H*W) = w^T (C, K*R*S) @ gather(dy) (K*R*S, N*H*W)
  static constexpr bool kAKFast = true, kBNFast = true;
  const T* dy;
  const T* w;
  T* dx;
  int M, N, Kd;
  int K, RS, S, H, W, HW, Ho, Wo, sh, sw, top, left, dh, dw;
  FastDiv div_rs, div_s, div_hw, div_w, div_sh, div_sw;

  __device__ __forceinline__ T a(int c, int kk) const {
    const int k = div_rs(kk), rs = kk - k * RS;
    return __ldg(w + (int64_t(k) * M + c) * RS + rs);
  }
  __device__ __forceinline__ T b(int kk, int n) const {
    const int k = div_rs(kk), rs = kk - k * RS, r = div_s(rs), s = rs - r * S;
    const int img = div_hw(n), hw = n - img * HW, h = div_w(hw), x = hw - h * W;
    const int hp = h + top - r * dh, wp = x + left - s * dw;  // = p*sh, q*sw if (p, q) exists
    if (hp < 0 || wp < 0) return T(0);
    const int p = div_sh(hp), q = div_sw(wp);
    if (p * sh != hp || q * sw != wp || p >= Ho || q >= Wo) return T(0);
    return __ldg(dy + ((int64_t(img) * K + k) * Ho + p) * Wo + q);
  }
  struct Col { int img, hw; };
  __device__ __forceinline__ Col col(int n) const {
    const int img = div_hw(n);
    return {img, n - img * HW};
  }
  __device__ __forceinline__ void store(int c, Col cl, T v) const {
    dx[(int64_t(cl.img) * M + c) * HW + cl.hw] = v;
  }
};

template <class T>
struct BackwardWeight {  // dw (K, C*R*S) = dy (K, N*Ho*Wo) @ im2col(x)^T
  static constexpr bool kAKFast = true, kBNFast = false;  // B: walk (n, p, q), i.e. along x rows
  const T* dy;
  const T* x;
  T* dw_out;
  int M, N, Kd;
  bool atomic;
  int C, H, W, RS, S, HoWo, Wo, sh, sw, top, left, dh, dw;
  FastDiv div_rs, div_s, div_howo, div_wo;

  __device__ __forceinline__ T a(int k, int kk) const {
    const int img = div_howo(kk), pq = kk - img * HoWo;
    return __ldg(dy + (int64_t(img) * M + k) * HoWo + pq);
  }
  __device__ __forceinline__ T b(int kk, int n) const {
    const int img = div_howo(kk), pq = kk - img * HoWo, p = div_wo(pq), q = pq - p * Wo;
    const int c = div_rs(n), rs = n - c * RS, r = div_s(rs), s = rs - r * S;
    const int h = p * sh - top + r * dh, ww = q * sw - left + s * dw;
    if (unsigned(h) >= unsigned(H) || unsigned(ww) >= unsigned(W)) return T(0);
    return __ldg(x + ((int64_t(img) * C + c) * H + h) * W + ww);
  }
  using Col = int;
  __device__ __forceinline__ Col col(int n) const { return n; }
  __device__ __forceinline__ void store(int k, Col n, T v) const {
    T* at = dw_out + int64_t(k) * N + n;
    if (atomic) atomicAdd(at, v);
    else *at = v;
  }
};

// ------------------------------------------------------------------------------- kernel
template <class T>
__device__ __forceinline__ void lds4(const T* p, T* d);
template <>
__device__ __forceinline__ void lds4<float>(const float* p, float* d) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  d[0] = v.x, d[1] = v.y, d[2] = v.z, d[3] = v.w;
}
template <>
__device__ __forceinline__ void lds4<double>(const double* p, double* d) {
  const double2 u = *reinterpret_cast<const double2*>(p);
  const double2 v = *reinterpret_cast<const double2*>(p + 2);
  d[0] = u.x, d[1] = u.y, d[2] = v.x, d[3] = v.y;
}

template <class T>
__device__ __forceinline__ T fma_(T a, T b, T c);
template <>
__device__ __forceinline__ float fma_<float>(float a, float b, float c) { return fmaf(a, b, c); }
template <>
__device__ __forceinline__ double fma_<double>(double a, double b, double c) { return fma(a, b, c); }

// blockIdx.z selects the slice [z * k_per_split, (z + 1) * k_per_split) of the reduction.
template <class T, int BM, int BN, int BK, int TM, int TN, class P>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
implicit_gemm_kernel(const P p, int k_per_split) {
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register blocks are groups of 4");
  constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
  constexpr int PAD = 4;  // rows stay 16-byte aligned; the k-major stores avoid bank conflicts
  constexpr int LDA_S = BM + PAD, LDB_S = BN + PAD;
  constexpr int A_PER = BM * BK / NT, B_PER = BK * BN / NT;
  static_assert(A_PER * NT == BM * BK && B_PER * NT == BK * BN, "tiles split evenly");
  __shared__ __align__(16) T As[2][BK * LDA_S];
  __shared__ __align__(16) T Bs[2][BK * LDB_S];

  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int kbeg = blockIdx.z * k_per_split;
  const int kend = min(p.Kd, kbeg + k_per_split);

  T ra[A_PER], rb[B_PER];
  auto a_at = [&](int i, int& m, int& kk) {
    const int e = tid + i * NT;
    if (P::kAKFast) kk = e % BK, m = e / BK;
    else m = e % BM, kk = e / BM;
  };
  auto b_at = [&](int i, int& kk, int& n) {
    const int e = tid + i * NT;
    if (P::kBNFast) n = e % BN, kk = e / BN;
    else kk = e % BK, n = e / BK;
  };
  auto gather = [&](int k0) {
#pragma unroll
    for (int i = 0; i < A_PER; ++i) {
      int m, kk;
      a_at(i, m, kk);
      const int gm = m0 + m, gk = k0 + kk;
      ra[i] = (gm < p.M && gk < kend) ? p.a(gm, gk) : T(0);
    }
#pragma unroll
    for (int i = 0; i < B_PER; ++i) {
      int kk, n;
      b_at(i, kk, n);
      const int gn = n0 + n, gk = k0 + kk;
      rb[i] = (gn < p.N && gk < kend) ? p.b(gk, gn) : T(0);
    }
  };
  auto stash = [&](int stage) {
#pragma unroll
    for (int i = 0; i < A_PER; ++i) {
      int m, kk;
      a_at(i, m, kk);
      As[stage][kk * LDA_S + m] = ra[i];
    }
#pragma unroll
    for (int i = 0; i < B_PER; ++i) {
      int kk, n;
      b_at(i, kk, n);
      Bs[stage][kk * LDB_S + n] = rb[i];
    }
  };

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  const int steps = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
  if (steps > 0) {
    gather(kbeg);
    stash(0);
  }
  __syncthreads();
  for (int t = 0; t < steps; ++t) {
    const int stage = t & 1;
    const bool more = t + 1 < steps;
    if (more) gather(kbeg + (t + 1) * BK);  // in flight while this stage is multiplied
    const T* as = As[stage];
    const T* bs = Bs[stage];
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      T fa[TM], fb[TN];
#pragma unroll
      for (int i = 0; i < TM / 4; ++i) lds4(as + kk * LDA_S + i * TY * 4 + ty * 4, fa + 4 * i);
#pragma unroll
      for (int j = 0; j < TN / 4; ++j) lds4(bs + kk * LDB_S + j * TX * 4 + tx * 4, fb + 4 * j);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fma_(fa[i], fb[j], acc[i][j]);
    }
    if (more) stash(stage ^ 1);  // the other stage was last read before the previous barrier
    __syncthreads();
  }

#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int n = n0 + (j / 4) * TX * 4 + tx * 4 + j % 4;
    if (n >= p.N) continue;
    const auto cl = p.col(n);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + (i / 4) * TY * 4 + ty * 4 + i % 4;
      if (m < p.M) p.store(m, cl, acc[i][j]);
    }
  }
}

// ------------------------------------------------------------------------ configurations
struct Config {
  int bm, bn, bk;
  const char* name;
};
constexpr Config kFloatConfigs[kConvConfigs] = {
    {128, 128, 8, "128x128x8"}, {64, 128, 8, "64x128x8"}, {32, 128, 16, "32x128x16"}};
constexpr Config kDoubleConfig = {64, 64, 8, "64x64x8_f64"};
const char* kPassNames[] = {"conv_fwd_", "conv_dgrad_", "conv_wgrad_"};


int64_t blocks_for(const Config& c, int64_t m, int64_t n) {
  return ((m + c.bm - 1) / c.bm) * ((n + c.bn - 1) / c.bn);
}

// The GEMM (M, N, Kd) of a pass.
void gemm_shape(ConvPass pass, const ConvGeometry& g, int64_t& m, int64_t& n, int64_t& kd) {
  const int64_t rs = int64_t(g.r) * g.s;
  switch (pass) {
    case ConvPass::forward:
      m = g.k, n = int64_t(g.n) * g.ho * g.wo, kd = g.c * rs;
      break;
    case ConvPass::backward_data:
      m = g.c, n = int64_t(g.n) * g.h * g.w, kd = g.k * rs;
      break;
    default:
      m = g.k, n = g.c * rs, kd = int64_t(g.n) * g.ho * g.wo;
  }
}

// Largest tile that still gives every multiprocessor a block; thin outputs take thin tiles.
int choose_config(int64_t m, int64_t n, int sms) {
  if (m <= 32) return 2;
  if (m <= 64) return 1;
  return blocks_for(kFloatConfigs[0], m, n) >= sms ? 0 : 1;
}

// Backward weight: split the reduction until about two blocks per multiprocessor, keeping at
// least 512 reduction steps per split.
void choose_splits(const Config& c, int64_t m, int64_t n, int64_t kd, int sms, int& splits,
                   int& k_per_split) {
  const int64_t blocks = blocks_for(c, m, n);
  int64_t want = blocks >= 2 * sms ? 1 : (2 * sms + blocks - 1) / blocks;
  const int64_t most = kd / 512 > 1 ? kd / 512 : 1;
  if (want > most) want = most;
  if (want > 4096) want = 4096;
  int64_t per = (kd + want - 1) / want;
  per = (per + c.bk - 1) / c.bk * c.bk;
  if (per < c.bk) per = c.bk;
  splits = int((kd + per - 1) / per);
  if (splits < 1) splits = 1;
  k_per_split = int(per > INT_MAX ? INT_MAX : per);
}

struct Plan {
  Config cfg;
  int index;  // configuration number (float), -1 for float64
  int splits, k_per_split;
  int64_t m, n, kd;
};

void check_geometry(const ConvGeometry& g) {
  const int v[] = {g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.ho, g.wo, g.top, g.left};
  for (int x : v)
    if (x < 0) throw std::invalid_argument("conv2d: negative size in the geometry");
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.r < 1 || g.s < 1)
    throw std::invalid_argument("conv2d: stride, dilation and kernel must be positive");
  const int64_t limits[] = {int64_t(g.n) * g.ho * g.wo, int64_t(g.n) * g.h * g.w,
                            int64_t(g.c) * g.r * g.s, int64_t(g.k) * g.r * g.s,
                            int64_t(g.h) * g.w, int64_t(g.ho) * g.wo};
  for (int64_t x : limits)
    if (x > INT_MAX)
      throw std::invalid_argument("conv2d: N*H*W, N*Ho*Wo, C*R*S and K*R*S must each be below "
                                  "2^31 (split the batch)");
}

Plan make_plan(ConvPass pass, const ConvGeometry& g, bool is_double, int config) {
  check_geometry(g);
  if (config < -1 || config >= kConvConfigs)
    throw std::invalid_argument("conv2d: config must be -1 (automatic) or 0.." +
                                std::to_string(kConvConfigs - 1));
  Plan plan{};
  gemm_shape(pass, g, plan.m, plan.n, plan.kd);
  const int sms = plan.m * plan.n > 0 ? multiprocessors() : 1;
  if (is_double) {
    plan.cfg = kDoubleConfig, plan.index = -1;
  } else {
    plan.index = config >= 0 ? config : choose_config(plan.m, plan.n, sms);
    plan.cfg = kFloatConfigs[plan.index];
  }
  if ((plan.m + plan.cfg.bm - 1) / plan.cfg.bm > kMaxGridY)
    throw std::invalid_argument("conv2d: too many output rows (channels) for the grid");
  plan.splits = 1;
  plan.k_per_split = int(plan.kd > 0 ? plan.kd : 1);
  if (pass == ConvPass::backward_weight && plan.kd > 0)
    choose_splits(plan.cfg, plan.m, plan.n, plan.kd, sms, plan.splits, plan.k_per_split);
  return plan;
}

std::string plan_name(ConvPass pass, const Plan& plan) {
  std::string name = std::string(kPassNames[int(pass)]) + plan.cfg.name;
  if (plan.splits > 1) name += "_split" + std::to_string(plan.splits);
  return name;
}

template <class T, int BM, int BN, int BK, int TM, int TN, class P>
void launch(const std::string& name, const P& p, const Plan& plan, cudaStream_t stream) {
  constexpr int threads = (BM / TM) * (BN / TN);
  const dim3 grid(unsigned((plan.n + BN - 1) / BN), unsigned((plan.m + BM - 1) / BM),
                  unsigned(plan.splits));
  implicit_gemm_kernel<T, BM, BN, BK, TM, TN, P><<<grid, threads, 0, stream>>>(p,
                                                                               plan.k_per_split);
  check_launch(name.c_str(), stream);
}

template <class T, class P>
void run(ConvPass pass, const P& p, const Plan& plan, cudaStream_t stream) {
  if (plan.m == 0 || plan.n == 0) return;
  const std::string name = plan_name(pass, plan);
  if constexpr (std::is_same_v<T, double>) {
    launch<double, 64, 64, 8, 4, 4>(name, p, plan, stream);
  } else {
    switch (plan.index) {
      case 0: return launch<float, 128, 128, 8, 8, 8>(name, p, plan, stream);
      case 1: return launch<float, 64, 128, 8, 4, 8>(name, p, plan, stream);
      default: return launch<float, 32, 128, 16, 4, 4>(name, p, plan, stream);
    }
  }
}

// -------------------------------------------------------------------------------- bias
template <class T>
__global__ void __launch_bounds__(256)
bias_grad_kernel(const T* __restrict__ dy, T* __restrict__ db, int64_t images, int64_t channels,
                 int64_t plane) {
  __shared__ double partial[256];
  const int64_t k = blockIdx.x;
  const int64_t total = images * plane;
  double acc = 0.0;  // float32 sums are carried in float64: N*Ho*Wo terms
  for (int64_t e = threadIdx.x; e < total; e += blockDim.x) {
    const int64_t img = e / plane, i = e - img * plane;
    acc += double(__ldg(dy + (img * channels + k) * plane + i));
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k] = T(partial[0]);
}

}  // namespace

// ------------------------------------------------------------------------------ entry points
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g, bool relu,
                    cudaStream_t stream, int config) {
  const Plan plan = make_plan(ConvPass::forward, g, std::is_same_v<T, double>, config);
  Forward<T> p{};
  p.x = x, p.w = w, p.bias = b, p.y = y, p.relu = relu;
  p.M = int(plan.m), p.N = int(plan.n), p.Kd = int(plan.kd);
  p.C = g.c, p.H = g.h, p.W = g.w, p.RS = g.r * g.s, p.S = g.s, p.HoWo = g.ho * g.wo;
  p.Wo = g.wo, p.sh = g.sh, p.sw = g.sw, p.top = g.top, p.left = g.left, p.dh = g.dh, p.dw = g.dw;
  p.div_rs = FastDiv(p.RS), p.div_s = FastDiv(g.s), p.div_howo = FastDiv(p.HoWo);
  p.div_wo = FastDiv(g.wo);
  run<T>(ConvPass::forward, p, plan, stream);
}

template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvGeometry& g,
                          cudaStream_t stream, int config) {
  const Plan plan = make_plan(ConvPass::backward_data, g, std::is_same_v<T, double>, config);
  BackwardData<T> p{};
  p.dy = dy, p.w = w, p.dx = dx;
  p.M = int(plan.m), p.N = int(plan.n), p.Kd = int(plan.kd);
  p.K = g.k, p.RS = g.r * g.s, p.S = g.s, p.H = g.h, p.W = g.w, p.HW = g.h * g.w;
  p.Ho = g.ho, p.Wo = g.wo, p.sh = g.sh, p.sw = g.sw, p.top = g.top, p.left = g.left;
  p.dh = g.dh, p.dw = g.dw;
  p.div_rs = FastDiv(p.RS), p.div_s = FastDiv(g.s), p.div_hw = FastDiv(p.HW);
  p.div_w = FastDiv(g.w), p.div_sh = FastDiv(g.sh), p.div_sw = FastDiv(g.sw);
  run<T>(ConvPass::backward_data, p, plan, stream);
}

template <class T>
void conv2d_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g,
                            cudaStream_t stream, int config) {
  const Plan plan = make_plan(ConvPass::backward_weight, g, std::is_same_v<T, double>, config);
  if (plan.m * plan.n == 0) return;
  BackwardWeight<T> p{};
  p.dy = dy, p.x = x, p.dw_out = dw;
  p.M = int(plan.m), p.N = int(plan.n), p.Kd = int(plan.kd > INT_MAX ? INT_MAX : plan.kd);
  if (plan.kd > INT_MAX)
    throw std::invalid_argument("conv2d: N*Ho*Wo must be below 2^31 (split the batch)");
  p.atomic = plan.splits > 1;
  p.C = g.c, p.H = g.h, p.W = g.w, p.RS = g.r * g.s, p.S = g.s, p.HoWo = g.ho * g.wo;
  p.Wo = g.wo, p.sh = g.sh, p.sw = g.sw, p.top = g.top, p.left = g.left, p.dh = g.dh, p.dw = g.dw;
  p.div_rs = FastDiv(p.RS), p.div_s = FastDiv(g.s), p.div_howo = FastDiv(p.HoWo);
  p.div_wo = FastDiv(g.wo);
  if (p.atomic)
    check(cudaMemsetAsync(dw, 0, size_t(plan.m * plan.n) * sizeof(T), stream),
          "conv2d_backward_weight (zeroing dw)");
  run<T>(ConvPass::backward_weight, p, plan, stream);
}

template <class T>
void conv2d_backward_bias(const T* dy, T* db, int64_t images, int64_t channels, int64_t plane,
                          cudaStream_t stream) {
  if (channels == 0) return;
  if (channels > INT_MAX) throw std::invalid_argument("conv2d: too many channels");
  bias_grad_kernel<T><<<unsigned(channels), 256, 0, stream>>>(dy, db, images, channels, plane);
  check_launch("conv_bias_grad", stream);
}

std::string conv2d_config(ConvPass pass, const ConvGeometry& g, bool is_double, int config) {
  return plan_name(pass, make_plan(pass, g, is_double, config));
}

#define METALNET_CONV_INSTANTIATE(T)                                                          \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const ConvGeometry&, bool, \
                                  cudaStream_t, int);                                         \
  template void conv2d_backward_data<T>(const T*, const T*, T*, const ConvGeometry&,          \
                                        cudaStream_t, int);                                   \
  template void conv2d_backward_weight<T>(const T*, const T*, T*, const ConvGeometry&,        \
                                          cudaStream_t, int);                                 \
  template void conv2d_backward_bias<T>(const T*, T*, int64_t, int64_t, int64_t, cudaStream_t);
METALNET_CONV_INSTANTIATE(float)
METALNET_CONV_INSTANTIATE(double)
#undef METALNET_CONV_INSTANTIATE

}  // namespace metalnet::cuda
