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
#include "bias.h"
#include "check.h"
#include "conv2d.h"
#include "gemm.h"
#include "lstm.h"
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

// ------------------------------------------------------------------------------ conv2d
// geometry = (N, C, H, W, K, R, S, Ho, Wo, sh, sw, top, left, dh, dw), normalised by ops.
ConvGeometry parse_conv_geometry(const std::vector<int64_t>& g) {
  if (g.size() != 15)
    throw py::value_error("conv2d geometry must be (N, C, H, W, K, R, S, Ho, Wo, sh, sw, top, "
                          "left, dh, dw), got " + std::to_string(g.size()) + " values");
  for (int64_t v : g)
    if (v < 0 || v > INT32_MAX) throw py::value_error("conv2d geometry out of range");
  return ConvGeometry{int(g[0]), int(g[1]), int(g[2]),  int(g[3]),  int(g[4]),
                      int(g[5]), int(g[6]), int(g[7]),  int(g[8]),  int(g[9]),
                      int(g[10]), int(g[11]), int(g[12]), int(g[13]), int(g[14])};
}

int64_t conv_x_size(const ConvGeometry& g) { return int64_t(g.n) * g.c * g.h * g.w; }
int64_t conv_w_size(const ConvGeometry& g) { return int64_t(g.k) * g.c * g.r * g.s; }
int64_t conv_y_size(const ConvGeometry& g) { return int64_t(g.n) * g.k * g.ho * g.wo; }

void check_conv_config(const std::string& dtype, int config) {
  if (config < -1 || config >= kConvConfigs)
    throw py::value_error("conv2d: config must be -1 (automatic) or 0.." +
                          std::to_string(kConvConfigs - 1));
  if (config != -1 && dtype != "float32")
    throw py::value_error("conv2d: config applies to float32 only");
}

// y = conv(x, w) (+ b when b != 0), then ReLU when relu.
void conv_forward_binding(const std::string& dtype, std::uintptr_t x, std::uintptr_t w,
                          std::uintptr_t b, std::uintptr_t y, const std::vector<int64_t>& geometry,
                          bool relu, std::uintptr_t stream, int config) {
  require_float(dtype);
  check_conv_config(dtype, config);
  const ConvGeometry g = parse_conv_geometry(geometry);
  const int64_t ny = conv_y_size(g), nx = conv_x_size(g) * (ny > 0), nw = conv_w_size(g) * (ny > 0);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    conv2d_forward<float>(as_ptr<const float>(x, nx, "x"), as_ptr<const float>(w, nw, "w"),
                          b ? reinterpret_cast<const float*>(b) : nullptr,
                          as_ptr<float>(y, ny, "out"), g, relu, as_stream(stream), config);
  else
    conv2d_forward<double>(as_ptr<const double>(x, nx, "x"), as_ptr<const double>(w, nw, "w"),
                           b ? reinterpret_cast<const double*>(b) : nullptr,
                           as_ptr<double>(y, ny, "out"), g, relu, as_stream(stream), config);
}

void conv_backward_data_binding(const std::string& dtype, std::uintptr_t dy, std::uintptr_t w,
                                std::uintptr_t dx, const std::vector<int64_t>& geometry,
                                std::uintptr_t stream, int config) {
  require_float(dtype);
  check_conv_config(dtype, config);
  const ConvGeometry g = parse_conv_geometry(geometry);
  const int64_t nx = conv_x_size(g), ny = conv_y_size(g) * (nx > 0), nw = conv_w_size(g) * (nx > 0);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    conv2d_backward_data<float>(as_ptr<const float>(dy, ny, "dy"), as_ptr<const float>(w, nw, "w"),
                                as_ptr<float>(dx, nx, "out"), g, as_stream(stream), config);
  else
    conv2d_backward_data<double>(as_ptr<const double>(dy, ny, "dy"),
                                 as_ptr<const double>(w, nw, "w"), as_ptr<double>(dx, nx, "out"),
                                 g, as_stream(stream), config);
}

void conv_backward_weight_binding(const std::string& dtype, std::uintptr_t dy, std::uintptr_t x,
                                  std::uintptr_t dw, const std::vector<int64_t>& geometry,
                                  std::uintptr_t stream, int config) {
  require_float(dtype);
  check_conv_config(dtype, config);
  const ConvGeometry g = parse_conv_geometry(geometry);
  const int64_t nw = conv_w_size(g), ny = conv_y_size(g) * (nw > 0), nx = conv_x_size(g) * (nw > 0);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    conv2d_backward_weight<float>(as_ptr<const float>(dy, ny, "dy"),
                                  as_ptr<const float>(x, nx, "x"), as_ptr<float>(dw, nw, "out"),
                                  g, as_stream(stream), config);
  else
    conv2d_backward_weight<double>(as_ptr<const double>(dy, ny, "dy"),
                                   as_ptr<const double>(x, nx, "x"),
                                   as_ptr<double>(dw, nw, "out"), g, as_stream(stream), config);
}

// db (channels) = dy (images, channels, plane) summed over images and plane.
void bias_add_binding(const std::string& dtype, std::uintptr_t x, std::uintptr_t b,
                      std::uintptr_t y, int64_t n, int64_t c, int64_t inner,
                      std::uintptr_t stream) {
  require_float(dtype);
  if (n < 0 || c < 0 || inner < 0) throw py::value_error("bias_add: negative size");
  const int64_t total = n * c * inner;
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    bias_add<float>(as_ptr<const float>(x, total, "x"), as_ptr<const float>(b, c, "b"),
                    as_ptr<float>(y, total, "out"), n, c, inner, as_stream(stream));
  else
    bias_add<double>(as_ptr<const double>(x, total, "x"), as_ptr<const double>(b, c, "b"),
                     as_ptr<double>(y, total, "out"), n, c, inner, as_stream(stream));
}

void conv_backward_bias_binding(const std::string& dtype, std::uintptr_t dy, std::uintptr_t db,
                                int64_t images, int64_t channels, int64_t plane,
                                std::uintptr_t stream) {
  require_float(dtype);
  if (images < 0 || channels < 0 || plane < 0)
    throw py::value_error("conv2d_backward_bias: negative size");
  const int64_t ny = images * channels * plane;
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    conv2d_backward_bias<float>(as_ptr<const float>(dy, ny, "dy"),
                                as_ptr<float>(db, channels, "out"), images, channels, plane,
                                as_stream(stream));
  else
    conv2d_backward_bias<double>(as_ptr<const double>(dy, ny, "dy"),
                                 as_ptr<double>(db, channels, "out"), images, channels, plane,
                                 as_stream(stream));
}

ConvPass parse_pass(const std::string& pass) {
  if (pass == "forward") return ConvPass::forward;
  if (pass == "backward_data") return ConvPass::backward_data;
  if (pass == "backward_weight") return ConvPass::backward_weight;
  throw py::value_error("pass must be 'forward', 'backward_data' or 'backward_weight', got '" +
                        pass + "'");
}

// -------------------------------------------------------------------------------- lstm
// shape = (T, N, I, H). Null (0) is allowed for b, dhs, dh_last, dc_last, db and, when T == 1,
// for hs, h_prev, dh_carry and dc_carry (a cell step reads none of them); every other pointer
// must be set when its array is non-empty.
LstmShape parse_lstm_shape(const std::vector<int64_t>& s) {
  if (s.size() != 4) throw py::value_error("lstm shape must be (T, N, I, H)");
  for (int64_t v : s)
    if (v < 0) throw py::value_error("lstm shape: negative size");
  if (s[0] < 1) throw py::value_error("lstm: needs at least one step");
  return LstmShape{s[0], s[1], s[2], s[3]};
}

template <class T>
const T* nullable(std::uintptr_t p) { return reinterpret_cast<const T*>(p); }

template <class T>
void lstm_forward_typed(std::uintptr_t x, std::uintptr_t h0, std::uintptr_t c0,
                        std::uintptr_t w_ih, std::uintptr_t w_hh, std::uintptr_t b,
                        std::uintptr_t hs, std::uintptr_t cs, std::uintptr_t gates,
                        std::uintptr_t xw, std::uintptr_t hw, const LstmShape& s,
                        std::uintptr_t stream) {
  const int64_t tn = s.steps * s.batch, nh = s.batch * s.hidden, g4 = 4 * s.hidden;
  const int64_t live = nh > 0;  // nothing is read when the state is empty
  lstm_forward<T>(as_ptr<const T>(x, tn * s.input * live, "x"), as_ptr<const T>(h0, nh, "h0"),
                  as_ptr<const T>(c0, nh, "c0"), as_ptr<const T>(w_ih, g4 * s.input * live, "w_ih"),
                  as_ptr<const T>(w_hh, g4 * s.hidden * live, "w_hh"), nullable<T>(b),
                  as_ptr<T>(hs, tn * s.hidden, "hs"), as_ptr<T>(cs, tn * s.hidden, "cs"),
                  as_ptr<T>(gates, tn * g4, "gates"), as_ptr<T>(xw, tn * g4, "xw"),
                  as_ptr<T>(hw, s.batch * g4, "hw"), s, as_stream(stream));
}

void lstm_forward_binding(const std::string& dtype, std::uintptr_t x, std::uintptr_t h0,
                          std::uintptr_t c0, std::uintptr_t w_ih, std::uintptr_t w_hh,
                          std::uintptr_t b, std::uintptr_t hs, std::uintptr_t cs,
                          std::uintptr_t gates, std::uintptr_t xw, std::uintptr_t hw,
                          const std::vector<int64_t>& shape, std::uintptr_t stream) {
  require_float(dtype);
  const LstmShape s = parse_lstm_shape(shape);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    lstm_forward_typed<float>(x, h0, c0, w_ih, w_hh, b, hs, cs, gates, xw, hw, s, stream);
  else
    lstm_forward_typed<double>(x, h0, c0, w_ih, w_hh, b, hs, cs, gates, xw, hw, s, stream);
}

template <class T>
void lstm_backward_typed(std::uintptr_t dhs, std::uintptr_t dh_last, std::uintptr_t dc_last,
                         std::uintptr_t x, std::uintptr_t h0, std::uintptr_t c0,
                         std::uintptr_t w_ih, std::uintptr_t w_hh, std::uintptr_t hs,
                         std::uintptr_t cs, std::uintptr_t gates, std::uintptr_t dx,
                         std::uintptr_t dh0, std::uintptr_t dc0, std::uintptr_t dw_ih,
                         std::uintptr_t dw_hh, std::uintptr_t db, std::uintptr_t dgates,
                         std::uintptr_t h_prev, std::uintptr_t dh_carry, std::uintptr_t dc_carry,
                         const LstmShape& s, std::uintptr_t stream) {
  const int64_t tn = s.steps * s.batch, nh = s.batch * s.hidden, g4 = 4 * s.hidden;
  const int64_t th = tn * s.hidden;
  const bool many = s.steps > 1;  // hs, h_prev and the carries are only read across steps
  lstm_backward<T>(
      nullable<T>(dhs), nullable<T>(dh_last), nullable<T>(dc_last),
      as_ptr<const T>(x, tn * s.input, "x"), as_ptr<const T>(h0, nh, "h0"),
      as_ptr<const T>(c0, nh, "c0"), as_ptr<const T>(w_ih, g4 * s.input, "w_ih"),
      as_ptr<const T>(w_hh, g4 * s.hidden, "w_hh"), as_ptr<const T>(hs, many ? th : 0, "hs"),
      as_ptr<const T>(cs, th, "cs"), as_ptr<const T>(gates, tn * g4, "gates"),
      as_ptr<T>(dx, tn * s.input, "dx"), as_ptr<T>(dh0, nh, "dh0"), as_ptr<T>(dc0, nh, "dc0"),
      as_ptr<T>(dw_ih, g4 * s.input, "dw_ih"), as_ptr<T>(dw_hh, g4 * s.hidden, "dw_hh"),
      db ? reinterpret_cast<T*>(db) : nullptr, as_ptr<T>(dgates, tn * g4, "dgates"),
      as_ptr<T>(h_prev, many ? th : 0, "h_prev"), as_ptr<T>(dh_carry, many ? nh : 0, "dh_carry"),
      as_ptr<T>(dc_carry, many ? nh : 0, "dc_carry"), s, as_stream(stream));
}

void lstm_backward_binding(const std::string& dtype, std::uintptr_t dhs, std::uintptr_t dh_last,
                           std::uintptr_t dc_last, std::uintptr_t x, std::uintptr_t h0,
                           std::uintptr_t c0, std::uintptr_t w_ih, std::uintptr_t w_hh,
                           std::uintptr_t hs, std::uintptr_t cs, std::uintptr_t gates,
                           std::uintptr_t dx, std::uintptr_t dh0, std::uintptr_t dc0,
                           std::uintptr_t dw_ih, std::uintptr_t dw_hh, std::uintptr_t db,
                           std::uintptr_t dgates, std::uintptr_t h_prev, std::uintptr_t dh_carry,
                           std::uintptr_t dc_carry, const std::vector<int64_t>& shape,
                           std::uintptr_t stream) {
  require_float(dtype);
  const LstmShape s = parse_lstm_shape(shape);
  py::gil_scoped_release nogil;
  if (dtype == "float32")
    lstm_backward_typed<float>(dhs, dh_last, dc_last, x, h0, c0, w_ih, w_hh, hs, cs, gates, dx,
                               dh0, dc0, dw_ih, dw_hh, db, dgates, h_prev, dh_carry, dc_carry, s,
                               stream);
  else
    lstm_backward_typed<double>(dhs, dh_last, dc_last, x, h0, c0, w_ih, w_hh, hs, cs, gates, dx,
                                dh0, dc0, dw_ih, dw_hh, db, dgates, h_prev, dh_carry, dc_carry, s,
                                stream);
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
  m.def("conv2d_forward", &conv_forward_binding, py::arg("dtype"), py::arg("x"), py::arg("w"),
        py::arg("b"), py::arg("out"), py::arg("geometry"), py::arg("relu"), py::arg("stream"),
        py::arg("config") = -1,
        "y = conv(x, w) (+ b; b = 0: none), ReLU when relu; geometry = (N, C, H, W, K, R, S, "
        "Ho, Wo, sh, sw, top, left, dh, dw).");
  m.def("conv2d_backward_data", &conv_backward_data_binding, py::arg("dtype"), py::arg("dy"),
        py::arg("w"), py::arg("out"), py::arg("geometry"), py::arg("stream"),
        py::arg("config") = -1);
  m.def("conv2d_backward_weight", &conv_backward_weight_binding, py::arg("dtype"), py::arg("dy"),
        py::arg("x"), py::arg("out"), py::arg("geometry"), py::arg("stream"),
        py::arg("config") = -1);
  m.def("bias_add", &bias_add_binding, py::arg("dtype"), py::arg("x"), py::arg("b"),
        py::arg("out"), py::arg("n"), py::arg("c"), py::arg("inner"), py::arg("stream"));
  m.def("conv2d_backward_bias", &conv_backward_bias_binding, py::arg("dtype"), py::arg("dy"),
        py::arg("out"), py::arg("images"), py::arg("channels"), py::arg("plane"),
        py::arg("stream"));
  m.def("conv2d_config", [](const std::string& pass, const std::vector<int64_t>& geometry,
                            const std::string& dtype, int config) {
    require_float(dtype);
    check_conv_config(dtype, config);
    return conv2d_config(parse_pass(pass), parse_conv_geometry(geometry), dtype == "float64",
                         config);
  }, py::arg("pass_"), py::arg("geometry"), py::arg("dtype") = "float32", py::arg("config") = -1,
        "Name of the implicit-GEMM kernel configuration a convolution pass runs.");
  m.attr("conv2d_configs") = kConvConfigs;
  m.def("lstm_forward", &lstm_forward_binding, py::arg("dtype"), py::arg("x"), py::arg("h0"),
        py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"), py::arg("hs"),
        py::arg("cs"), py::arg("gates"), py::arg("xw"), py::arg("hw"), py::arg("shape"),
        py::arg("stream"), "LSTM over T steps; shape = (T, N, I, H); xw, hw are scratch.");
  m.def("lstm_backward", &lstm_backward_binding, py::arg("dtype"), py::arg("dhs"),
        py::arg("dh_last"), py::arg("dc_last"), py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("hs"), py::arg("cs"), py::arg("gates"),
        py::arg("dx"), py::arg("dh0"), py::arg("dc0"), py::arg("dw_ih"), py::arg("dw_hh"),
        py::arg("db"), py::arg("dgates"), py::arg("h_prev"), py::arg("dh_carry"),
        py::arg("dc_carry"), py::arg("shape"), py::arg("stream"),
        "Gradients of lstm_forward; dgates, h_prev, dh_carry, dc_carry are scratch.");
}
