// A caching allocator for large host outputs.
//
// A fresh 50 MB NumPy array is fresh mmap'd memory: the first write to each page faults, and
// on this class of machine that costs more than the kernel (an activation over 51 MB runs at
// about 40 GB/s into touched memory and 6-20 GB/s into new memory). Kernels' outputs of
// similar sizes repeat every training step, so blocks freed by Python are kept (pages touched)
// and handed out again. The cache is bounded; what exceeds the bound is returned to the OS.
#pragma once

#include <cstddef>

namespace metalnet {

// Returns at least `bytes` bytes, 64-byte aligned. Thread-safe.
void* pool_alloc(size_t bytes, size_t& capacity);
// Gives a block from pool_alloc back (capacity as returned there).
void pool_free(void* p, size_t capacity);
// Bytes cached now / the cache bound; set_pool_limit(0) empties and disables the cache.
size_t pool_cached();
size_t pool_limit();
void set_pool_limit(size_t bytes);

}  // namespace metalnet
