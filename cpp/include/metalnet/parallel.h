// Threading: one place decides how many threads a kernel uses.
//
// The count is ours, not OpenMP's per-thread ICV, so metalnet.set_num_threads affects kernels
// called from any Python thread. It starts at OMP_NUM_THREADS (or the core count).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#ifdef METALNET_OPENMP
#include <omp.h>
#endif

namespace metalnet {

int num_threads();
// This thread's index inside a parallel_for region (0 outside one).
inline int thread_index() {
#ifdef METALNET_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
// n < 1 is rejected by the binding; here it is clamped to 1.
void set_num_threads(int n);

// Splits [0, n) into one contiguous range per thread, each a multiple of `align` elements long
// (so threads never share a cache line), and calls f(begin, end) for each. Work under `grain`
// elements per thread stays on the calling thread: spawning costs more than it saves.
// `max_threads` (0 = num_threads()) lets a caller that knows the work is small ask for fewer.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f, int64_t align = 16, int max_threads = 0) {
  if (n <= 0) return;
  const int64_t want = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  const int limit = max_threads > 0 ? std::min(max_threads, num_threads()) : num_threads();
  const int threads = static_cast<int>(std::min<int64_t>(limit, want));
  if (threads <= 1) {
    f(int64_t{0}, n);
    return;
  }
#ifdef METALNET_OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (n + nt - 1) / nt;
    chunk = (chunk + align - 1) / align * align;
    const int64_t lo = std::min<int64_t>(n, t * chunk), hi = std::min<int64_t>(n, lo + chunk);
    if (lo < hi) f(lo, hi);
  }
#else
  f(int64_t{0}, n);
#endif
}

// Runs f(thread, threads) once on each of `threads` threads (one OpenMP region), for loops whose
// every iteration needs all threads and a barrier (an LSTM's steps): one region for the whole
// loop instead of a fork and join per step. team_barrier() waits for the whole team.
template <class F>
void run_team(int threads, F&& f) {
#ifdef METALNET_OPENMP
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    f(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  (void)threads;
  f(0, 1);
}
inline void team_barrier() {
#ifdef METALNET_OPENMP
#pragma omp barrier
#endif
}

// Waits until `count` (advanced by another thread of the team with a release store or
// fetch_add) reaches `target`: for a dependency on part of a step, where a whole-team barrier
// would also wait for work this thread does not need. Spins briefly, then yields the core.
inline void wait_for_count(const std::atomic<int64_t>& count, int64_t target) {
  for (int spins = 0; count.load(std::memory_order_acquire) < target; ++spins) {
    if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace metalnet
