// Error handling for every CUDA call and launch: a failure becomes a C++ exception naming what
// failed, which pybind11 turns into a Python RuntimeError.
//
// Kernels run asynchronously, so a fault inside one (an illegal address) normally surfaces at
// some later call. With METALNET_CUDA_SYNC=1 in the environment every launch is followed by a
// synchronisation of its stream, and the error names the kernel that faulted (slow; for
// debugging and for the tests that check the error names the kernel).
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace metalnet::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

inline bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("METALNET_CUDA_SYNC");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return on;
}

// Multiprocessors of the current device, asked once (sizes grids; nothing depends on it being
// exact).
inline int multiprocessors() {
  static const int sms = [] {
    int dev = 0, count = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev),
          "cudaDeviceGetAttribute");
    return count;
  }();
  return sms;
}

// Blocks for a grid-stride loop over `work` items: one per `block` items, at most `per_sm`
// per multiprocessor (each thread then loops), never zero.
inline int grid_for(int64_t work, int block, int per_sm = 16) {
  const int64_t blocks = (work + block - 1) / block, cap = int64_t(multiprocessors()) * per_sm;
  return int(blocks < 1 ? 1 : (blocks < cap ? blocks : cap));
}

// After a <<<>>> launch: configuration errors show up here, not at the launch line.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// The same, and under METALNET_CUDA_SYNC=1 also the kernel's own execution errors.
inline void check_launch(const char* kernel, cudaStream_t stream) {
  check(cudaGetLastError(), kernel);
  if (sync_after_launch()) check(cudaStreamSynchronize(stream), kernel);
}

// Launch limits shared by the launchers.
constexpr long long kMaxGridY = 65535;

}  // namespace metalnet::cuda
