#include "metalnet/host_pool.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace metalnet {
namespace {

constexpr size_t kGranule = size_t(1) << 21;  // 2 MiB: sizes round up to huge-page multiples

struct Pool {
  std::mutex lock;
  std::multimap<size_t, void*> free_blocks;  // capacity -> block
  size_t cached = 0;
  size_t limit = size_t(2) << 30;  // 2 GiB

  void trim(size_t target) {  // caller holds the lock
    while (cached > target && !free_blocks.empty()) {
      auto it = std::prev(free_blocks.end());  // largest first
      cached -= it->first;
      std::free(it->second);
      free_blocks.erase(it);
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: arrays may outlive static destruction
  return *p;
}

}  // namespace

void* pool_alloc(size_t bytes, size_t& capacity) {
  capacity = (bytes + kGranule - 1) / kGranule * kGranule;
  if (capacity == 0) capacity = kGranule;
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> guard(p.lock);
    // Best fit, but never more than 25% waste: a 4 MB request must not pin a 1 GB block.
    auto it = p.free_blocks.lower_bound(capacity);
    if (it != p.free_blocks.end() && it->first <= capacity + capacity / 4) {
      void* block = it->second;
      capacity = it->first;
      p.cached -= capacity;
      p.free_blocks.erase(it);
      return block;
    }
  }
  void* block = std::aligned_alloc(kGranule, capacity);
  if (!block) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(block, capacity, MADV_HUGEPAGE);  // fewer faults and TLB misses; a hint only
#endif
  return block;
}

void pool_free(void* block, size_t capacity) {
  Pool& p = pool();
  std::lock_guard<std::mutex> guard(p.lock);
  if (capacity > p.limit) {
    std::free(block);
    return;
  }
  p.free_blocks.emplace(capacity, block);
  p.cached += capacity;
  p.trim(p.limit);
}

size_t pool_cached() {
  std::lock_guard<std::mutex> guard(pool().lock);
  return pool().cached;
}

size_t pool_limit() {
  std::lock_guard<std::mutex> guard(pool().lock);
  return pool().limit;
}

void set_pool_limit(size_t bytes) {
  Pool& p = pool();
  std::lock_guard<std::mutex> guard(p.lock);
  p.limit = bytes;
  p.trim(bytes);
}

}  // namespace metalnet
