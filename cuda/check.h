// Error handling for every CUDA call and launch: a failure becomes a C++ exception naming what
// failed, which pybind11 turns into a Python RuntimeError.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace metalnet::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

// After a <<<>>> launch: configuration errors show up here, not at the launch line.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace metalnet::cuda
