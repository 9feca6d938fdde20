"""The ``cuda`` backend: CUDA kernels from ``metalnet._cuda`` on CuPy arrays.

Kernels receive device pointers and run on CuPy's current stream; outputs come from CuPy's
memory pool. A primitive without a CUDA kernel yet runs the ``cupy`` backend's version (still on
the GPU) and IMPLEMENTATIONS says "CuPy"; one neither has raises NotImplementedError: there is
no silent trip through the host.
"""
from __future__ import annotations

from .. import _args, _cuda
from ..reference import LSTMCache
from . import cupy as fallback
from ._gpu import (LSTMSequenceCache, conv_geometry, device_empty, import_cupy,
                   lstm_sequence_shape, stream_ptr)
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


# ------------------------------------------------------------------------------------ bias
def _inner(a):
    inner = 1
    for size in a.shape[2:]:
        inner *= size
    return inner


def bias_add(x, b):
    out = device_empty(cupy, x.shape, x.dtype)
    _cuda.bias_add(x.dtype.name, x.data.ptr, b.data.ptr, out.data.ptr, x.shape[0], x.shape[1],
                   _inner(x), stream_ptr(cupy))
    return out


def bias_add_backward(dy):
    """The channel sums are the conv bias gradient's reduction (cuda/conv2d.cu)."""
    db = device_empty(cupy, (dy.shape[1],), dy.dtype)
    _cuda.conv2d_backward_bias(dy.dtype.name, dy.data.ptr, db.data.ptr, dy.shape[0],
                               dy.shape[1], _inner(dy), stream_ptr(cupy))
    return db


# ----------------------------------------------------------------------------- convolution
# Implicit GEMM (cuda/conv2d.cu): no im2col matrix in global memory.
def _ptr(a):
    return 0 if a is None else a.data.ptr


def _conv_forward(x, w, b, stride, padding, dilation, relu):
    geometry, (ho, wo) = conv_geometry(x.shape, w.shape, stride, padding, dilation)
    y = device_empty(cupy, (x.shape[0], w.shape[0], ho, wo), x.dtype)
    _cuda.conv2d_forward(x.dtype.name, x.data.ptr, w.data.ptr, _ptr(b), y.data.ptr, geometry,
                         relu, stream_ptr(cupy))
    return y


def conv2d_forward(x, w, b=None, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1)):
    return _conv_forward(x, w, b, stride, padding, dilation, False)


def conv2d_bias_relu_forward(x, w, b=None, *, stride=(1, 1), padding=(0, 0, 0, 0),
                             dilation=(1, 1)):
    """relu(conv2d_forward(x, w, b)) in one pass: bias and ReLU in the GEMM's epilogue.

    Backend-level (not a primitive yet). Its backward is relu_backward(dy, y) (y > 0 exactly
    where the pre-activation is) followed by conv2d_backward.
    """
    return _conv_forward(x, w, b, stride, padding, dilation, True)


def conv2d_backward(dy, x, w, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                    need_dx=True, need_dw=True, need_db=True):
    geometry, _ = conv_geometry(x.shape, w.shape, stride, padding, dilation)
    stream = stream_ptr(cupy)
    dtype = x.dtype.name
    dx = dw = db = None
    if need_dx:
        dx = device_empty(cupy, x.shape, x.dtype)
        _cuda.conv2d_backward_data(dtype, dy.data.ptr, w.data.ptr, dx.data.ptr, geometry, stream)
    if need_dw:
        dw = device_empty(cupy, w.shape, x.dtype)
        _cuda.conv2d_backward_weight(dtype, dy.data.ptr, x.data.ptr, dw.data.ptr, geometry, stream)
    if need_dw and need_db:
        db = device_empty(cupy, (w.shape[0],), x.dtype)
        _cuda.conv2d_backward_bias(dtype, dy.data.ptr, db.data.ptr, dy.shape[0], dy.shape[1],
                                   dy.shape[2] * dy.shape[3], stream)
    return dx, dw, db


# ------------------------------------------------------------------------------------ LSTM
# One kernel for the gate math and state update of a step; the GEMMs are _cuda.gemm's. A cell
# step is the sequence path with T = 1.
def lstm_cell_forward(x, h, c, w_ih, w_hh, b):
    n, hidden = h.shape
    g4 = 4 * hidden
    h_next = device_empty(cupy, (n, hidden), x.dtype)
    c_next = device_empty(cupy, (n, hidden), x.dtype)
    gates = device_empty(cupy, (n, g4), x.dtype)
    xw = device_empty(cupy, (n, g4), x.dtype)  # scratch: x @ w_ih.T
    hw = device_empty(cupy, (n, g4), x.dtype)  # scratch: h @ w_hh.T
    _cuda.lstm_forward(x.dtype.name, x.data.ptr, h.data.ptr, c.data.ptr, w_ih.data.ptr,
                       w_hh.data.ptr, _ptr(b), h_next.data.ptr, c_next.data.ptr, gates.data.ptr,
                       xw.data.ptr, hw.data.ptr, [1, n, x.shape[1], hidden], stream_ptr(cupy))
    return h_next, c_next, LSTMCache(x, h, c, w_ih, w_hh, gates, c_next)


def _lstm_gradients(x_shape, n, hidden, dtype):
    """Freshly allocated (dx, dh0, dc0, dw_ih, dw_hh, db)."""
    return (device_empty(cupy, x_shape, dtype), device_empty(cupy, (n, hidden), dtype),
            device_empty(cupy, (n, hidden), dtype),
            device_empty(cupy, (4 * hidden, x_shape[-1]), dtype),
            device_empty(cupy, (4 * hidden, hidden), dtype), device_empty(cupy, (4 * hidden,), dtype))


def lstm_cell_backward(dh_next, dc_next, cache):
    x, h, c, w_ih, w_hh, gates, c_next = cache
    n, hidden = h.shape
    grads = _lstm_gradients(x.shape, n, hidden, x.dtype)
    dgates = device_empty(cupy, (n, 4 * hidden), x.dtype)  # scratch
    _cuda.lstm_backward(x.dtype.name, 0, _ptr(dh_next), _ptr(dc_next), x.data.ptr, h.data.ptr,
                        c.data.ptr, w_ih.data.ptr, w_hh.data.ptr, 0, c_next.data.ptr,
                        gates.data.ptr, *(g.data.ptr for g in grads), dgates.data.ptr, 0, 0, 0,
                        [1, n, x.shape[1], hidden], stream_ptr(cupy))
    return grads


def lstm_forward(x, h0, c0, w_ih, w_hh, b=None, *, keep_cache=True):
    """An LSTM over T steps: x (T, N, I) -> (hs (T, N, H), h_last, c_last, cache).

    Backend-level (proposed primitive): the input projection of all steps is one GEMM, then one
    GEMM and one gate kernel per step. keep_cache=False returns cache None (the kernel still
    writes every step's gates and cell state).
    """
    steps, n, inputs, hidden = lstm_sequence_shape(x, h0, c0, w_ih, w_hh, b)
    g4 = 4 * hidden
    hs = device_empty(cupy, (steps, n, hidden), x.dtype)
    cs = device_empty(cupy, (steps, n, hidden), x.dtype)
    gates = device_empty(cupy, (steps, n, g4), x.dtype)
    xw = device_empty(cupy, (steps * n, g4), x.dtype)  # scratch
    hw = device_empty(cupy, (n, g4), x.dtype)  # scratch
    _cuda.lstm_forward(x.dtype.name, x.data.ptr, h0.data.ptr, c0.data.ptr, w_ih.data.ptr,
                       w_hh.data.ptr, _ptr(b), hs.data.ptr, cs.data.ptr, gates.data.ptr,
                       xw.data.ptr, hw.data.ptr, [steps, n, inputs, hidden], stream_ptr(cupy))
    cache = LSTMSequenceCache(x, h0, c0, w_ih, w_hh, hs, cs, gates) if keep_cache else None
    return hs, hs[-1], cs[-1], cache


def lstm_backward(dhs, dh_last, dc_last, cache):
    """Gradients of lstm_forward: (dx, dh0, dc0, dw_ih, dw_hh, db). dhs (T, N, H) is the
    gradient of every step's h, dh_last / dc_last those of the final state; each may be None."""
    x, h0, c0, w_ih, w_hh, hs, cs, gates = cache
    steps, n, inputs = x.shape
    hidden = h0.shape[1]
    for name, a, shape in (("dhs", dhs, hs.shape), ("dh_last", dh_last, h0.shape),
                           ("dc_last", dc_last, h0.shape)):
        if a is not None and (tuple(a.shape) != tuple(shape) or a.dtype != x.dtype
                              or not a.flags.c_contiguous):
            raise ValueError(f"{name} must be a C-contiguous {x.dtype} array of shape "
                             f"{tuple(shape)}, got {a.dtype} {tuple(a.shape)}")
    grads = _lstm_gradients(x.shape, n, hidden, x.dtype)
    dgates = device_empty(cupy, (steps, n, 4 * hidden), x.dtype)  # scratch from here on
    many = steps > 1
    h_prev = device_empty(cupy, (steps, n, hidden), x.dtype) if many else None
    dh_carry = device_empty(cupy, (n, hidden), x.dtype) if many else None
    dc_carry = device_empty(cupy, (n, hidden), x.dtype) if many else None
    _cuda.lstm_backward(x.dtype.name, _ptr(dhs), _ptr(dh_last), _ptr(dc_last), x.data.ptr,
                        h0.data.ptr, c0.data.ptr, w_ih.data.ptr, w_hh.data.ptr, hs.data.ptr,
                        cs.data.ptr, gates.data.ptr, *(g.data.ptr for g in grads),
                        dgates.data.ptr, _ptr(h_prev), _ptr(dh_carry), _ptr(dc_carry),
                        [steps, n, inputs, hidden], stream_ptr(cupy))
    return grads


def conv2d_config(pass_, x_shape, w_shape, *, stride=1, padding=0, dilation=1, dtype="float32",
                  config=-1):
    """Name of the implicit-GEMM configuration a convolution pass runs (tests, benchmarks)."""
    geometry, _ = conv_geometry(x_shape, w_shape, stride, padding, dilation)
    return _cuda.conv2d_config(pass_, geometry, cupy.dtype(dtype).name, config)


_NATIVE = {name for name in PRIMITIVES if name in globals()}
IMPLEMENTATIONS = {
    name: "CUDA" if name in _NATIVE else fallback.IMPLEMENTATIONS[name] for name in PRIMITIVES
}
globals().update({name: getattr(fallback, name) for name in PRIMITIVES if name not in _NATIVE})
