// metalnet._cuda: the pybind11 surface of the CUDA kernels.
//
// Arrays cross as raw device pointers (CuPy's `a.data.ptr`) plus the element count, and the
// stream is CuPy's current stream as an integer. Python (metalnet.backends.cuda) has already
// checked shapes, dtypes and devices; this side checks pointers are non-null when work is to do.
// Compiled by the host compiler: nvcc only sees the kernels.
#include <pybind11/pybind11.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "activations.h"
#include "check.h"

namespace py = pybind11;
using namespace metalnet::cuda;

namespace {

cudaStream_t as_stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

template <class T>
T* as_ptr(std::uintptr_t p, int64_t n, const char* name) {
  if (n > 0 && p == 0) throw py::value_error(std::string(name) + " is a null device pointer");
  return reinterpret_cast<T*>(p);
}

Act parse_act(const std::string& name) {
  if (name == "relu") return Act::relu;
  if (name == "leaky_relu") return Act::leaky_relu;
  if (name == "sigmoid") return Act::sigmoid;
  if (name == "tanh") return Act::tanh;
  throw py::value_error("unknown activation '" + name + "'");
}

void require_float(const std::string& dtype) {
  if (dtype != "float32" && dtype != "float64")
    throw py::type_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

void forward(const std::string& act, const std::string& dtype, std::uintptr_t x, std::uintptr_t y,
             int64_t n, double slope, std::uintptr_t stream) {
  const Act a = parse_act(act);
  require_float(dtype);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    activation_forward<float>(a, as_ptr<float>(x, n, "x"), as_ptr<float>(y, n, "out"), n,
                              float(slope), as_stream(stream));
  else
    activation_forward<double>(a, as_ptr<double>(x, n, "x"), as_ptr<double>(y, n, "out"), n,
                               slope, as_stream(stream));
}

void backward(const std::string& act, const std::string& dtype, std::uintptr_t dy,
              std::uintptr_t saved, std::uintptr_t dx, int64_t n, double slope,
              std::uintptr_t stream) {
  const Act a = parse_act(act);
  require_float(dtype);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    activation_backward<float>(a, as_ptr<float>(dy, n, "dy"), as_ptr<float>(saved, n, "saved"),
                               as_ptr<float>(dx, n, "out"), n, float(slope), as_stream(stream));
  else
    activation_backward<double>(a, as_ptr<double>(dy, n, "dy"), as_ptr<double>(saved, n, "saved"),
                                as_ptr<double>(dx, n, "out"), n, slope, as_stream(stream));
}

// (count, message): count is -1 with the CUDA error when no device can be used.
py::tuple device_status() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return py::make_tuple(-1, std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err));
  }
  return py::make_tuple(count, count ? "ok" : "no CUDA device");
}

py::dict device_properties(int device) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  py::dict d;
  d["name"] = std::string(prop.name);
  d["compute_capability"] = py::make_tuple(prop.major, prop.minor);
  d["multiprocessors"] = prop.multiProcessorCount;
  d["total_memory"] = static_cast<unsigned long long>(prop.totalGlobalMem);
  return d;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "metalnet CUDA kernels";
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  m.attr("runtime_version") = runtime;  // e.g. 13000 for 13.0; static, needs no driver
  m.def("driver_version", [] {
    int v = 0;
    return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
  }, "CUDA driver version (0 when no driver is installed).");
  m.def("device_status", &device_status);
  m.def("device_properties", &device_properties, py::arg("device") = 0);
  m.def("activation_forward", &forward, py::arg("act"), py::arg("dtype"), py::arg("x"),
        py::arg("out"), py::arg("n"), py::arg("slope"), py::arg("stream"));
  m.def("activation_backward", &backward, py::arg("act"), py::arg("dtype"), py::arg("dy"),
        py::arg("saved"), py::arg("out"), py::arg("n"), py::arg("slope"), py::arg("stream"));
}
