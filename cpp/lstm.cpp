// LSTM forward/backward over a sequence (see lstm.h). The math per step, with a the
// pre-activations [a_i | a_f | a_g | a_o] (N, 4H):
//   i, f, o = sigmoid(a_i, a_f, a_o)   g = tanh(a_g)   c' = f c + i g   h' = o tanh(c')
// and backward, with dc_total = dc' + dh' o (1 - tanh(c')^2):
//   da_i = dc_total g i (1-i)   da_f = dc_total c f (1-f)   da_g = dc_total i (1-g^2)
//   da_o = dh' tanh(c') o (1-o)   dc = dc_total f
#include "metalnet/lstm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "metalnet/bias.h"
#include "metalnet/dispatch.h"
#include "metalnet/gemm.h"
#include "metalnet/vmath.h"

namespace metalnet {
namespace {

// Rows per thread so that a thread gets >= 16K gate values.
int64_t row_grain(int64_t hidden) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(4 * hidden, 1)); }

// a (N, 4H): pre-activations in, activated gates out; writes c_next, h_next.
template <class T>
void gates_forward(int64_t n, int64_t hidden, const T* b, const T* c, T* a, T* c_next, T* h_next) {
  parallel_simd(n, row_grain(hidden), [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    const int64_t H = hidden;
    for (int64_t r = r0; r < r1; ++r) {
      T* ar = a + r * 4 * H;
      const T* cr = c + r * H;
      T* cn = c_next + r * H;
      T* hn = h_next + r * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T zero = T(0);
        const T ii = vsigmoid(ar[j] + (b ? b[j] : zero));
        const T ff = vsigmoid(ar[H + j] + (b ? b[H + j] : zero));
        const T gg = vtanh(ar[2 * H + j] + (b ? b[2 * H + j] : zero));
        const T oo = vsigmoid(ar[3 * H + j] + (b ? b[3 * H + j] : zero));
        const T cc = ff * cr[j] + ii * gg;
        ar[j] = ii;
        ar[H + j] = ff;
        ar[2 * H + j] = gg;
        ar[3 * H + j] = oo;
        cn[j] = cc;
        hn[j] = oo * vtanh(cc);
      }
    }
  });
}

// From the step's activated gates, c_prev and c_next: da (N, 4H) and dc_prev (N, H).
// dh, dc_next may be null (zero).
template <class T>
void gates_backward(int64_t n, int64_t hidden, const T* dh, const T* dc_next, const T* gates,
                    const T* c_prev, const T* c_next, T* da, T* dc_prev) {
  parallel_simd(n, row_grain(hidden), [=](int64_t r0, int64_t r1) METALNET_SIMD_BODY {
    const int64_t H = hidden;
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = gates + r * 4 * H;
      T* dr = da + r * 4 * H;
      const int64_t o = r * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T ii = gr[j], ff = gr[H + j], gg = gr[2 * H + j], oo = gr[3 * H + j];
        const T dhj = dh ? dh[o + j] : T(0), dcj = dc_next ? dc_next[o + j] : T(0);
        const T tc = vtanh(c_next[o + j]);
        const T dct = dcj + dhj * oo * (T(1) - tc * tc);
        dr[j] = dct * gg * ii * (T(1) - ii);
        dr[H + j] = dct * c_prev[o + j] * ff * (T(1) - ff);
        dr[2 * H + j] = dct * ii * (T(1) - gg * gg);
        dr[3 * H + j] = dhj * tc * oo * (T(1) - oo);
        dc_prev[o + j] = dct * ff;
      }
    }
  });
}

}  // namespace

template <class T>
void lstm_forward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                  const T* w_hh, const T* b, T* hs, T* cs, T* gates) {
  const int64_t G = 4 * s.h, step = s.n * s.h;
  // All steps' input projections at once: gates[t] = x[t] @ w_ih^T.
  gemm<T>(false, true, s.t * s.n, G, s.i, T(1), x, s.i, w_ih, s.i, T(0), gates, G);
  // w_hh^T is packed once and reused by every step's recurrent product.
  const PackedB<T> w_hh_t = gemm_pack_b<T>(true, s.h, G, w_hh, s.h, s.n);
  for (int64_t t = 0; t < s.t; ++t) {
    const T* h_prev = t ? hs + (t - 1) * step : h0;
    const T* c_prev = t ? cs + (t - 1) * step : c0;
    T* a = gates + t * s.n * G;
    gemm_packed<T>(false, s.n, G, s.h, T(1), h_prev, s.h, w_hh_t, T(1), a, G);
    gates_forward(s.n, s.h, b, c_prev, a, cs + t * step, hs + t * step);
  }
}

template <class T>
void lstm_backward(const LstmShape& s, const T* dhs, const T* dh_last, const T* dc_last,
                   const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                   const T* hs, const T* cs, const T* gates, T* dx, T* dh0, T* dc0, T* dw_ih,
                   T* dw_hh, T* db) {
  const int64_t G = 4 * s.h, step = s.n * s.h;
  std::vector<T> da(size_t(s.t) * s.n * G), dh(step), dc(step), dc_next(step);
  if (dh_last) std::copy(dh_last, dh_last + step, dh.begin()); else std::fill(dh.begin(), dh.end(), T(0));
  const T* dc_in = dc_last;  // null means zero
  const PackedB<T> w_hh_packed = gemm_pack_b<T>(false, G, s.h, w_hh, s.h, s.n);  // every step
  for (int64_t t = s.t - 1; t >= 0; --t) {
    if (dhs)
      for (int64_t j = 0; j < step; ++j) dh[j] += dhs[t * step + j];
    const T* c_prev = t ? cs + (t - 1) * step : c0;
    T* dat = da.data() + t * s.n * G;
    gates_backward(s.n, s.h, dh.data(), dc_in, gates + t * s.n * G, c_prev, cs + t * step, dat,
                   dc.data());
    // dh for the step before: da_t @ w_hh (N, H).
    gemm_packed<T>(false, s.n, s.h, G, T(1), dat, G, w_hh_packed, T(0), dh.data(), s.h);
    std::swap(dc, dc_next);
    dc_in = dc_next.data();
  }
  std::copy(dh.begin(), dh.end(), dh0);
  std::copy(dc_next.begin(), dc_next.end(), dc0);
  // Everything that does not recur, over all T*N rows at once.
  gemm<T>(false, false, s.t * s.n, s.i, G, T(1), da.data(), G, w_ih, s.i, T(0), dx, s.i);
  gemm<T>(true, false, G, s.i, s.t * s.n, T(1), da.data(), G, x, s.i, T(0), dw_ih, s.i);
  std::vector<T> h_prev(size_t(s.t) * step);  // [h0, h_1 .. h_{T-1}], the inputs of w_hh
  std::copy(h0, h0 + step, h_prev.begin());
  if (s.t > 1) std::copy(hs, hs + (s.t - 1) * step, h_prev.begin() + step);
  gemm<T>(true, false, G, s.h, s.t * s.n, T(1), da.data(), G, h_prev.data(), s.h, T(0), dw_hh, s.h);
  bias_add_backward(da.data(), db, s.t * s.n, G, 1);
}

#define METALNET_INSTANTIATE(T)                                                               \
  template void lstm_forward<T>(const LstmShape&, const T*, const T*, const T*, const T*,     \
                                const T*, const T*, T*, T*, T*);                              \
  template void lstm_backward<T>(const LstmShape&, const T*, const T*, const T*, const T*,    \
                                 const T*, const T*, const T*, const T*, const T*, const T*,  \
                                 const T*, T*, T*, T*, T*, T*, T*);
METALNET_INSTANTIATE(float)
METALNET_INSTANTIATE(double)
#undef METALNET_INSTANTIATE

}  // namespace metalnet
