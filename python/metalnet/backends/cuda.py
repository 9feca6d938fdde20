"""The ``cuda`` backend: CUDA kernels from ``metalnet._cuda`` on CuPy arrays.

Kernels receive device pointers and run on CuPy's current stream; outputs come from CuPy's
memory pool. A primitive without a CUDA kernel yet runs the ``cupy`` backend's version (still on
the GPU) and IMPLEMENTATIONS says "CuPy"; one neither has raises NotImplementedError: there is
no silent trip through the host.
"""
from __future__ import annotations

from .. import _args, _cuda
from . import cupy as fallback
from ._gpu import device_empty, import_cupy, stream_ptr
from ._registry import PRIMITIVES

cupy = import_cupy()
_count, _message = _cuda.device_status()
if _count < 1:
    raise ImportError(f"the CUDA module cannot use a device ({_message})")

NAME = "cuda"
DEVICE = "cuda"


# ------------------------------------------------------------------------------------ gemm
def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    m, k = a.shape[::-1] if trans_a else a.shape
    n = b.shape[0] if trans_b else b.shape[1]
    out = device_empty(cupy, (m, n), a.dtype)
    use_c = c is not None and beta != 0.0  # BLAS: beta == 0 means c is not read
    _cuda.gemm(a.dtype.name, a.data.ptr, b.data.ptr, c.data.ptr if use_c else 0, out.data.ptr,
               m, n, k, float(alpha), float(beta) if use_c else 0.0, bool(trans_a),
               bool(trans_b), stream_ptr(cupy))
    return out


# --------------------------------------------------------------------------------- pooling
def _pool_geometry(x_shape, kernel_size, stride, padding):
    """(geometry list for _cuda, (Ho, Wo)); arguments arrive normalised from ops."""
    n, c, h, w = (int(v) for v in x_shape)
    kernel = _args.pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _args.pair(stride, "stride")
    top, bottom, left, right = _args.padding4(padding)
    ho, wo = _args.pool_out_hw(h, w, kernel, stride, (top, bottom, left, right))
    return [n * c, h, w, ho, wo, kernel[0], kernel[1], stride[0], stride[1], top, left], (ho, wo)


def max_pool2d_forward(x, kernel_size, *, stride=None, padding=(0, 0, 0, 0)):
    geometry, hw = _pool_geometry(x.shape, kernel_size, stride, padding)
    y = device_empty(cupy, x.shape[:2] + hw, x.dtype)
    argmax = device_empty(cupy, x.shape[:2] + hw, cupy.int64)
    _cuda.max_pool2d_forward(x.dtype.name, x.data.ptr, y.data.ptr, argmax.data.ptr, geometry,
                             stream_ptr(cupy))
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape):
    n, c, h, w = (int(v) for v in x_shape)
    dx = device_empty(cupy, (n, c, h, w), dy.dtype)
    _cuda.max_pool2d_backward(dy.dtype.name, dy.data.ptr, argmax.data.ptr, dx.data.ptr, n * c,
                              h * w, dy.shape[2] * dy.shape[3], stream_ptr(cupy))
    return dx


def avg_pool2d_forward(x, kernel_size, *, stride=None, padding=(0, 0, 0, 0),
                       count_include_pad=True):
    geometry, hw = _pool_geometry(x.shape, kernel_size, stride, padding)
    y = device_empty(cupy, x.shape[:2] + hw, x.dtype)
    _cuda.avg_pool2d_forward(x.dtype.name, x.data.ptr, y.data.ptr, geometry,
                             bool(count_include_pad), stream_ptr(cupy))
    return y


def avg_pool2d_backward(dy, x_shape, kernel_size, *, stride=None, padding=(0, 0, 0, 0),
                        count_include_pad=True):
    geometry, _ = _pool_geometry(x_shape, kernel_size, stride, padding)
    dx = device_empty(cupy, tuple(int(v) for v in x_shape), dy.dtype)
    _cuda.avg_pool2d_backward(dy.dtype.name, dy.data.ptr, dx.data.ptr, geometry,
                              bool(count_include_pad), stream_ptr(cupy))
    return dx


# ------------------------------------------------------------------------- softmax, loss
def _softmax(x, log):
    out = device_empty(cupy, x.shape, x.dtype)
    _cuda.softmax(x.dtype.name, x.data.ptr, out.data.ptr, x.shape[0], x.shape[1], log,
                  stream_ptr(cupy))
    return out


def softmax(x):
    return _softmax(x, False)


def log_softmax(x):
    return _softmax(x, True)


def softmax_cross_entropy(logits, labels):
    n, c = logits.shape
    dlogits = device_empty(cupy, (n, c), logits.dtype)
    loss = device_empty(cupy, (), logits.dtype)
    row_loss = device_empty(cupy, (n,), cupy.float64)  # scratch: per-row losses
    _cuda.softmax_cross_entropy(logits.dtype.name, logits.data.ptr, labels.data.ptr,
                                dlogits.data.ptr, row_loss.data.ptr, loss.data.ptr, n, c,
                                stream_ptr(cupy))
    return loss, dlogits


# ----------------------------------------------------------------------------- activations
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
