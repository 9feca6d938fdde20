"""The public functional API: every primitive, validated once, run on the right backend.

NumPy arrays run on the ``cpu`` backend (C++; the ``numpy`` reference when the extension is
missing), CuPy arrays on ``cuda`` (``cupy`` when the CUDA module is missing). Inside
``with metalnet.backend(name):`` the named backend runs instead. Signatures and conventions are
those of ``metalnet.reference``, whose docstrings give the math.

Bad input raises TypeError (wrong kind or dtype, mixed devices) or ValueError (wrong shape,
non-contiguous, impossible geometry) naming the argument and what was expected.
"""
from __future__ import annotations

import numpy as np

from . import _args
from . import _checks as check
from .backends import _registry
from .reference import LSTMCache, LSTMSequenceCache

__all__ = list(_registry.PRIMITIVES) + list(_registry.FUSED) + ["has_fused"]


def _backend(device: str):
    return _registry.for_device(device)


# ------------------------------------------------------------------------------------ gemm
def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """alpha * op(a) @ op(b) + beta * c, op(m) = m.T when trans_* (c is read, not written)."""
    check.array(a, "a", ndim=2)
    check.array(b, "b", ndim=2)
    alpha, beta = check.real(alpha, "alpha"), check.real(beta, "beta")
    trans_a, trans_b = check.flag(trans_a, "trans_a"), check.flag(trans_b, "trans_b")
    m, k = a.shape[::-1] if trans_a else a.shape
    kb, n = b.shape[::-1] if trans_b else b.shape
    if k != kb:
        raise ValueError(
            f"inner dimensions differ: op(a) is {m}x{k} but op(b) is {kb}x{n} "
            f"(trans_a={trans_a}, trans_b={trans_b})"
        )
    if c is not None:
        check.array(c, "c", ndim=2)
        check.shape(c, "c", (m, n), "rows of op(a) x columns of op(b)")
    device = check.same_dtype_and_device(a=a, b=b, c=c)
    return _backend(device).gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)


# ------------------------------------------------------------------------------- bias
def bias_add(x, b):
    """x + b along the channel axis: x (N, C, ...), b (C,)."""
    check.array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (N, C, ...), got shape {tuple(x.shape)}")
    check.array(b, "b", ndim=1)
    check.shape(b, "b", (x.shape[1],), "one bias per channel of x")
    device = check.same_dtype_and_device(x=x, b=b)
    return _backend(device).bias_add(x, b)


def bias_add_backward(dy):
    """db (C,): dy (N, C, ...) summed over every axis but the channel axis."""
    check.array(dy, "dy")
    if dy.ndim < 2:
        raise ValueError(f"dy must have at least 2 dimensions (N, C, ...), got shape {tuple(dy.shape)}")
    return _backend(check.device_of(dy)).bias_add_backward(dy)


# ------------------------------------------------------------------------- convolution
def _conv_geometry(x_shape, kernel, stride, padding, dilation, kernel_name):
    """Normalised (kernel, stride, padding, dilation) and the output (H, W); checks they fit."""
    stride = _args.pair(stride, "stride")
    dilation = _args.pair(dilation, "dilation")
    padding = _args.padding4(padding, "padding")
    h_out, w_out = _args.conv_out_hw(x_shape[2], x_shape[3], kernel, stride, padding, dilation)
    if h_out < 1 or w_out < 1:
        pt, pb, pl, pr = padding
        span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        raise ValueError(
            f"{kernel_name} {tuple(kernel)} (dilated extent {span}) is larger than the padded "
            f"input ({x_shape[2] + pt + pb}, {x_shape[3] + pl + pr})"
        )
    return kernel, stride, padding, dilation, (h_out, w_out)


def _conv_args(x, w, stride, padding, dilation):
    check.array(x, "x", ndim=4)
    check.array(w, "w", ndim=4)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w must be (K, C, R, S) with C = {x.shape[1]} input channels of x, "
                         f"got shape {tuple(w.shape)}")
    return _conv_geometry(x.shape, tuple(w.shape[2:]), stride, padding, dilation, "kernel")


def _conv_forward_args(x, w, b, stride, padding, dilation):
    """conv2d_forward's checks: the normalised geometry (a dict) and the device."""
    _, stride, padding, dilation, _ = _conv_args(x, w, stride, padding, dilation)
    if b is not None:
        check.array(b, "b", ndim=1)
        check.shape(b, "b", (w.shape[0],), "one bias per output channel")
    device = check.same_dtype_and_device(x=x, w=w, b=b)
    return dict(stride=stride, padding=padding, dilation=dilation), device


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """2-D cross-correlation of x (N, C, H, W) with w (K, C, R, S), plus bias b (K,)."""
    geometry, device = _conv_forward_args(x, w, b, stride, padding, dilation)
    return _backend(device).conv2d_forward(x, w, b, **geometry)


def conv2d_backward(dy, x, w, *, stride=1, padding=0, dilation=1, need_dx=True,
                    need_dw=True, need_db=True):
    """(dx, dw, db) of conv2d_forward given the upstream gradient dy (N, K, H_out, W_out).

    need_dx=False skips dx (returned as None): a layer whose input needs no gradient, such as a
    network's first, saves that whole product. need_dw=False skips dw and db (both None): a
    transposed convolution's forward pass is this dx alone. need_db=False skips db alone: a
    layer without a bias (every convolution followed by batch norm) saves a pass over dy.
    """
    _, stride, padding, dilation, hw = _conv_args(x, w, stride, padding, dilation)
    check.array(dy, "dy", ndim=4)
    check.shape(dy, "dy", (x.shape[0], w.shape[0]) + hw, "the forward output's shape")
    need_dx, need_dw = check.flag(need_dx, "need_dx"), check.flag(need_dw, "need_dw")
    need_db = check.flag(need_db, "need_db") and need_dw
    device = check.same_dtype_and_device(dy=dy, x=x, w=w)
    return _backend(device).conv2d_backward(dy, x, w, stride=stride, padding=padding,
                                            dilation=dilation, need_dx=need_dx, need_dw=need_dw,
                                            need_db=need_db)


# ------------------------------------------------------- fused forwards (not primitives)
def has_fused(name, x) -> bool:
    """Whether the backend that runs arrays like ``x`` defines the fused forward ``name``.

    Fused forwards (``_registry.FUSED``) are optional backend-level functions outside the
    primitive table: the layers use them where they exist and compose primitives elsewhere.
    """
    if name not in _registry.FUSED:
        raise ValueError(f"name must be one of {_registry.FUSED}, got {name!r}")
    return hasattr(_backend(check.device_of(x)), name)


def conv2d_bias_relu_forward(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """relu(conv2d_forward(x, w, b)) in one pass (bias and ReLU in the convolution's epilogue),
    checked as conv2d_forward. Only where ``has_fused("conv2d_bias_relu_forward", x)``: the
    backward is relu_backward(dy, y) (y > 0 exactly where the pre-activation is), then
    conv2d_backward."""
    geometry, device = _conv_forward_args(x, w, b, stride, padding, dilation)
    fused = _fused(device, "conv2d_bias_relu_forward", "run conv2d_forward, then relu_forward")
    return fused(x, w, b, **geometry)


def _fused(device, name, instead):
    """The backend's fused function ``name``; NotImplementedError saying what to do instead."""
    backend = _backend(device)
    fn = getattr(backend, name, None)
    if fn is None:
        raise NotImplementedError(f"backend {backend.NAME!r} has no fused {name}; {instead}")
    return fn


def _on_device(device, **arrays):
    """Arrays of any float dtype (statistics, read as float64) on ``device``."""
    for name, a in arrays.items():
        if a is not None and check.device_of(a) != device:
            raise TypeError(f"{name} is on {check.device_of(a)} but x is on {device}; "
                            f"metalnet never copies between host and device silently")


_BATCH_NORM_INSTEAD = "metalnet.functional.batch_norm composes it from array ops"


def _channel_vectors(c, **arrays):
    for name, a in arrays.items():
        if a is not None:
            check.array(a, name, ndim=1)
            check.shape(a, name, (c,), "(C,), one value per channel of x")


def batch_norm_forward(x, weight=None, bias=None, mean=None, var=None, *, eps=1e-5):
    """Batch normalisation of x (N, C, ...) over every axis but the channel axis 1 ->
    (y, mean, var, inv_std), the last three float64 (C,).

    Without mean/var the batch's own statistics are used (training: var is the biased
    variance); with them, those (evaluation: the running statistics). y = (x - mean) * inv_std *
    weight + bias, inv_std = 1 / sqrt(var + eps). Only where ``has_fused("batch_norm_forward",
    x)`` (cpu); metalnet.functional.batch_norm composes array ops elsewhere.
    """
    check.array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C, ...), got shape {tuple(x.shape)}")
    if (mean is None) != (var is None):
        raise ValueError("mean and var must be given together (evaluation) or both left out")
    _channel_vectors(x.shape[1], weight=weight, bias=bias)
    if mean is not None:
        _channel_vectors(x.shape[1], mean=mean, var=var)
    eps = check.real(eps, "eps")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    device = check.same_dtype_and_device(x=x, weight=weight, bias=bias)
    _on_device(device, mean=mean, var=var)
    fused = _fused(device, "batch_norm_forward", _BATCH_NORM_INSTEAD)
    return fused(x, weight, bias, mean, var, eps=eps)


def batch_norm_backward(dy, x, mean, inv_std, weight=None, *, batch=True):
    """(dx, dweight, dbias) of batch_norm_forward given dy, from the mean and inv_std it
    returned; ``batch``: whether those were the batch's own statistics (training), which then
    depend on x too. dweight is returned whether or not the forward had a weight."""
    check.array(dy, "dy")
    check.array(x, "x")
    check.shape(dy, "dy", x.shape, "the shape of x")
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C, ...), got shape {tuple(x.shape)}")
    _channel_vectors(x.shape[1], weight=weight, mean=mean, inv_std=inv_std)
    batch = check.flag(batch, "batch")
    device = check.same_dtype_and_device(dy=dy, x=x, weight=weight)
    _on_device(device, mean=mean, inv_std=inv_std)
    fused = _fused(device, "batch_norm_backward", _BATCH_NORM_INSTEAD)
    return fused(dy, x, mean, inv_std, weight, batch=batch)


# -------------------------------------------------------------------------- optimizers
def sgd_update(param, grad, buf=None, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first=False):
    """One SGD step in place (PyTorch's rule), on param and, with momentum, its buffer buf:
    g = grad + weight_decay * param; buf = g when ``first`` else momentum * buf + (1 -
    dampening) * g; g = g + momentum * buf (nesterov) or buf; param -= lr * g. One pass over
    the arrays. Only where ``has_fused("sgd_update", param)`` (cpu); optim.SGD composes array
    ops elsewhere."""
    check.array(param, "param", floating=True)
    check.array(grad, "grad")
    check.shape(grad, "grad", param.shape, "the shape of param")
    if not param.flags.writeable:
        raise ValueError("param must be writeable (it is updated in place)")
    values = {name: check.real(v, name) for name, v in
              dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay).items()}
    nesterov, first = check.flag(nesterov, "nesterov"), check.flag(first, "first")
    if values["momentum"] != 0:
        if buf is None:
            raise ValueError("buf (the momentum buffer, shaped like param) is needed when "
                             "momentum != 0")
        check.array(buf, "buf")
        check.shape(buf, "buf", param.shape, "the shape of param")
        if not buf.flags.writeable:
            raise ValueError("buf must be writeable (it is updated in place)")
    else:
        buf = None
    device = check.same_dtype_and_device(param=param, grad=grad, buf=buf)
    fused = _fused(device, "sgd_update", "optim.SGD composes it from array ops")
    fused(param, grad, buf, nesterov=nesterov, first=first, **values)


# ----------------------------------------------------------------------------- pooling
def _pool_args(x_shape, kernel_size, stride, padding):
    kernel = _args.pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else stride
    kernel, stride, padding, _, hw = _conv_geometry(x_shape, kernel, stride, padding, 1,
                                                    "kernel_size")
    pt, pb, pl, pr = padding
    if max(pt, pb) > kernel[0] // 2 or max(pl, pr) > kernel[1] // 2:
        raise ValueError(f"padding {padding} must be at most half of kernel_size {kernel} on "
                         f"every side, so each window holds at least one real cell")
    return kernel, stride, padding, hw


def max_pool2d_forward(x, kernel_size, *, stride=None, padding=0):
    """Max over each window of x (N, C, H, W) -> (y, argmax); stride defaults to kernel_size."""
    check.array(x, "x", ndim=4)
    kernel, stride, padding, _ = _pool_args(x.shape, kernel_size, stride, padding)
    return _backend(check.device_of(x)).max_pool2d_forward(x, kernel, stride=stride, padding=padding)


def max_pool2d_backward(dy, argmax, x_shape):
    """dx (x_shape): each dy element routed to the input cell its argmax names."""
    check.array(dy, "dy", ndim=4)
    check.array(argmax, "argmax", ndim=4, floating=False)
    if argmax.dtype != np.int64:
        raise TypeError(f"argmax must be int64 (as max_pool2d_forward returns it), got {argmax.dtype}")
    check.shape(argmax, "argmax", dy.shape, "the shape of dy")
    x_shape = check.shape4(x_shape, "x_shape")
    if x_shape[:2] != tuple(dy.shape[:2]):
        raise ValueError(f"x_shape {x_shape} must share N and C with dy {tuple(dy.shape)}")
    if check.device_of(argmax) != check.device_of(dy):
        raise TypeError("argmax and dy must be on the same device")
    check.int_range(argmax, "argmax", 0, max(1, x_shape[2] * x_shape[3]))
    return _backend(check.device_of(dy)).max_pool2d_backward(dy, argmax, x_shape)


def avg_pool2d_forward(x, kernel_size, *, stride=None, padding=0, count_include_pad=True):
    """Mean over each window of x (N, C, H, W); stride defaults to kernel_size."""
    check.array(x, "x", ndim=4)
    kernel, stride, padding, _ = _pool_args(x.shape, kernel_size, stride, padding)
    include = check.flag(count_include_pad, "count_include_pad")
    return _backend(check.device_of(x)).avg_pool2d_forward(
        x, kernel, stride=stride, padding=padding, count_include_pad=include)


def avg_pool2d_backward(dy, x_shape, kernel_size, *, stride=None, padding=0,
                        count_include_pad=True):
    """dx (x_shape): each dy element spread evenly over its window."""
    check.array(dy, "dy", ndim=4)
    x_shape = check.shape4(x_shape, "x_shape")
    kernel, stride, padding, hw = _pool_args(x_shape, kernel_size, stride, padding)
    check.shape(dy, "dy", x_shape[:2] + hw, "the forward output's shape")
    include = check.flag(count_include_pad, "count_include_pad")
    return _backend(check.device_of(dy)).avg_pool2d_backward(
        dy, x_shape, kernel, stride=stride, padding=padding, count_include_pad=include)


# ------------------------------------------------------------------------- activations
def _unary(name, x, *extra):
    check.array(x, "x")
    return getattr(_backend(check.device_of(x)), name)(x, *extra)


def _binary(name, dy, saved, saved_name, *extra):
    check.array(dy, "dy")
    check.array(saved, saved_name)
    check.shape(saved, saved_name, dy.shape, "the shape of dy")
    device = check.same_dtype_and_device(dy=dy, **{saved_name: saved})
    return getattr(_backend(device), name)(dy, saved, *extra)


def relu_forward(x):
    """max(x, 0) elementwise."""
    return _unary("relu_forward", x)


def relu_backward(dy, x):
    """dy where the forward input x > 0, else 0."""
    return _binary("relu_backward", dy, x, "x")


def leaky_relu_forward(x, negative_slope=0.01):
    """x where x >= 0, negative_slope * x elsewhere."""
    return _unary("leaky_relu_forward", x, check.real(negative_slope, "negative_slope"))


def leaky_relu_backward(dy, x, negative_slope=0.01):
    """dy where the forward input x > 0, negative_slope * dy elsewhere."""
    return _binary("leaky_relu_backward", dy, x, "x", check.real(negative_slope, "negative_slope"))


def sigmoid_forward(x):
    """1 / (1 + exp(-x)) elementwise."""
    return _unary("sigmoid_forward", x)


def sigmoid_backward(dy, y):
    """dy * y * (1 - y), from the forward output y."""
    return _binary("sigmoid_backward", dy, y, "y")


def tanh_forward(x):
    """tanh(x) elementwise."""
    return _unary("tanh_forward", x)


def tanh_backward(dy, y):
    """dy * (1 - y**2), from the forward output y."""
    return _binary("tanh_backward", dy, y, "y")


# ------------------------------------------------------------------------ softmax, loss
def _logits(x, name):
    check.array(x, name, ndim=2)
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one class column, got shape {tuple(x.shape)}")
    return x


def softmax(x):
    """Row-wise softmax of a 2-D (N, C) array."""
    return _unary("softmax", _logits(x, "x"))


def log_softmax(x):
    """Row-wise log-softmax of a 2-D (N, C) array."""
    return _unary("log_softmax", _logits(x, "x"))


def softmax_cross_entropy(logits, labels):
    """(mean cross-entropy loss, dloss/dlogits) for logits (N, C) and int64 labels (N,)."""
    _logits(logits, "logits")
    if logits.shape[0] < 1:
        raise ValueError("logits must have at least one row: the mean over an empty batch is undefined")
    check.array(labels, "labels", ndim=1, floating=False)
    if labels.dtype != np.int64:
        raise TypeError(f"labels must be int64 class indices, got {labels.dtype}")
    check.shape(labels, "labels", logits.shape[:1], "one label per row of logits")
    if check.device_of(labels) != check.device_of(logits):
        raise TypeError("labels and logits must be on the same device")
    check.int_range(labels, "labels", 0, logits.shape[1])
    return _backend(check.device_of(logits)).softmax_cross_entropy(logits, labels)


# --------------------------------------------------------------------------- LSTM cell
def lstm_cell_forward(x, h, c, w_ih, w_hh, b):
    """One LSTM step (gates i, f, g, o) -> (h_next, c_next, cache)."""
    check.array(x, "x", ndim=2)
    check.array(h, "h", ndim=2)
    n, hidden = h.shape
    check.shape(x, "x", (n, x.shape[1]), "the batch size of h")
    check.array(c, "c", ndim=2)
    check.shape(c, "c", (n, hidden), "the shape of h")
    check.array(w_ih, "w_ih", ndim=2)
    check.shape(w_ih, "w_ih", (4 * hidden, x.shape[1]), "(4*hidden, input)")
    check.array(w_hh, "w_hh", ndim=2)
    check.shape(w_hh, "w_hh", (4 * hidden, hidden), "(4*hidden, hidden)")
    check.array(b, "b", ndim=1)
    check.shape(b, "b", (4 * hidden,), "(4*hidden,)")
    device = check.same_dtype_and_device(x=x, h=h, c=c, w_ih=w_ih, w_hh=w_hh, b=b)
    return _backend(device).lstm_cell_forward(x, h, c, w_ih, w_hh, b)


def lstm_cell_backward(dh_next, dc_next, cache):
    """(dx, dh, dc, dw_ih, dw_hh, db) of one LSTM step from its cache."""
    if not isinstance(cache, LSTMCache):
        raise TypeError(f"cache must be the LSTMCache returned by lstm_cell_forward, "
                        f"got {type(cache).__name__}")
    check.array(dh_next, "dh_next", ndim=2)
    check.shape(dh_next, "dh_next", cache.h.shape, "the shape of h")
    check.array(dc_next, "dc_next", ndim=2)
    check.shape(dc_next, "dc_next", cache.h.shape, "the shape of h")
    device = check.same_dtype_and_device(dh_next=dh_next, dc_next=dc_next, h=cache.h)
    return _backend(device).lstm_cell_backward(dh_next, dc_next, cache)


# ----------------------------------------------------------------------------- LSTM sequence
def _lstm_weights(x_features, hidden, w_ih, w_hh, b):
    check.array(w_ih, "w_ih", ndim=2)
    check.shape(w_ih, "w_ih", (4 * hidden, x_features), "(4*hidden, input)")
    check.array(w_hh, "w_hh", ndim=2)
    check.shape(w_hh, "w_hh", (4 * hidden, hidden), "(4*hidden, hidden)")
    check.array(b, "b", ndim=1)
    check.shape(b, "b", (4 * hidden,), "(4*hidden,)")


def lstm_forward(x, h0, c0, w_ih, w_hh, b, *, keep_cache=True):
    """An LSTM over T steps -> (hs (T, N, H), h_last, c_last, cache); x is (T, N, I).

    keep_cache=False (inference: no lstm_backward to follow) returns cache None, and the cpu
    backend then keeps neither the gates (T, N, 4H) nor the cell states of the steps before the
    last: 5H fewer values written per row and step.
    """
    check.array(x, "x", ndim=3)
    if x.shape[0] < 1:
        raise ValueError(f"x must hold at least one time step, got shape {tuple(x.shape)}")
    check.array(h0, "h0", ndim=2)
    n, hidden = h0.shape
    check.shape(x, "x", (x.shape[0], n, x.shape[2]), "(T, N, I) with N the batch of h0")
    check.array(c0, "c0", ndim=2)
    check.shape(c0, "c0", (n, hidden), "the shape of h0")
    _lstm_weights(x.shape[2], hidden, w_ih, w_hh, b)
    keep_cache = check.flag(keep_cache, "keep_cache")
    device = check.same_dtype_and_device(x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, b=b)
    return _backend(device).lstm_forward(x, h0, c0, w_ih, w_hh, b, keep_cache=keep_cache)


def lstm_backward(dhs, dh_last, dc_last, cache):
    """(dx, dh0, dc0, dw_ih, dw_hh, db) of lstm_forward; each upstream gradient may be None."""
    if not isinstance(cache, LSTMSequenceCache):
        raise TypeError(f"cache must be the LSTMSequenceCache returned by lstm_forward, "
                        f"got {type(cache).__name__}")
    grads = {"dhs": dhs, "dh_last": dh_last, "dc_last": dc_last}
    for name, value in grads.items():
        if value is not None:
            check.array(value, name)
            check.shape(value, name, cache.hs.shape if name == "dhs" else cache.h0.shape,
                        "the shape of hs" if name == "dhs" else "the shape of h0")
    device = check.same_dtype_and_device(x=cache.x, **grads)
    return _backend(device).lstm_backward(dhs, dh_last, dc_last, cache)
