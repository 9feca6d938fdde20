// Checks at the binding boundary. `metalnet.ops` validates user input first with friendly
// messages; these checks are the last line of defence so that a wrong call from Python can
// never crash the interpreter or write through a copy.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <type_traits>

namespace metalnet {
namespace py = pybind11;

inline void require_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous");
}

inline void require_writeable(const py::array& a, const char* name) {
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
}

template <class T>
inline bool has_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

inline void require_same(const py::array& a, const py::array& b, const char* na, const char* nb) {
  if (!a.dtype().is(b.dtype()))
    throw py::type_error(std::string(nb) + " must have the dtype of " + na);
  if (a.size() != b.size())
    throw py::value_error(std::string(nb) + " must have as many elements as " + na);
}

// The usual pair: a C-contiguous input and a writeable C-contiguous output of its dtype.
inline void require_io(const py::array& in, py::array& out, const char* in_name,
                       const char* out_name) {
  require_contiguous(in, in_name);
  require_contiguous(out, out_name);
  require_writeable(out, out_name);
  if (!in.dtype().is(out.dtype()))
    throw py::type_error(std::string(out_name) + " must have the dtype of " + in_name);
}

// An output the caller may leave out: None gives an empty array (the kernel is then passed a
// null pointer); otherwise a writeable C-contiguous array of like's dtype with `size` elements.
inline py::array optional_output(const py::object& out, const char* name, const py::array& like,
                                 py::ssize_t size, const char* expected) {
  if (out.is_none()) return py::array();
  py::array a = out.cast<py::array>();
  require_contiguous(a, name);
  require_writeable(a, name);
  if (!a.dtype().is(like.dtype()))
    throw py::type_error(std::string(name) + " must share the inputs' dtype");
  if (a.size() != size)
    throw py::value_error(std::string(name) + " must have " + expected + " elements");
  return a;
}

template <class T>
inline const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <class T>
inline T* mptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

// Calls fn(T{}) with T = float or double, the dtype of `a`.
template <class Fn>
inline void dispatch_float(const py::array& a, const char* name, Fn&& fn) {
  if (has_dtype<float>(a)) return fn(float{});
  if (has_dtype<double>(a)) return fn(double{});
  throw py::type_error(std::string(name) + " must be float32 or float64");
}

}  // namespace metalnet
