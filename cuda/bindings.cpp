// metalnet._cuda: the pybind11 surface of the CUDA kernels.
//
// Arrays cross as raw device pointers (CuPy's `a.data.ptr`) plus the element count, and the
// stream is CuPy's current stream as an integer. Python (metalnet.backends.cuda) has already
// checked shapes, dtypes and devices; this side checks pointers are non-null when work is to do.
// Compiled by the host compiler: nvcc only sees the kernels.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "activations.h"
#include "check.h"
#include "gemm.h"
#include "pooling.h"
#include "softmax.h"

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

// ------------------------------------------------------------------------------------ gemm
// out (M, N) = alpha * op(a) @ op(b) + beta * c; c = 0 means no c. config: SGEMM tile
// configuration (-1 automatic; 0..kSgemmConfigs-1 forced; float32 only).
void gemm_binding(const std::string& dtype, std::uintptr_t a, std::uintptr_t b, std::uintptr_t c,
                  std::uintptr_t out, int64_t m, int64_t n, int64_t k, double alpha, double beta,
                  bool trans_a, bool trans_b, std::uintptr_t stream, int config) {
  require_float(dtype);
  if (m < 0 || n < 0 || k < 0) throw py::value_error("gemm: negative dimension");
  if (config < -1 || config >= kSgemmConfigs)
    throw py::value_error("gemm: config must be -1 (automatic) or 0.." +
                          std::to_string(kSgemmConfigs - 1));
  if (config != -1 && dtype != "float32")
    throw py::value_error("gemm: config applies to float32 only");
  const int64_t mn = m * n, mk = m * k, kn = k * n;
  const bool use_c = c != 0 && beta != 0.0;
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    sgemm_with_config(as_ptr<const float>(a, mk * (mn > 0), "a"),
                      as_ptr<const float>(b, kn * (mn > 0), "b"),
                      use_c ? as_ptr<const float>(c, mn, "c") : nullptr,
                      as_ptr<float>(out, mn, "out"), m, n, k, float(alpha), float(beta), trans_a,
                      trans_b, config, as_stream(stream));
  else
    gemm<double>(as_ptr<const double>(a, mk * (mn > 0), "a"),
                 as_ptr<const double>(b, kn * (mn > 0), "b"),
                 use_c ? as_ptr<const double>(c, mn, "c") : nullptr,
                 as_ptr<double>(out, mn, "out"), m, n, k, alpha, beta, trans_a, trans_b,
                 as_stream(stream));
}

// --------------------------------------------------------------------------------- pooling
// geometry = (planes, H, W, Ho, Wo, kh, kw, sh, sw, top, left), planes = N * C.
PoolGeometry parse_geometry(const std::vector<int64_t>& g) {
  if (g.size() != 11)
    throw py::value_error("pooling geometry must be (planes, H, W, Ho, Wo, kh, kw, sh, sw, top, "
                          "left), got " + std::to_string(g.size()) + " values");
  for (size_t i = 1; i < g.size(); ++i)
    if (g[i] < 0 || g[i] > INT32_MAX) throw py::value_error("pooling geometry out of range");
  if (g[0] < 0) throw py::value_error("pooling geometry: negative plane count");
  return PoolGeometry{g[0], int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]),
                      int(g[6]), int(g[7]), int(g[8]), int(g[9]), int(g[10])};
}

int64_t in_size(const PoolGeometry& g) { return g.planes * g.h * g.w; }
int64_t out_size(const PoolGeometry& g) { return g.planes * g.ho * g.wo; }

void max_pool_forward_binding(const std::string& dtype, std::uintptr_t x, std::uintptr_t y,
                              std::uintptr_t argmax, const std::vector<int64_t>& geometry,
                              std::uintptr_t stream) {
  require_float(dtype);
  const PoolGeometry g = parse_geometry(geometry);
  const int64_t ni = in_size(g), no = out_size(g);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    max_pool2d_forward<float>(as_ptr<const float>(x, ni, "x"), as_ptr<float>(y, no, "out"),
                              as_ptr<int64_t>(argmax, no, "argmax"), g, as_stream(stream));
  else
    max_pool2d_forward<double>(as_ptr<const double>(x, ni, "x"), as_ptr<double>(y, no, "out"),
                               as_ptr<int64_t>(argmax, no, "argmax"), g, as_stream(stream));
}

// dx (planes, in_plane) from dy and argmax (planes, out_plane): in_plane = H*W, out_plane = Ho*Wo.
void max_pool_backward_binding(const std::string& dtype, std::uintptr_t dy,
                               std::uintptr_t argmax, std::uintptr_t dx, int64_t planes,
                               int64_t in_plane, int64_t out_plane, std::uintptr_t stream) {
  require_float(dtype);
  if (planes < 0 || in_plane < 1 || out_plane < 0)
    throw py::value_error("max_pool2d_backward: invalid plane sizes");
  const int64_t ni = planes * in_plane, no = planes * out_plane;
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    max_pool2d_backward<float>(as_ptr<const float>(dy, no, "dy"),
                               as_ptr<const int64_t>(argmax, no, "argmax"),
                               as_ptr<float>(dx, ni, "out"), planes, in_plane, out_plane,
                               as_stream(stream));
  else
    max_pool2d_backward<double>(as_ptr<const double>(dy, no, "dy"),
                                as_ptr<const int64_t>(argmax, no, "argmax"),
                                as_ptr<double>(dx, ni, "out"), planes, in_plane, out_plane,
                                as_stream(stream));
}

void avg_pool_forward_binding(const std::string& dtype, std::uintptr_t x, std::uintptr_t y,
                              const std::vector<int64_t>& geometry, bool count_include_pad,
                              std::uintptr_t stream) {
  require_float(dtype);
  const PoolGeometry g = parse_geometry(geometry);
  const int64_t ni = in_size(g), no = out_size(g);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    avg_pool2d_forward<float>(as_ptr<const float>(x, ni, "x"), as_ptr<float>(y, no, "out"), g,
                              count_include_pad, as_stream(stream));
  else
    avg_pool2d_forward<double>(as_ptr<const double>(x, ni, "x"), as_ptr<double>(y, no, "out"), g,
                               count_include_pad, as_stream(stream));
}

void avg_pool_backward_binding(const std::string& dtype, std::uintptr_t dy, std::uintptr_t dx,
                               const std::vector<int64_t>& geometry, bool count_include_pad,
                               std::uintptr_t stream) {
  require_float(dtype);
  const PoolGeometry g = parse_geometry(geometry);
  const int64_t ni = in_size(g), no = out_size(g);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    avg_pool2d_backward<float>(as_ptr<const float>(dy, no, "dy"), as_ptr<float>(dx, ni, "out"), g,
                               count_include_pad, as_stream(stream));
  else
    avg_pool2d_backward<double>(as_ptr<const double>(dy, no, "dy"),
                                as_ptr<double>(dx, ni, "out"), g, count_include_pad,
                                as_stream(stream));
}

// --------------------------------------------------------------------------------- softmax
void softmax_binding(const std::string& dtype, std::uintptr_t x, std::uintptr_t y, int64_t rows,
                     int64_t cols, bool log, std::uintptr_t stream) {
  require_float(dtype);
  if (rows < 0 || cols < 0) throw py::value_error("softmax: negative shape");
  const int64_t n = rows * cols;
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    softmax_rows<float>(as_ptr<const float>(x, n, "x"), as_ptr<float>(y, n, "out"), rows, cols,
                        log, as_stream(stream));
  else
    softmax_rows<double>(as_ptr<const double>(x, n, "x"), as_ptr<double>(y, n, "out"), rows, cols,
                         log, as_stream(stream));
}

// row_loss: N float64 scratch; loss: one element of the logits dtype.
void softmax_xent_binding(const std::string& dtype, std::uintptr_t logits, std::uintptr_t labels,
                          std::uintptr_t dlogits, std::uintptr_t row_loss, std::uintptr_t loss,
                          int64_t rows, int64_t cols, std::uintptr_t stream) {
  require_float(dtype);
  if (rows < 1 || cols < 1)
    throw py::value_error("softmax_cross_entropy: needs at least one row and one column");
  const int64_t n = rows * cols;
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    softmax_cross_entropy<float>(as_ptr<const float>(logits, n, "logits"),
                                 as_ptr<const int64_t>(labels, rows, "labels"),
                                 as_ptr<float>(dlogits, n, "dlogits"),
                                 as_ptr<double>(row_loss, rows, "row_loss"),
                                 as_ptr<float>(loss, 1, "loss"), rows, cols, as_stream(stream));
  else
    softmax_cross_entropy<double>(as_ptr<const double>(logits, n, "logits"),
                                  as_ptr<const int64_t>(labels, rows, "labels"),
                                  as_ptr<double>(dlogits, n, "dlogits"),
                                  as_ptr<double>(row_loss, rows, "row_loss"),
                                  as_ptr<double>(loss, 1, "loss"), rows, cols, as_stream(stream));
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
  m.def("gemm", &gemm_binding, py::arg("dtype"), py::arg("a"), py::arg("b"), py::arg("c"),
        py::arg("out"), py::arg("m"), py::arg("n"), py::arg("k"), py::arg("alpha"),
        py::arg("beta"), py::arg("trans_a"), py::arg("trans_b"), py::arg("stream"),
        py::arg("config") = -1,
        "out = alpha * op(a) @ op(b) + beta * c on device pointers (c = 0: none).");
  m.def("sgemm_config", [](int64_t m, int64_t n, int64_t k, bool vectorised) {
    return std::string(sgemm_config(m, n, k, vectorised));
  }, py::arg("m"), py::arg("n"), py::arg("k"), py::arg("vectorised") = true,
        "Name of the SGEMM kernel configuration chosen for an (m, n, k) product.");
  m.attr("sgemm_configs") = kSgemmConfigs;
  m.def("max_pool2d_forward", &max_pool_forward_binding, py::arg("dtype"), py::arg("x"),
        py::arg("out"), py::arg("argmax"), py::arg("geometry"), py::arg("stream"));
  m.def("max_pool2d_backward", &max_pool_backward_binding, py::arg("dtype"), py::arg("dy"),
        py::arg("argmax"), py::arg("out"), py::arg("planes"), py::arg("in_plane"),
        py::arg("out_plane"), py::arg("stream"));
  m.def("avg_pool2d_forward", &avg_pool_forward_binding, py::arg("dtype"), py::arg("x"),
        py::arg("out"), py::arg("geometry"), py::arg("count_include_pad"), py::arg("stream"));
  m.def("avg_pool2d_backward", &avg_pool_backward_binding, py::arg("dtype"), py::arg("dy"),
        py::arg("out"), py::arg("geometry"), py::arg("count_include_pad"), py::arg("stream"));
  m.def("softmax", &softmax_binding, py::arg("dtype"), py::arg("x"), py::arg("out"),
        py::arg("rows"), py::arg("cols"), py::arg("log"), py::arg("stream"));
  m.def("softmax_cross_entropy", &softmax_xent_binding, py::arg("dtype"), py::arg("logits"),
        py::arg("labels"), py::arg("dlogits"), py::arg("row_loss"), py::arg("loss"),
        py::arg("rows"), py::arg("cols"), py::arg("stream"));
}
