"""The ``cuda`` backend: CUDA kernels from ``metalnet._cuda`` on CuPy arrays.

Kernels receive device pointers and run on CuPy's current stream; outputs come from CuPy's
memory pool. A primitive without a CUDA kernel yet runs the ``cupy`` backend's version (still on
the GPU) and IMPLEMENTATIONS says "CuPy"; one neither has raises NotImplementedError: there is
no silent trip through the host.
"""
from __future__ import annotations

from .. import _cuda
from . import cupy as fallback
from ._gpu import device_empty, import_cupy, stream_ptr
from ._registry import PRIMITIVES

cupy = import_cupy()
_count, _message = _cuda.device_status()
if _count < 1:
    raise ImportError(f"the CUDA module cannot use a device ({_message})")

NAME = "cuda"
DEVICE = "cuda"


def _forward(act, x, slope=0.0):
    out = device_empty(cupy, x.shape, x.dtype)
    _cuda.activation_forward(act, x.dtype.name, x.data.ptr, out.data.ptr, x.size, float(slope),
                             stream_ptr(cupy))
    return out


def _backward(act, dy, saved, slope=0.0):
    out = device_empty(cupy, dy.shape, dy.dtype)
    _cuda.activation_backward(act, dy.dtype.name, dy.data.ptr, saved.data.ptr, out.data.ptr,
                              dy.size, float(slope), stream_ptr(cupy))
    return out


def relu_forward(x):
    return _forward("relu", x)


def relu_backward(dy, x):
    return _backward("relu", dy, x)


def leaky_relu_forward(x, negative_slope=0.01):
    return _forward("leaky_relu", x, negative_slope)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    return _backward("leaky_relu", dy, x, negative_slope)


def sigmoid_forward(x):
    return _forward("sigmoid", x)


def sigmoid_backward(dy, y):
    return _backward("sigmoid", dy, y)


def tanh_forward(x):
    return _forward("tanh", x)


def tanh_backward(dy, y):
    return _backward("tanh", dy, y)


_NATIVE = {name for name in PRIMITIVES if name in globals()}
IMPLEMENTATIONS = {
    name: "CUDA" if name in _NATIVE else fallback.IMPLEMENTATIONS[name] for name in PRIMITIVES
}
globals().update({name: getattr(fallback, name) for name in PRIMITIVES if name not in _NATIVE})
