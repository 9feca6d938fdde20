// LSTM forward/backward over a sequence (see lstm.h). The math per step, with a the
// pre-activations [a_i | a_f | a_g | a_o] (N, 4H):
//   i, f, o = sigmoid(a_i, a_f, a_o)   g = tanh(a_g)   c' = f c + i g   h' = o tanh(c')
// and backward, with dc_total = dc' + dh' o (1 - tanh(c')^2):
//   da_i = dc_total g i (1-i)   da_f = dc_total c f (1-f)   da_g = dc_total i (1-g^2)
//   da_o = dh' tanh(c') o (1-o)   dc = dc_total f
#include "metalnet/lstm.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>
#include <vector>

#include "metalnet/bias.h"
#include "metalnet/dispatch.h"
#include "metalnet/gemm.h"
#include "metalnet/gemm_config.h"
#include "metalnet/parallel.h"
#include "metalnet/vmath.h"

namespace metalnet {
namespace {

// The recurrence runs on one team of threads for all steps (run_team), not a fork and a join
// per product and pass. Forward: the threads take groups of hidden units (in blocks of rows) as
// they come free, compute their gates' product and apply the gate math to it at once; a unit
// waits only for its own rows of the previous step, so there is no barrier between steps. The
// input projection's chunks are units of the same team, a step ahead of the gates that read them.
// Backward: the threads split the rows of the gate pass, meet, split the columns (whole GEMM
// panels) of dh = da @ w_hh, and meet again.

// Part `thread` of `threads` of [0, count), in whole units of `unit`.
struct Range {
  int64_t lo, hi;
};
Range share(int64_t count, int64_t unit, int thread, int threads) {
  const int64_t units = (count + unit - 1) / unit;
  return {std::min(count, units * thread / threads * unit),
          std::min(count, units * (thread + 1) / threads * unit)};
}

// A step's product C (m x n) = A (m x k) @ B (prepacked) split between the team: whole panels
// shared evenly, and the panels left over (fewer than one per thread) split by rows -- with 43
// panels, one thread would otherwise compute 22 while the other waits at the barrier after 21.
struct ProductShare {
  Range cols, tail_rows;
  int64_t tail_col;
};
ProductShare share_product(int64_t m, int64_t n, int64_t nr, int thread, int threads,
                           int64_t row_unit = 8) {
  const int64_t panels = (n + nr - 1) / nr, even = std::min(n, panels / threads * threads * nr);
  return {share(even, nr, thread, threads), share(m, row_unit, thread, threads), even};
}

// This thread's part of C = A @ B (beta 0), A and C row-major with rows k and n long.
template <class T>
void step_product(const ProductShare& part, int64_t m, int64_t n, int64_t k, const T* a,
                  const PackedB<T>& b, T* c) {
  if (part.cols.lo < part.cols.hi)
    gemm_packed_columns<T>(false, m, part.cols.lo, part.cols.hi, k, T(1), a, k, b, T(0), c, n);
  const Range rows = part.tail_rows;
  if (part.tail_col < n && rows.lo < rows.hi)
    gemm_packed_columns<T>(false, rows.hi - rows.lo, part.tail_col, n, k, T(1), a + rows.lo * k,
                           k, b, T(0), c + rows.lo * n, n);
}

// Threads for a recurrence of N x H states: one alone for small layers, where the barriers
// would cost more than the work.
int team_size(int64_t n, int64_t hidden) {
  return double(n) * 4 * hidden * hidden < kGemmParallelFlops ? 1 : num_threads();
}

// Asks for `rows` rows of `count` values (`stride` apart) to be brought into L2 while the
// caller computes something else: a unit's rows of the gates, c and h (arrays of tens of MiB
// over a sequence, last touched long before or by the other thread) are short runs 2-8 KiB
// apart that the hardware prefetchers miss.
template <class T>
void prefetch_rows(const T* p, int64_t rows, int64_t stride, int64_t count) {
  constexpr int64_t line = 64 / sizeof(T);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < count; j += line) __builtin_prefetch(p + r * stride + j, 1, 2);
}

// Rows [r0, r1), hidden units [0, units) counted from the pointers (proj, a, b, c, c_next,
// h_next point at the first unit; rows of a are 4H long, of proj proj_stride, of c and h H
// long): proj + rec + b is the pre-activation (proj the input projection, rec the recurrent
// product, its rows rec_stride long and its four gates rec_gate apart); writes c_next and
// h_next, and the activated gates to a when kKeepGates (training: backward reads them). c_next
// may be c: each element is read before it is written.
template <class T, bool kKeepGates>
struct GatesForward {
  int64_t hidden, units, rec_stride, rec_gate, proj_stride;
  const T *b, *c, *rec, *proj;
  T *a, *c_next, *h_next;
  METALNET_SIMD_BODY void operator()(int64_t r0, int64_t r1) const {
    const int64_t H = hidden, R = rec_gate;
    for (int64_t r = r0; r < r1; ++r) {
      const T* pr = proj + r * proj_stride;
      T* ar = kKeepGates ? a + r * 4 * H : nullptr;
      const T* rr = rec + r * rec_stride;
      const T* cr = c + r * H;
      T* cn = c_next + r * H;
      T* hn = h_next + r * H;
#pragma omp simd
      for (int64_t j = 0; j < units; ++j) {
        const T zero = T(0);
        const T ii = vsigmoid_gate(pr[j] + rr[j] + (b ? b[j] : zero));
        const T ff = vsigmoid_gate(pr[H + j] + rr[R + j] + (b ? b[H + j] : zero));
        const T gg = vtanh(pr[2 * H + j] + rr[2 * R + j] + (b ? b[2 * H + j] : zero));
        const T oo = vsigmoid_gate(pr[3 * H + j] + rr[3 * R + j] + (b ? b[3 * H + j] : zero));
        const T cc = ff * cr[j] + ii * gg;
        if constexpr (kKeepGates) {
          ar[j] = ii;
          ar[H + j] = ff;
          ar[2 * H + j] = gg;
          ar[3 * H + j] = oo;
        }
        cn[j] = cc;
        hn[j] = oo * vtanh(cc);
      }
    }
  }
};

// Rows [r0, r1) of da (N, 4H) and dc_prev (N, H), from the step's activated gates, c_prev and
// c_next. dh, dc_next may be null (zero).
template <class T>
struct GatesBackward {
  int64_t hidden;
  const T *dh, *dc_next, *gates, *c_prev, *c_next;
  T *da, *dc_prev;
  METALNET_SIMD_BODY void operator()(int64_t r0, int64_t r1) const {
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
  }
};

}  // namespace

template <class T>
void lstm_forward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                  const T* w_hh, const T* b, T* hs, T* cs, T* gates) {
  const int64_t H = s.h, G = 4 * H, step = s.n * H;
  const bool keep = gates != nullptr;  // training; else cs is the last state alone
  if (s.t == 0 || s.n == 0 || H == 0) {
    if (!keep) std::copy(c0, c0 + step, cs);
    return;
  }
  // w_hh^T packed once for every step, its columns regrouped: group g holds the four gates of
  // hidden units [gU, gU + U), gate after gate, in whole GEMM panels (U a whole number of
  // vectors; the last group may hold fewer units, padded with zero columns to a whole panel).
  // Each group's product is then complete for its units, and the gate math runs on it at once,
  // in cache, on the thread that computed it (the GEMM's epilogue): no pass over the step's
  // gates in memory.
  const GemmTile tile = gemm_tile<T>(s.n, true);
  const int64_t mr = tile.mr, nr = tile.nr, lanes = lanes_for(sizeof(T));
  const int64_t U = std::lcm(lanes, nr / 4), W = 4 * U, groups = (H + U - 1) / U;
  const auto units_of = [&](int64_t g) { return std::min(U, H - g * U); };
  const auto width_of = [&](int64_t g) {  // whole panels
    return (4 * units_of(g) + nr - 1) / nr * nr;
  };
  std::vector<const T*> columns(size_t(groups * W), nullptr);
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t q = 0; q < 4; ++q)
      for (int64_t i = 0; i < units_of(g); ++i)
        columns[size_t(g * W + q * units_of(g) + i)] = w_hh + (q * H + g * U + i) * H;
  // 4 MiB for H = 512, kept across calls instead of allocated and cleared again. The team's
  // threads use it through this reference: by name they would see their own thread's copy.
  static thread_local PackedB<T> packed, packed_in;
  const PackedB<T>& w = packed;
  const PackedB<T>& w_in = packed_in;
  gemm_pack_b_columns(tile, H, (groups - 1) * W + width_of(groups - 1), columns.data(), packed);
  // The input projections of all steps are one product, X (T*N x I) @ w_ih^T, its B (column j:
  // row j of w_ih) packed once. It is computed a step (of N rows) at a time, in column chunks,
  // one step ahead of the recurrence that reads it, into a ring of step buffers that stay in
  // cache until the gates read them: written all at once it was 26 MB (B64, H512, T50) gone
  // to memory and read back (2-3% slower, measured side by side).
  columns.resize(size_t(G));
  for (int64_t j = 0; j < G; ++j) columns[size_t(j)] = w_ih + j * s.i;
  gemm_pack_b_columns(tile, s.i, G, columns.data(), packed_in);
  const int64_t gp = (G + nr - 1) / nr * nr;  // a step buffer's rows: whole panels
  // Work units: a group's rows in `parts` blocks (whole register tiles), taken by whichever
  // thread is free, from one counter running over all steps (step, then row block, then group).
  // A unit of step t reads h_{t-1} of its own rows only, so it waits for those rows of step t-1,
  // not for the whole step: a thread that ends its share of a step early goes on to the next
  // step's first rows instead of idling at a barrier (on a 2-core VM the worker thread runs
  // 5-9% slower than the caller, and a barrier a step cost 2 ms of 28).
  const int threads = team_size(s.n, H);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, s.n / (4 * mr)));
  const int64_t block = (s.n + parts * mr - 1) / (parts * mr) * mr;
  const int64_t per_step = groups * parts;
  // Projection chunks about as large as a recurrent unit, in whole panels.
  const int64_t in_panels = gp / nr;
  const int64_t chunk = std::clamp<int64_t>(
      block * W * H / (s.n * nr * std::max<int64_t>(s.i, 1)), 1, in_panels);
  const int64_t chunks = (in_panels + chunk - 1) / chunk;
  // Block b of the sequence: step b's projection chunks, then step b-1's recurrent units.
  constexpr int64_t kAhead = 1, kRing = kAhead + 2;
  const int64_t per_block = chunks + per_step, total = (s.t + kAhead) * per_block;
  const int64_t n_pad = (s.n + mr - 1) / mr * mr;
  static thread_local std::vector<T> ring_buffer;  // the caller's, kept (as `packed`)
  const size_t ring_size = size_t(kRing * n_pad * gp);
  if (ring_buffer.size() < ring_size) ring_buffer.resize(ring_size);
  T* const ring = ring_buffer.data();
  std::atomic<int64_t> next{0};
  std::vector<std::atomic<int64_t>> done(size_t(s.t * parts));  // finished units per (t, block)
  std::vector<std::atomic<int64_t>> projected(size_t(s.t));     // finished chunks per step
  for (auto& counter : done) counter.store(0, std::memory_order_relaxed);
  for (auto& counter : projected) counter.store(0, std::memory_order_relaxed);
  run_team(threads, [&](int, int) {
    std::vector<T> product(size_t(block) * W);
    for (int64_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < total;) {
      const int64_t b_seq = u / per_block, i = u % per_block;
      if (i < chunks) {  // a chunk of step b_seq's projection
        const int64_t t = b_seq;
        if (t >= s.t) continue;
        if (t >= kRing)  // its buffer free: every unit of step t - kRing has read it
          for (int64_t p = 0; p < parts; ++p)
            wait_for_count(done[size_t((t - kRing) * parts + p)], groups);
        // x_t (like h_{t-1} below) is read in place: packed, each thread packed it again.
        const int64_t col0 = i * chunk * nr, col1 = std::min(gp, col0 + chunk * nr);
        gemm_panels(tile, s.n, col1 - col0, s.i, x + t * s.n * s.i,
                    w_in.data.data() + col0 * s.i, ring + (t % kRing) * n_pad * gp + col0, gp,
                    s.i);
        projected[size_t(t)].fetch_add(1, std::memory_order_release);
        continue;
      }
      if (b_seq < kAhead) continue;
      const int64_t t = b_seq - kAhead, p = (i - chunks) / groups, g = (i - chunks) % groups;
      const int64_t r0 = std::min(s.n, p * block), r1 = std::min(s.n, r0 + block);
      if (r0 == r1) continue;
      wait_for_count(projected[size_t(t)], chunks);
      if (t > 0) wait_for_count(done[size_t((t - 1) * parts + p)], groups);
      T* a = keep ? gates + t * s.n * G : nullptr;
      T *c_next = keep ? cs + t * step : cs, *h_next = hs + t * step;
      const int64_t u0 = g * U, n_units = units_of(g), width = width_of(g);
      if (keep) {
        for (int q = 0; q < 4; ++q) prefetch_rows(a + r0 * G + q * H + u0, r1 - r0, G, n_units);
        prefetch_rows(c_next + r0 * H + u0, r1 - r0, H, n_units);
      }
      prefetch_rows(h_next + r0 * H + u0, r1 - r0, H, n_units);
      const T* c_prev = t == 0 ? c0 : keep ? cs + (t - 1) * step : cs;
      prefetch_rows(c_prev + r0 * H + u0, r1 - r0, H, n_units);  // written by either thread
      const T* h_prev = t ? hs + (t - 1) * step : h0;
      gemm_panels(tile, r1 - r0, width, H, h_prev + r0 * H, w.data.data() + g * W * H,
                  product.data(), width, H);
      const T* proj = ring + (t % kRing) * n_pad * gp + r0 * gp + u0;
      const auto gate_math = [&](auto body) {
        body = {H, n_units, width, n_units, gp, b ? b + u0 : nullptr, c_prev + r0 * H + u0,
                product.data(), proj, keep ? a + r0 * G + u0 : nullptr, c_next + r0 * H + u0,
                h_next + r0 * H + u0};
        METALNET_DISPATCH_ISA(run, body, int64_t(0), r1 - r0);
      };
      if (keep) gate_math(GatesForward<T, true>{});
      else gate_math(GatesForward<T, false>{});
      done[size_t(t * parts + p)].fetch_add(1, std::memory_order_release);
    }
  });
}

template <class T>
void lstm_backward(const LstmShape& s, const T* dhs, const T* dh_last, const T* dc_last,
                   const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                   const T* hs, const T* cs, const T* gates, T* dx, T* dh0, T* dc0, T* dw_ih,
                   T* dw_hh, T* db) {
  const int64_t H = s.h, G = 4 * H, step = s.n * H;
  // da (T x N x 4H, tens of MiB) is the calling thread's buffer, kept across calls: fresh pages
  // would cost more than the gate passes that fill it. Every element is written before use.
  static thread_local std::vector<T> da_buffer;
  if (da_buffer.size() < size_t(s.t) * s.n * G) da_buffer.resize(size_t(s.t) * s.n * G);
  T* const da = da_buffer.data();
  std::vector<T> dh(step), dc(2 * size_t(step));
  if (dh_last) std::copy(dh_last, dh_last + step, dh.begin()); else std::fill(dh.begin(), dh.end(), T(0));
  if (s.t == 0) {  // nothing recurs: the state gradients pass straight through
    std::copy(dh.begin(), dh.end(), dh0);
    if (dc_last) std::copy(dc_last, dc_last + step, dc0); else std::fill(dc0, dc0 + step, T(0));
  } else if (s.n > 0 && H > 0) {
    const PackedB<T> w_hh_packed = gemm_pack_b<T>(false, G, H, w_hh, H, s.n);  // every step
    // Iteration k (step t = T-1-k) reads dc from dc[k-1 parity] and writes dc[k parity]; the
    // gate pass splits rows, the product dh = da_t @ w_hh splits columns.
    run_team(team_size(s.n, H), [&](int thread, int threads) {
      const ProductShare part = share_product(s.n, H, w_hh_packed.nr, thread, threads);
      const Range rows = share(s.n, 1, thread, threads);
      for (int64_t k = 0; k < s.t; ++k) {
        const int64_t t = s.t - 1 - k;
        const T* dc_in = k ? dc.data() + ((k - 1) % 2) * step : dc_last;
        T* dc_out = dc.data() + (k % 2) * step;
        T* dat = da + t * s.n * G;
        if (dhs)
          for (int64_t j = rows.lo * H; j < rows.hi * H; ++j) dh[j] += dhs[t * step + j];
        const T* c_prev = t ? cs + (t - 1) * step : c0;
        const GatesBackward<T> body{H, dh.data(), dc_in, gates + t * s.n * G,
                                    c_prev, cs + t * step, dat, dc_out};
        if (rows.lo < rows.hi) METALNET_DISPATCH_ISA(run, body, rows.lo, rows.hi);
        team_barrier();  // da_t complete
        step_product(part, s.n, H, G, dat, w_hh_packed, dh.data());
        team_barrier();  // dh complete before the next gate pass reads its rows
      }
    });
    std::copy(dh.begin(), dh.end(), dh0);
    const T* dc_first = dc.data() + ((s.t - 1) % 2) * step;
    std::copy(dc_first, dc_first + step, dc0);
  } else {
    std::fill(dh0, dh0 + step, T(0));
    std::fill(dc0, dc0 + step, T(0));
  }
  // Everything that does not recur, over all T*N rows at once.
  gemm<T>(false, false, s.t * s.n, s.i, G, T(1), da, G, w_ih, s.i, T(0), dx, s.i);
  gemm<T>(true, false, G, s.i, s.t * s.n, T(1), da, G, x, s.i, T(0), dw_ih, s.i);
  // w_hh met h0 at step 0 and h_{t-1} = hs[t-1] after: two products, no gathered copy.
  if (s.t == 0) std::fill(dw_hh, dw_hh + G * H, T(0));
  else gemm<T>(true, false, G, H, s.n, T(1), da, G, h0, H, T(0), dw_hh, H);
  if (s.t > 1)
    gemm<T>(true, false, G, H, (s.t - 1) * s.n, T(1), da + s.n * G, G, hs, H, T(1), dw_hh, H);
  bias_add_backward(da, db, s.t * s.n, G, 1);
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
