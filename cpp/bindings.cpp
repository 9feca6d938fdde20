// metalnet._cpu: the pybind11 surface of the C++ kernels.
//
// Outputs are allocated in Python (metalnet._memory) and passed in, so the tests can poison
// them. Every kernel runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "metalnet/activations.h"
#include "metalnet/gemm.h"
#include "metalnet/host_pool.h"
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

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "metalnet C++ CPU kernels (SIMD + OpenMP)";
  bind_runtime(m);
  bind_activations(m);
  bind_gemm(m);
  bind_pool(m);
}
