#include "metalnet/parallel.h"

#include <atomic>

namespace metalnet {
namespace {

int initial_threads() {
#ifdef METALNET_OPENMP
  return std::max(1, omp_get_max_threads());  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

std::atomic<int>& threads() {
  static std::atomic<int> n{initial_threads()};
  return n;
}

}  // namespace

int num_threads() { return threads().load(std::memory_order_relaxed); }

void set_num_threads(int n) { threads().store(std::max(1, n)); }

}  // namespace metalnet
