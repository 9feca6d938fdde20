// metalnet._cpu: the pybind11 surface of the C++ kernels.
//
// Outputs are allocated in Python (metalnet._memory) and passed in, so the tests can poison
// them. Every kernel runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "metalnet/activations.h"
#include "metalnet/batch_norm.h"
#include "metalnet/bias.h"
#include "metalnet/conv2d.h"
#include "metalnet/lstm.h"
#include "metalnet/optim.h"
#include "metalnet/gemm.h"
#include "metalnet/host_pool.h"
#include "metalnet/pooling.h"
#include "metalnet/softmax.h"
#include "metalnet/isa.h"
#include "metalnet/parallel.h"
#include "metalnet/pyarray.h"

namespace py = pybind11;
using namespace metalnet;

namespace {

// y = f(x): both float arrays of one dtype and size, y writeable.
template <class Kernel>
void unary(const py::array& x, py::array& y, Kernel kernel) {
  require_contiguous(x, "x");
  require_contiguous(y, "out");
  require_writeable(y, "out");
  require_same(x, y, "x", "out");
  dispatch_float(x, "x", [&](auto zero) {
    using T = decltype(zero);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    const int64_t n = x.size();
    py::gil_scoped_release nogil;
    kernel(xp, yp, n);
  });
}

// dx = g(dy, s) where s is the saved input or output.
template <class Kernel>
void binary(const py::array& dy, const py::array& s, py::array& dx, Kernel kernel) {
  require_contiguous(dy, "dy");
  require_contiguous(s, "saved");
  require_contiguous(dx, "out");
  require_writeable(dx, "out");
  require_same(dy, s, "dy", "saved");
  require_same(dy, dx, "dy", "out");
  dispatch_float(dy, "dy", [&](auto zero) {
    using T = decltype(zero);
    const T* dp = cptr<T>(dy);
    const T* sp = cptr<T>(s);
    T* op = mptr<T>(dx);
    const int64_t n = dy.size();
    py::gil_scoped_release nogil;
    kernel(dp, sp, op, n);
  });
}

void bind_activations(py::module_& m) {
  m.def("relu_forward", [](const py::array& x, py::array& out) {
    unary(x, out, [](auto* x, auto* y, int64_t n) { relu_forward(x, y, n); });
  }, py::arg("x"), py::arg("out"));
  m.def("relu_backward", [](const py::array& dy, const py::array& x, py::array& out) {
    binary(dy, x, out, [](auto* d, auto* s, auto* o, int64_t n) { relu_backward(d, s, o, n); });
  }, py::arg("dy"), py::arg("x"), py::arg("out"));
  m.def("leaky_relu_forward", [](const py::array& x, py::array& out, double slope) {
    unary(x, out, [slope](auto* x, auto* y, int64_t n) {
      using T = std::remove_pointer_t<decltype(y)>;
      leaky_relu_forward(x, y, n, static_cast<T>(slope));
    });
  }, py::arg("x"), py::arg("out"), py::arg("negative_slope"));
  m.def("leaky_relu_backward", [](const py::array& dy, const py::array& x, py::array& out,
                                  double slope) {
    binary(dy, x, out, [slope](auto* d, auto* s, auto* o, int64_t n) {
      using T = std::remove_pointer_t<decltype(o)>;
      leaky_relu_backward(d, s, o, n, static_cast<T>(slope));
    });
  }, py::arg("dy"), py::arg("x"), py::arg("out"), py::arg("negative_slope"));
  m.def("sigmoid_forward", [](const py::array& x, py::array& out) {
    unary(x, out, [](auto* x, auto* y, int64_t n) { sigmoid_forward(x, y, n); });
  }, py::arg("x"), py::arg("out"));
  m.def("sigmoid_backward", [](const py::array& dy, const py::array& y, py::array& out) {
    binary(dy, y, out, [](auto* d, auto* s, auto* o, int64_t n) { sigmoid_backward(d, s, o, n); });
  }, py::arg("dy"), py::arg("y"), py::arg("out"));
  m.def("tanh_forward", [](const py::array& x, py::array& out) {
    unary(x, out, [](auto* x, auto* y, int64_t n) { tanh_forward(x, y, n); });
  }, py::arg("x"), py::arg("out"));
  m.def("tanh_backward", [](const py::array& dy, const py::array& y, py::array& out) {
    binary(dy, y, out, [](auto* d, auto* s, auto* o, int64_t n) { tanh_backward(d, s, o, n); });
  }, py::arg("dy"), py::arg("y"), py::arg("out"));
}

void bind_gemm(py::module_& m) {
  m.def("gemm", [](const py::array& a, const py::array& b, py::array& out, double alpha,
                   double beta, bool trans_a, bool trans_b) {
    require_contiguous(a, "a");
    require_contiguous(b, "b");
    require_contiguous(out, "out");
    require_writeable(out, "out");
    if (a.ndim() != 2 || b.ndim() != 2 || out.ndim() != 2)
      throw py::value_error("a, b and out must be 2-D");
    if (!a.dtype().is(b.dtype()) || !a.dtype().is(out.dtype()))
      throw py::type_error("a, b and out must share one dtype");
    const int64_t m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
    const int64_t kb = trans_b ? b.shape(1) : b.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
    if (k != kb || out.shape(0) != m || out.shape(1) != n)
      throw py::value_error("gemm: shapes of a, b and out do not agree");
    dispatch_float(a, "a", [&](auto zero) {
      using T = decltype(zero);
      const T* ap = cptr<T>(a);
      const T* bp = cptr<T>(b);
      T* cp = mptr<T>(out);
      const int64_t lda = a.shape(1), ldb = b.shape(1), ldc = n;
      py::gil_scoped_release nogil;
      gemm<T>(trans_a, trans_b, m, n, k, T(alpha), ap, lda, bp, ldb, T(beta), cp, ldc);
    });
  }, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("alpha"), py::arg("beta"),
     py::arg("trans_a"), py::arg("trans_b"),
     "out = alpha * op(a) @ op(b) + beta * out (out is not read when beta == 0).");
}

// Geometry from the input and output shapes; the output size must be what the window implies.
PoolGeometry pool_geometry(const py::array& x, const py::array& y, int64_t kh, int64_t kw,
                           int64_t sh, int64_t sw, int64_t pt, int64_t pl) {
  if (x.ndim() != 4 || y.ndim() != 4 || x.shape(0) != y.shape(0) || x.shape(1) != y.shape(1))
    throw py::value_error("pooling: x and y must be (N, C, H, W) with equal N and C");
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || pt < 0 || pl < 0 || 2 * pt > kh || 2 * pl > kw)
    throw py::value_error("pooling: invalid kernel, stride or padding");
  PoolGeometry g{x.shape(0) * x.shape(1), x.shape(2), x.shape(3), y.shape(2), y.shape(3),
                 kh, kw, sh, sw, pt, pl};
  if (g.h * g.w > INT32_MAX)  // max pooling tracks float32 argmax in int32 lanes
    throw py::value_error("pooling: an input plane of more than 2^31 cells is not supported");
  // Windows must start inside the padded input: the last one begins at (ho-1)*sh - pt.
  if (g.ho > 0 && ((g.ho - 1) * sh - pt >= g.h || (g.wo - 1) * sw - pl >= g.w))
    throw py::value_error("pooling: output larger than the input and padding allow");
  return g;
}

void bind_pooling(py::module_& m) {
  m.def("max_pool2d_forward", [](const py::array& x, py::array& y, py::array& argmax,
                                 int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                                 int64_t pl) {
    require_io(x, y, "x", "y");
    require_contiguous(argmax, "argmax");
    require_writeable(argmax, "argmax");
    if (!has_dtype<int64_t>(argmax) || argmax.size() != y.size())
      throw py::type_error("argmax must be int64 with as many elements as y");
    const PoolGeometry g = pool_geometry(x, y, kh, kw, sh, sw, pt, pl);
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      T* yp = mptr<T>(y);
      int64_t* ap = mptr<int64_t>(argmax);
      py::gil_scoped_release nogil;
      max_pool2d_forward(g, xp, yp, ap);
    });
  });
  m.def("max_pool2d_backward", [](const py::array& dy, const py::array& argmax, py::array& dx) {
    require_io(dy, dx, "dy", "dx");
    require_contiguous(argmax, "argmax");
    if (!has_dtype<int64_t>(argmax) || argmax.size() != dy.size())
      throw py::type_error("argmax must be int64 with as many elements as dy");
    if (dy.ndim() != 4 || dx.ndim() != 4 || dy.shape(0) != dx.shape(0) || dy.shape(1) != dx.shape(1))
      throw py::value_error("max_pool2d_backward: dy and dx must be (N, C, ., .) alike");
    PoolGeometry g{dx.shape(0) * dx.shape(1), dx.shape(2), dx.shape(3), dy.shape(2), dy.shape(3),
                   1, 1, 1, 1, 0, 0};
    // An index outside the plane would write out of bounds: check, do not trust.
    const int64_t* ap = cptr<int64_t>(argmax);
    const int64_t plane = g.h * g.w;
    for (int64_t i = 0; i < argmax.size(); ++i)
      if (ap[i] < 0 || ap[i] >= plane) throw py::value_error("argmax holds an index outside the input plane");
    dispatch_float(dy, "dy", [&](auto zero) {
      using T = decltype(zero);
      const T* dp = cptr<T>(dy);
      T* xp = mptr<T>(dx);
      py::gil_scoped_release nogil;
      max_pool2d_backward(g, dp, ap, xp);
    });
  });
  m.def("avg_pool2d_forward", [](const py::array& x, py::array& y, int64_t kh, int64_t kw,
                                 int64_t sh, int64_t sw, int64_t pt, int64_t pl, bool include_pad) {
    require_io(x, y, "x", "y");
    const PoolGeometry g = pool_geometry(x, y, kh, kw, sh, sw, pt, pl);
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      T* yp = mptr<T>(y);
      py::gil_scoped_release nogil;
      avg_pool2d_forward(g, include_pad, xp, yp);
    });
  });
  m.def("avg_pool2d_backward", [](const py::array& dy, py::array& dx, int64_t kh, int64_t kw,
                                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, bool include_pad) {
    require_io(dy, dx, "dy", "dx");
    const PoolGeometry g = pool_geometry(dx, dy, kh, kw, sh, sw, pt, pl);
    dispatch_float(dy, "dy", [&](auto zero) {
      using T = decltype(zero);
      const T* dp = cptr<T>(dy);
      T* xp = mptr<T>(dx);
      py::gil_scoped_release nogil;
      avg_pool2d_backward(g, include_pad, dp, xp);
    });
  });
}

void bind_softmax(py::module_& m) {
  auto rows = [](const py::array& x, const py::array& y) {
    require_contiguous(x, "x");
    require_contiguous(y, "out");
    require_writeable(y, "out");
    require_same(x, y, "x", "out");
    if (x.ndim() != 2) throw py::value_error("x must be 2-D (N, C)");
  };
  m.def("softmax", [rows](const py::array& x, py::array& y) {
    rows(x, y);
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      T* yp = mptr<T>(y);
      py::gil_scoped_release nogil;
      softmax(xp, yp, x.shape(0), x.shape(1));
    });
  });
  m.def("log_softmax", [rows](const py::array& x, py::array& y) {
    rows(x, y);
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      T* yp = mptr<T>(y);
      py::gil_scoped_release nogil;
      log_softmax(xp, yp, x.shape(0), x.shape(1));
    });
  });
  m.def("softmax_cross_entropy", [rows](const py::array& x, const py::array& labels,
                                        py::array& dx) {
    rows(x, dx);
    require_contiguous(labels, "labels");
    if (!has_dtype<int64_t>(labels) || labels.ndim() != 1 || labels.shape(0) != x.shape(0))
      throw py::type_error("labels must be int64 of shape (N,)");
    if (x.shape(0) < 1 || x.shape(1) < 1) throw py::value_error("x must be at least 1 x 1");
    const int64_t* lp = cptr<int64_t>(labels);
    for (int64_t i = 0; i < labels.shape(0); ++i)
      if (lp[i] < 0 || lp[i] >= x.shape(1)) throw py::value_error("labels out of range [0, C)");
    double loss = 0;
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      T* dp = mptr<T>(dx);
      py::gil_scoped_release nogil;
      loss = double(softmax_cross_entropy(xp, lp, dp, x.shape(0), x.shape(1)));
    });
    return loss;
  });
}

struct PooledBlock {
  void* data;
  size_t capacity;
};

void bind_pool(py::module_& m) {
  // A 1-D uint8 array over a pooled block; when NumPy frees it the block returns to the pool.
  m.def("pool_empty", [](size_t nbytes) {
    auto* block = new PooledBlock{nullptr, 0};
    try {
      block->data = pool_alloc(nbytes, block->capacity);
    } catch (...) {
      delete block;
      throw;
    }
    py::capsule owner(block, [](void* p) {
      auto* b = static_cast<PooledBlock*>(p);
      pool_free(b->data, b->capacity);
      delete b;
    });
    return py::array(py::dtype::of<uint8_t>(), {static_cast<py::ssize_t>(nbytes)}, {1},
                     static_cast<uint8_t*>(block->data), owner);
  }, py::arg("nbytes"), "Uninitialised bytes from the host pool (64-byte aligned).");
  m.def("pool_cached", &pool_cached, "Bytes held by the host pool for reuse.");
  m.def("pool_limit", &pool_limit);
  m.def("set_pool_limit", &set_pool_limit, py::arg("bytes"),
        "Bound the bytes the host pool keeps; 0 empties it and stops caching.");
}

// (N, C, inner) view of an array with at least two axes.
void channel_view(const py::array& a, int64_t& n, int64_t& c, int64_t& inner) {
  if (a.ndim() < 2) throw py::value_error("expected an array of shape (N, C, ...)");
  n = a.shape(0);
  c = a.shape(1);
  inner = 1;
  for (py::ssize_t i = 2; i < a.ndim(); ++i) inner *= a.shape(i);
}

void bind_bias(py::module_& m) {
  m.def("bias_add", [](const py::array& x, const py::array& b, py::array& out) {
    require_contiguous(x, "x");
    require_contiguous(b, "b");
    require_contiguous(out, "out");
    require_writeable(out, "out");
    require_same(x, out, "x", "out");
    int64_t n, c, inner;
    channel_view(x, n, c, inner);
    if (!b.dtype().is(x.dtype()) || b.ndim() != 1 || b.shape(0) != c)
      throw py::value_error("b must be (C,) with the dtype of x");
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      const T* bp = cptr<T>(b);
      T* yp = mptr<T>(out);
      py::gil_scoped_release nogil;
      bias_add(xp, bp, yp, n, c, inner);
    });
  }, py::arg("x"), py::arg("b"), py::arg("out"));
  m.def("bias_add_backward", [](const py::array& dy, py::array& db) {
    require_contiguous(dy, "dy");
    require_contiguous(db, "db");
    require_writeable(db, "db");
    int64_t n, c, inner;
    channel_view(dy, n, c, inner);
    if (!db.dtype().is(dy.dtype()) || db.ndim() != 1 || db.shape(0) != c)
      throw py::value_error("db must be (C,) with the dtype of dy");
    dispatch_float(dy, "dy", [&](auto zero) {
      using T = decltype(zero);
      const T* dp = cptr<T>(dy);
      T* bp = mptr<T>(db);
      py::gil_scoped_release nogil;
      bias_add_backward(dp, bp, n, c, inner);
    });
  }, py::arg("dy"), py::arg("db"));
}

// Shapes x (N, C, H, W), w (K, C, R, S), y (N, K, Ho, Wo) and the geometry, cross-checked.
ConvGeometry conv_geometry(const py::array& x, const py::array& w, const py::array& y,
                           int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t dh, int64_t dw) {
  if (x.ndim() != 4 || w.ndim() != 4 || y.ndim() != 4)
    throw py::value_error("conv2d: x, w and y must be 4-D");
  if (w.shape(1) != x.shape(1) || y.shape(0) != x.shape(0) || y.shape(1) != w.shape(0))
    throw py::value_error("conv2d: shapes of x (N, C, H, W), w (K, C, R, S), y (N, K, Ho, Wo) disagree");
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0)
    throw py::value_error("conv2d: invalid stride, dilation or padding");
  ConvGeometry g{x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(2),
                 w.shape(3), y.shape(2), y.shape(3), sh, sw, pt, pl, dh, dw};
  // No bound on ho, wo is needed for memory safety: taps outside the input read as zero.
  return g;
}

// A float64 (C,) array: batch-norm statistics and per-channel factors stay in double.
const double* channel_doubles(const py::array& a, int64_t c, const char* name) {
  require_contiguous(a, name);
  if (!has_dtype<double>(a) || a.ndim() != 1 || a.shape(0) != c)
    throw py::type_error(std::string(name) + " must be a float64 array of shape (C,)");
  return cptr<double>(a);
}

void bind_batch_norm(py::module_& m) {
  m.def("batch_norm_stats", [](const py::array& x, py::array& mean, py::array& var) {
    require_contiguous(x, "x");
    int64_t n, c, inner;
    channel_view(x, n, c, inner);
    channel_doubles(mean, c, "mean");
    channel_doubles(var, c, "var");
    require_writeable(mean, "mean");
    require_writeable(var, "var");
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      double* mp = mptr<double>(mean);
      double* vp = mptr<double>(var);
      py::gil_scoped_release nogil;
      batch_norm_stats(xp, n, c, inner, mp, vp);
    });
  }, py::arg("x"), py::arg("mean"), py::arg("var"),
     "Per-channel mean and biased variance of x (N, C, ...) into float64 (C,) arrays.");
  m.def("channel_affine", [](const py::array& x, const py::array& center, const py::array& scale,
                             const py::array& shift, py::array& out) {
    require_contiguous(x, "x");
    require_contiguous(out, "out");
    require_writeable(out, "out");
    require_same(x, out, "x", "out");
    int64_t n, c, inner;
    channel_view(x, n, c, inner);
    const double* ce = channel_doubles(center, c, "center");
    const double* sc = channel_doubles(scale, c, "scale");
    const double* sh = channel_doubles(shift, c, "shift");
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      T* yp = mptr<T>(out);
      py::gil_scoped_release nogil;
      channel_affine(xp, ce, sc, sh, yp, n, c, inner);
    });
  }, py::arg("x"), py::arg("center"), py::arg("scale"), py::arg("shift"), py::arg("out"),
     "out = (x - center[c]) * scale[c] + shift[c] over the channel axis of x (N, C, ...).");
  // gamma, dx, dgamma, dbeta may be None (no weight; not wanted).
  m.def("batch_norm_backward", [](const py::array& dy, const py::array& x, const py::array& mean,
                                  const py::array& inv_std, const py::object& gamma_in,
                                  bool batch, const py::object& dx_out,
                                  const py::object& dgamma_out, const py::object& dbeta_out) {
    require_contiguous(dy, "dy");
    require_contiguous(x, "x");
    require_same(x, dy, "x", "dy");
    int64_t n, c, inner;
    channel_view(x, n, c, inner);
    const double* mp = channel_doubles(mean, c, "mean");
    const double* ip = channel_doubles(inv_std, c, "inv_std");
    py::array gamma;
    if (!gamma_in.is_none()) {
      gamma = gamma_in.cast<py::array>();
      require_contiguous(gamma, "gamma");
      if (!gamma.dtype().is(x.dtype()) || gamma.size() != c)
        throw py::value_error("gamma must be (C,) with the dtype of x");
    }
    py::array dx = optional_output(dx_out, "dx", x, x.size(), "x's number of");
    py::array dgamma = optional_output(dgamma_out, "dgamma", x, c, "C");
    py::array dbeta = optional_output(dbeta_out, "dbeta", x, c, "C");
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* gp = cptr<T>(dy);
      const T* xp = cptr<T>(x);
      const T* wp = gamma_in.is_none() ? nullptr : cptr<T>(gamma);
      T* dxp = dx_out.is_none() ? nullptr : mptr<T>(dx);
      T* dgp = dgamma_out.is_none() ? nullptr : mptr<T>(dgamma);
      T* dbp = dbeta_out.is_none() ? nullptr : mptr<T>(dbeta);
      py::gil_scoped_release nogil;
      batch_norm_backward(gp, xp, mp, ip, wp, batch, dxp, dgp, dbp, n, c, inner);
    });
  }, py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("inv_std"), py::arg("gamma"),
     py::arg("batch"), py::arg("dx"), py::arg("dgamma"), py::arg("dbeta"));
}

void bind_conv2d(py::module_& m) {
  m.def("conv2d_forward", [](const py::array& x, const py::array& w, const py::object& b,
                             py::array& y, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                             int64_t dh, int64_t dw, const std::string& algorithm) {
    const ConvAlgorithm chosen = algorithm == "auto" ? ConvAlgorithm::automatic
                                 : algorithm == "im2col" ? ConvAlgorithm::im2col
                                 : algorithm == "direct" ? ConvAlgorithm::direct
                                 : algorithm == "rows" ? ConvAlgorithm::rows
                                 : algorithm == "window" ? ConvAlgorithm::window
                                 : algorithm == "images" ? ConvAlgorithm::images
                                 : algorithm == "taps" ? ConvAlgorithm::taps
                                 : algorithm == "winograd" ? ConvAlgorithm::winograd
                                 : algorithm == "winograd4" ? ConvAlgorithm::winograd4
                                 : throw py::value_error("algorithm must be 'auto', 'im2col', "
                                                         "'direct', 'rows', 'window', 'images', "
                                                         "'taps', 'winograd' or 'winograd4', got '" +
                                                         algorithm + "'");
    require_contiguous(x, "x");
    require_contiguous(w, "w");
    require_contiguous(y, "y");
    require_writeable(y, "y");
    if (!x.dtype().is(w.dtype()) || !x.dtype().is(y.dtype()))
      throw py::type_error("x, w and y must share one dtype");
    const ConvGeometry g = conv_geometry(x, w, y, sh, sw, pt, pl, dh, dw);
    py::array bias;
    if (!b.is_none()) {
      bias = b.cast<py::array>();
      require_contiguous(bias, "b");
      if (!bias.dtype().is(x.dtype()) || bias.ndim() != 1 || bias.shape(0) != g.k)
        throw py::value_error("b must be (K,) with the dtype of x");
    }
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* xp = cptr<T>(x);
      const T* wp = cptr<T>(w);
      const T* bp = b.is_none() ? nullptr : cptr<T>(bias);
      T* yp = mptr<T>(y);
      if (chosen == ConvAlgorithm::rows && (sh != 1 || sw != 1))
        throw py::value_error("algorithm 'rows' needs stride 1");
      if (chosen == ConvAlgorithm::window && !window_applies(g, sizeof(T)))
        throw py::value_error("algorithm 'window' needs stride and dilation 1 along rows, a 3- or "
                              "5-wide kernel and output channels filling one vector (more than " +
                              std::to_string(lanes_for(sizeof(T)) / 2) + ", at most " +
                              std::to_string(lanes_for(sizeof(T))) + ")");
      if (chosen == ConvAlgorithm::taps && !taps_applies(g))
        throw py::value_error("algorithm 'taps' needs stride 1 along rows");
      if (chosen == ConvAlgorithm::images && !images_applies(g))
        throw py::value_error("algorithm 'images' needs stride and dilation 1 along rows and a "
                              "3- or 5-wide kernel");
      if ((chosen == ConvAlgorithm::winograd || chosen == ConvAlgorithm::winograd4) &&
          !winograd_applies(g))
        throw py::value_error("algorithm '" + algorithm +
                              "' needs a 3x3 kernel, stride 1 and dilation 1");
      py::gil_scoped_release nogil;
      conv2d_forward_with(chosen, g, xp, wp, bp, yp);
    });
  }, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("y"), py::arg("sh"), py::arg("sw"),
     py::arg("pt"), py::arg("pl"), py::arg("dh"), py::arg("dw"), py::arg("algorithm") = "auto");
  m.def("conv2d_plan", [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape,
                          int64_t ho, int64_t wo, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                          int64_t dh, int64_t dw, const py::object& dtype) {
    const size_t elem = py::dtype::from_args(dtype).itemsize();
    if (elem != 4 && elem != 8)
      throw py::type_error("conv2d_plan: dtype must be float32 or float64");
    if (x_shape.size() != 4 || w_shape.size() != 4 || w_shape[1] != x_shape[1])
      throw py::value_error("conv2d_plan: x_shape (N, C, H, W) and w_shape (K, C, R, S) disagree");
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || ho < 0 || wo < 0)
      throw py::value_error("conv2d_plan: invalid stride, dilation, padding or output size");
    const ConvGeometry g{x_shape[0], x_shape[1], x_shape[2], x_shape[3], w_shape[0], w_shape[2],
                         w_shape[3], ho, wo, sh, sw, pt, pl, dh, dw};
    py::dict plan;
    plan["forward"] = algorithm_name(choose_algorithm(g, elem));
    plan["dx"] = algorithm_name(dx_algorithm(g, elem));
    plan["dw"] = algorithm_name(dw_algorithm(g, elem));
    return plan;
  }, py::arg("x_shape"), py::arg("w_shape"), py::arg("ho"), py::arg("wo"), py::arg("sh"),
     py::arg("sw"), py::arg("pt"), py::arg("pl"), py::arg("dh"), py::arg("dw"),
     py::arg("dtype") = py::str("float32"),
     "The algorithms conv2d_forward (algorithm='auto') and conv2d_backward pick for a layer\n"
     "of the given dtype: {'forward': ..., 'dx': ..., 'dw': ...}.");
  // dx may be None (a layer whose input needs no gradient), dw and db too (a transposed
  // convolution's forward pass is this dx alone).
  m.def("conv2d_backward", [](const py::array& dy, const py::array& x, const py::array& w,
                              const py::object& dx_out, const py::object& dw_out,
                              const py::object& db_out, int64_t sh, int64_t sw, int64_t pt,
                              int64_t pl, int64_t dh, int64_t dw) {
    for (const py::array* a : std::initializer_list<const py::array*>{&dy, &x, &w})
      require_contiguous(*a, "array");
    for (const py::array* a : std::initializer_list<const py::array*>{&x, &w})
      if (!a->dtype().is(dy.dtype())) throw py::type_error("all arrays must share one dtype");
    const ConvGeometry g = conv_geometry(x, w, dy, sh, sw, pt, pl, dh, dw);
    py::array dx_arr = optional_output(dx_out, "dx", dy, x.size(), "x's number of");
    py::array dw_arr = optional_output(dw_out, "dw", dy, w.size(), "w's number of");
    py::array db_arr = optional_output(db_out, "db", dy, g.k, "K");
    dispatch_float(dy, "dy", [&](auto zero) {
      using T = decltype(zero);
      const T* dyp = cptr<T>(dy);
      const T* xp = cptr<T>(x);
      const T* wp = cptr<T>(w);
      T* dxp = dx_out.is_none() ? nullptr : mptr<T>(dx_arr);
      T* dwp = dw_out.is_none() ? nullptr : mptr<T>(dw_arr);
      T* dbp = db_out.is_none() ? nullptr : mptr<T>(db_arr);
      py::gil_scoped_release nogil;
      conv2d_backward(g, dyp, xp, wp, dxp, dwp, dbp);
    });
  });
}

// Typed pointer to an optional array (None -> null), checked against dtype T and size.
template <class T>
const T* optional_ptr(const py::object& o, int64_t size, const char* name) {
  if (o.is_none()) return nullptr;
  py::array a = o.cast<py::array>();
  require_contiguous(a, name);
  if (!has_dtype<T>(a) || a.size() != size)
    throw py::value_error(std::string(name) + " has the wrong dtype or size");
  return cptr<T>(a);  // the caller's array object keeps the data alive
}

void bind_lstm(py::module_& m) {
  m.def("lstm_forward", [](const py::array& x, const py::array& h0, const py::array& c0,
                           const py::array& w_ih, const py::array& w_hh, const py::object& b,
                           py::array& hs, py::array& cs, const py::object& gates_or_none) {
    // Without gates (inference), cs receives the last cell state alone: (N, H).
    if (x.ndim() != 3 || h0.ndim() != 2) throw py::value_error("x must be (T, N, I), h0 (N, H)");
    const LstmShape s{x.shape(0), x.shape(1), x.shape(2), h0.shape(1)};
    const bool keep = !gates_or_none.is_none();
    if (keep && !py::isinstance<py::array>(gates_or_none))
      throw py::type_error("lstm_forward: gates must be an array or None");
    py::array gates = keep ? gates_or_none.cast<py::array>() : py::array();
    std::vector<std::pair<const py::array*, int64_t>> sizes = {
        {&h0, s.n * s.h}, {&c0, s.n * s.h}, {&w_ih, 4 * s.h * s.i}, {&w_hh, 4 * s.h * s.h},
        {&hs, s.t * s.n * s.h}, {&cs, (keep ? s.t : 1) * s.n * s.h}};
    if (keep) sizes.push_back({&gates, s.t * s.n * 4 * s.h});
    require_contiguous(x, "x");
    for (const auto& [a, size] : sizes) {
      require_contiguous(*a, "array");
      if (!a->dtype().is(x.dtype()) || a->size() != size)
        throw py::value_error("lstm_forward: an array has the wrong dtype or size");
    }
    for (py::array* a : {&hs, &cs}) require_writeable(*a, "output");
    if (keep) require_writeable(gates, "gates");
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* bp = optional_ptr<T>(b, 4 * s.h, "b");
      const T *xp = cptr<T>(x), *hp = cptr<T>(h0), *cp = cptr<T>(c0), *wi = cptr<T>(w_ih),
              *wh = cptr<T>(w_hh);
      T *hsp = mptr<T>(hs), *csp = mptr<T>(cs), *gp = keep ? mptr<T>(gates) : nullptr;
      py::gil_scoped_release nogil;
      lstm_forward(s, xp, hp, cp, wi, wh, bp, hsp, csp, gp);
    });
  });
  m.def("lstm_backward", [](const py::object& dhs, const py::object& dh_last,
                            const py::object& dc_last, const py::array& x, const py::array& h0,
                            const py::array& c0, const py::array& w_ih, const py::array& w_hh,
                            const py::object& hs, const py::array& cs, const py::array& gates,
                            py::array& dx, py::array& dh0, py::array& dc0, py::array& dw_ih,
                            py::array& dw_hh, py::array& db) {
    if (x.ndim() != 3 || h0.ndim() != 2) throw py::value_error("x must be (T, N, I), h0 (N, H)");
    const LstmShape s{x.shape(0), x.shape(1), x.shape(2), h0.shape(1)};
    const std::initializer_list<std::pair<const py::array*, int64_t>> sizes = {
        {&x, s.t * s.n * s.i}, {&h0, s.n * s.h}, {&c0, s.n * s.h}, {&w_ih, 4 * s.h * s.i},
        {&w_hh, 4 * s.h * s.h}, {&cs, s.t * s.n * s.h},
        {&gates, s.t * s.n * 4 * s.h}, {&dx, s.t * s.n * s.i}, {&dh0, s.n * s.h},
        {&dc0, s.n * s.h}, {&dw_ih, 4 * s.h * s.i}, {&dw_hh, 4 * s.h * s.h}, {&db, 4 * s.h}};
    for (const auto& [a, size] : sizes) {
      require_contiguous(*a, "array");
      if (!a->dtype().is(x.dtype()) || a->size() != size)
        throw py::value_error("lstm_backward: an array has the wrong dtype or size");
    }
    for (py::array* a : {&dx, &dh0, &dc0, &dw_ih, &dw_hh, &db}) require_writeable(*a, "output");
    dispatch_float(x, "x", [&](auto zero) {
      using T = decltype(zero);
      const T* dhsp = optional_ptr<T>(dhs, s.t * s.n * s.h, "dhs");
      const T* dhl = optional_ptr<T>(dh_last, s.n * s.h, "dh_last");
      const T* dcl = optional_ptr<T>(dc_last, s.n * s.h, "dc_last");
      const T *xp = cptr<T>(x), *hp = cptr<T>(h0), *cp = cptr<T>(c0), *wi = cptr<T>(w_ih),
              *wh = cptr<T>(w_hh), *csp = cptr<T>(cs), *gp = cptr<T>(gates);
      // hs is read only for the steps before the last: one step (an LSTM cell) needs none.
      const T* hsp = optional_ptr<T>(hs, s.t * s.n * s.h, "hs");
      if (!hsp && s.t > 1) throw py::value_error("hs is required when T > 1");
      T *dxp = mptr<T>(dx), *dh0p = mptr<T>(dh0), *dc0p = mptr<T>(dc0), *dwi = mptr<T>(dw_ih),
        *dwh = mptr<T>(dw_hh), *dbp = mptr<T>(db);
      py::gil_scoped_release nogil;
      lstm_backward(s, dhsp, dhl, dcl, xp, hp, cp, wi, wh, hsp, csp, gp, dxp, dh0p, dc0p, dwi,
                    dwh, dbp);
    });
  });
}

void bind_runtime(py::module_& m) {
  m.def("best_isa", [] { return isa_name(best_isa()); },
        "Highest instruction set this CPU supports: 'avx512', 'avx2' or 'generic'.");
  m.def("active_isa", [] { return isa_name(active_isa()); },
        "Instruction set the kernels use now.");
  m.def("set_isa", [](const std::string& name) {
    try {
      set_active_isa(name);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }, py::arg("name"), "Force 'avx512', 'avx2' or 'generic' (must be supported by this CPU).");
  m.def("num_threads", &num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
    set_num_threads(n);
  }, py::arg("n"));
#ifdef METALNET_OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
#if defined(__clang__)
  m.attr("compiler") = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.attr("compiler") = "gcc " __VERSION__;
#else
  m.attr("compiler") = "unknown";
#endif
}

void bind_optim(py::module_& m) {
  m.def("sgd_update", [](py::array& param, const py::array& grad, const py::object& buf_in,
                         double lr, double momentum, double dampening, double weight_decay,
                         bool nesterov, bool first) {
    require_contiguous(param, "param");
    require_writeable(param, "param");
    require_contiguous(grad, "grad");
    require_same(param, grad, "param", "grad");
    py::array buf;
    if (!buf_in.is_none()) {
      buf = buf_in.cast<py::array>();
      require_contiguous(buf, "buf");
      require_writeable(buf, "buf");
      require_same(param, buf, "param", "buf");
    } else if (momentum != 0) {
      throw py::value_error("buf is needed when momentum != 0");
    }
    dispatch_float(param, "param", [&](auto zero) {
      using T = decltype(zero);
      T* pp = mptr<T>(param);
      const T* gp = cptr<T>(grad);
      T* bp = buf_in.is_none() ? nullptr : mptr<T>(buf);
      const int64_t n = param.size();
      py::gil_scoped_release nogil;
      sgd_update<T>(n, pp, gp, bp, T(lr), T(momentum), T(dampening), T(weight_decay), nesterov,
                    first);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("buf"), py::arg("lr"), py::arg("momentum"),
     py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("first"),
     "One SGD step in place on param (and the momentum buffer buf, None without momentum).");
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "metalnet C++ CPU kernels (SIMD + OpenMP)";
  bind_runtime(m);
  bind_activations(m);
  bind_gemm(m);
  bind_bias(m);
  bind_batch_norm(m);
  bind_conv2d(m);
  bind_lstm(m);
  bind_optim(m);
  bind_pool(m);
  bind_pooling(m);
  bind_softmax(m);
}
