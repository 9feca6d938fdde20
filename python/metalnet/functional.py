"""Differentiable layer operations on Tensors, run by the ``metalnet.ops`` kernels.

Each function computes its forward pass with an ``ops`` primitive (so it gets faster as C++ and
CUDA kernels land) and records a backward that calls the primitive's backward. What the
primitive table lacks (batch norm, dropout, embedding, nearest upsampling, the BCE loss) is
written with array operations on ``xp`` (numpy or cupy, whichever holds the data).

Shapes follow the layers: images NCHW, linear weights (out, in), conv weights (K, C, R, S),
transposed-conv weights (C_in, C_out, R, S), LSTM gates in order (i, f, g, o).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _args, ops
from .autograd import array_module, scatter_add
from .tensor import Tensor, _make, _make_many, _operand, _records, cat

__all__ = [
    "linear", "conv2d", "conv2d_relu", "conv_transpose2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "upsample_nearest", "relu", "leaky_relu", "sigmoid", "tanh",
    "softmax", "log_softmax", "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits",
    "dropout", "batch_norm", "embedding", "lstm_cell", "flatten",
]


def _c(array):
    """C-contiguous version of an array (the kernels refuse strided views; this copy is ours)."""
    return array_module(array).ascontiguousarray(array)


def _tensor(value, name) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray) or type(value).__module__.split(".")[0] == "cupy":
        return Tensor(value)
    raise TypeError(f"{name} must be a metalnet.Tensor or an array, got {type(value).__name__}")


def _optional(value, like, name):
    return None if value is None else _operand(_tensor(value, name), like, name)


def _grad_or_none(t, compute):
    """compute() only when t exists and needs a gradient (saves the unused kernel calls)."""
    return compute() if t is not None and t.requires_grad else None


# ----------------------------------------------------------------------------- linear
def linear(x, weight, bias=None) -> Tensor:
    """y = x @ weight.T + bias. x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    x = _tensor(x, "x")
    weight = _operand(_tensor(weight, "weight"), x, "weight")
    bias = _optional(bias, x, "bias")
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"weight must be (out, in) with in = {x.shape[-1] if x.ndim else '?'} "
                         f"(the last axis of x {x.shape}), got {weight.shape}")
    lead = x.shape[:-1]
    x2 = _c(x.data.reshape(-1, x.shape[-1]))
    y = ops.gemm(x2, weight.data, trans_b=True)
    if bias is not None:
        y += bias.data

    def backward(g):
        g2 = _c(g.reshape(-1, weight.shape[0]))
        dx = _grad_or_none(x, lambda: ops.gemm(g2, weight.data).reshape(x.shape))
        dw = _grad_or_none(weight, lambda: ops.gemm(g2, x2, trans_a=True))
        db = _grad_or_none(bias, lambda: g2.sum(axis=0))
        return dx, dw, db
    parents = (x, weight) if bias is None else (x, weight, bias)
    return _make(y.reshape(lead + (weight.shape[0],)), parents, backward, "Linear")


# ------------------------------------------------------------------------ convolution
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1) -> Tensor:
    """Cross-correlation: x (N, C, H, W), weight (K, C, R, S), bias (K,) -> (N, K, H', W').

    stride/dilation: int or (row, col); padding: int, (row, col) or (top, bottom, left, right).
    """
    x = _tensor(x, "x")
    weight = _operand(_tensor(weight, "weight"), x, "weight")
    bias = _optional(bias, x, "bias")
    xd = _c(x.data)
    geometry = dict(stride=stride, padding=padding, dilation=dilation)
    y = ops.conv2d_forward(xd, weight.data, None if bias is None else bias.data, **geometry)

    def backward(g):  # a first layer's input needs no gradient: dx is skipped; no bias, no db
        return ops.conv2d_backward(_c(g), xd, weight.data, **geometry, need_dx=x.requires_grad,
                                   need_db=bias is not None)
    parents = (x, weight) if bias is None else (x, weight, bias)
    return _make(y, parents, backward, "Conv2d")


def conv2d_relu(x, weight, bias=None, stride=1, padding=0, dilation=1) -> Tensor:
    """relu(conv2d(x, weight, bias, stride, padding, dilation)), as Sequential runs a Conv2d
    followed by a ReLU.

    Where the backend running x has the fused forward (``ops.has_fused``: cuda, cupy) this is
    one graph node: ``ops.conv2d_bias_relu_forward`` adds the bias and applies the ReLU in the
    convolution's epilogue, and the backward masks the gradient with relu_backward(g, y) before
    conv2d_backward. Elsewhere (numpy, cpu) it is exactly relu(conv2d(...)).
    """
    x = _tensor(x, "x")
    if not ops.has_fused("conv2d_bias_relu_forward", x.data):
        return relu(conv2d(x, weight, bias, stride, padding, dilation))
    weight = _operand(_tensor(weight, "weight"), x, "weight")
    bias = _optional(bias, x, "bias")
    xd = _c(x.data)
    geometry = dict(stride=stride, padding=padding, dilation=dilation)
    y = ops.conv2d_bias_relu_forward(xd, weight.data, None if bias is None else bias.data,
                                     **geometry)

    def backward(g):
        return ops.conv2d_backward(ops.relu_backward(_c(g), y), xd, weight.data, **geometry,
                                   need_dx=x.requires_grad, need_db=bias is not None)
    parents = (x, weight) if bias is None else (x, weight, bias)
    return _make(y, parents, backward, "Conv2dReLU")


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     dilation=1) -> Tensor:
    """Transposed convolution: the input-gradient of conv2d, used as a forward pass.

    x (N, C_in, H, W), weight (C_in, C_out, R, S), bias (C_out,) -> (N, C_out, H', W') with
    H' = (H - 1)*sh - pad_top - pad_bottom + dh*(R - 1) + output_padding_row + 1.
    ``output_padding`` (int or (row, col), each smaller than the stride) adds rows/columns at
    the bottom/right that no input reaches (they hold only the bias), as in PyTorch.
    """
    x = _tensor(x, "x")
    weight = _operand(_tensor(weight, "weight"), x, "weight")
    bias = _optional(bias, x, "bias")
    if x.ndim != 4 or weight.ndim != 4 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"x must be (N, C_in, H, W) and weight (C_in, C_out, R, S) with the "
                         f"same C_in, got x {x.shape} and weight {weight.shape}")
    stride_p, dilation_p = _args.pair(stride, "stride"), _args.pair(dilation, "dilation")
    pad = _args.padding4(padding, "padding")
    out_pad = _args.pair(output_padding, "output_padding", minimum=0)
    if out_pad[0] >= stride_p[0] or out_pad[1] >= stride_p[1]:
        raise ValueError(f"output_padding {output_padding} must be smaller than the stride "
                         f"{stride_p} along each axis")
    n, _, h, w = x.shape
    _, c_out, r, s = weight.shape
    h_out = (h - 1) * stride_p[0] - pad[0] - pad[1] + dilation_p[0] * (r - 1) + out_pad[0] + 1
    w_out = (w - 1) * stride_p[1] - pad[2] - pad[3] + dilation_p[1] * (s - 1) + out_pad[1] + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"padding {padding} leaves no output for an input of {(h, w)}")
    geometry = dict(stride=stride_p, padding=pad, dilation=dilation_p)
    xd, xp = _c(x.data), x.xp
    # The conv whose input gradient this is maps (N, C_out, H', W') -> (N, C_in, H, W); only
    # the shape of its input matters for dx, so zeros stand in for it.
    stand_in = xp.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    y = ops.conv2d_backward(xd, stand_in, weight.data, **geometry, need_dw=False)[0]
    if bias is not None:
        y += bias.data.reshape(1, -1, 1, 1)

    def backward(g):
        g = _c(g)
        dx = _grad_or_none(x, lambda: ops.conv2d_forward(g, weight.data, **geometry))
        dw = _grad_or_none(weight, lambda: ops.conv2d_backward(xd, g, weight.data, **geometry,
                                                               need_dx=False, need_db=False)[1])
        db = _grad_or_none(bias, lambda: g.sum(axis=(0, 2, 3)))
        return dx, dw, db
    parents = (x, weight) if bias is None else (x, weight, bias)
    return _make(y, parents, backward, "ConvTranspose2d")


# ---------------------------------------------------------------------------- pooling
def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over windows of x (N, C, H, W); stride defaults to kernel_size."""
    x = _tensor(x, "x")
    y, argmax = ops.max_pool2d_forward(_c(x.data), kernel_size, stride=stride, padding=padding)
    shape = x.shape
    return _make(y, (x,), lambda g: (ops.max_pool2d_backward(_c(g), argmax, shape),), "MaxPool2d")


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True) -> Tensor:
    """Mean over windows of x (N, C, H, W); stride defaults to kernel_size."""
    x = _tensor(x, "x")
    geometry = dict(stride=stride, padding=padding, count_include_pad=count_include_pad)
    y = ops.avg_pool2d_forward(_c(x.data), kernel_size, **geometry)
    shape = x.shape

    def backward(g):
        return (ops.avg_pool2d_backward(_c(g), shape, kernel_size, **geometry),)
    return _make(y, (x,), backward, "AvgPool2d")


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """Average pooling to a fixed (H_out, W_out) that divides the input's (H, W)."""
    x = _tensor(x, "x")
    oh, ow = _args.pair(output_size, "output_size")
    h, w = x.shape[2:]
    if h % oh or w % ow:
        raise ValueError(f"output_size {(oh, ow)} must divide the input size {(h, w)}")
    return avg_pool2d(x, (h // oh, w // ow))


def upsample_nearest(x, scale_factor) -> Tensor:
    """Repeat each pixel of x (N, C, H, W) sh x sw times -> (N, C, H*sh, W*sw)."""
    x = _tensor(x, "x")
    sh, sw = _args.pair(scale_factor, "scale_factor")
    n, c, h, w = x.shape
    y = x.data.repeat(sh, axis=2).repeat(sw, axis=3)

    def backward(g):
        return (g.reshape(n, c, h, sh, w, sw).sum(axis=(3, 5)),)
    return _make(y, (x,), backward, "UpsampleNearest")


# ------------------------------------------------------------------------ activations
def relu(x) -> Tensor:
    """max(x, 0)."""
    x = _tensor(x, "x")
    xd = _c(x.data)
    return _make(ops.relu_forward(xd), (x,), lambda g: (ops.relu_backward(_c(g), xd),), "ReLU")


def leaky_relu(x, negative_slope=0.01) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    x = _tensor(x, "x")
    xd = _c(x.data)

    def backward(g):
        return (ops.leaky_relu_backward(_c(g), xd, negative_slope),)
    return _make(ops.leaky_relu_forward(xd, negative_slope), (x,), backward, "LeakyReLU")


def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x))."""
    x = _tensor(x, "x")
    y = ops.sigmoid_forward(_c(x.data))
    return _make(y, (x,), lambda g: (ops.sigmoid_backward(_c(g), y),), "Sigmoid")


def tanh(x) -> Tensor:
    """tanh(x)."""
    x = _tensor(x, "x")
    y = ops.tanh_forward(_c(x.data))
    return _make(y, (x,), lambda g: (ops.tanh_backward(_c(g), y),), "Tanh")


def _rows_over(x: Tensor, dim: int):
    """x with axis ``dim`` moved last and flattened to 2-D (rows, classes), and the undo."""
    dim = dim % x.ndim
    moved = x.data if dim == x.ndim - 1 else array_module(x.data).moveaxis(x.data, dim, -1)
    shape = moved.shape

    def undo(a):
        a = a.reshape(shape)
        return a if dim == x.ndim - 1 else array_module(a).moveaxis(a, -1, dim)
    return _c(moved.reshape(-1, shape[-1])), undo


def softmax(x, dim=-1) -> Tensor:
    """exp(x) / sum exp(x) along ``dim``."""
    x = _tensor(x, "x")
    rows, undo = _rows_over(x, dim)
    y = undo(ops.softmax(rows))

    def backward(g):
        return (y * (g - (g * y).sum(axis=dim, keepdims=True)),)
    return _make(y, (x,), backward, "Softmax")


def log_softmax(x, dim=-1) -> Tensor:
    """x - log(sum exp(x)) along ``dim``."""
    x = _tensor(x, "x")
    rows, undo = _rows_over(x, dim)
    y = undo(ops.log_softmax(rows))
    xp = x.xp

    def backward(g):
        return (g - xp.exp(y) * g.sum(axis=dim, keepdims=True),)
    return _make(y, (x,), backward, "LogSoftmax")


# ----------------------------------------------------------------------------- losses
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _labels(target, like: Tensor):
    labels = target.data if isinstance(target, Tensor) else target
    if array_module(labels) is not like.xp:
        raise TypeError(f"target is on another device than the input ({like.device}); "
                        f"move it explicitly")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got {labels.dtype}")
    return _c(labels.astype(np.int64, copy=False))


def cross_entropy(logits, target, reduction="mean") -> Tensor:
    """Softmax cross-entropy. logits (N, C) or (N, C, d1, ...), integer target (N,)/(N, d1, ...).

    'mean' averages over every position (N * d1 * ...), 'sum' adds, 'none' keeps target's shape.
    """
    logits = _tensor(logits, "logits")
    _check_reduction(reduction)
    labels = _labels(target, logits)
    if logits.ndim < 2 or labels.shape != (logits.shape[0],) + logits.shape[2:]:
        raise ValueError(f"target must have shape (N, d1, ...) = "
                         f"{(logits.shape[0],) + logits.shape[2:]} for logits {logits.shape}, "
                         f"got {labels.shape}")
    flat = logits if logits.ndim == 2 else logits.permute(
        (0,) + tuple(range(2, logits.ndim)) + (1,)).reshape(-1, logits.shape[1])
    labels = labels.reshape(-1)
    if reduction == "none":
        picked = log_softmax(flat, 1).gather(1, labels.reshape(-1, 1))
        return -picked.reshape(target.shape if hasattr(target, "shape") else labels.shape)
    loss = _softmax_cross_entropy(flat.contiguous(), labels)
    return loss if reduction == "mean" else loss * float(labels.shape[0])


def _softmax_cross_entropy(logits: Tensor, labels) -> Tensor:
    loss, dlogits = ops.softmax_cross_entropy(logits.data, labels)
    return _make(loss, (logits,), lambda g: (dlogits * g,), "CrossEntropy")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def mse_loss(input, target, reduction="mean") -> Tensor:
    """(input - target)^2, averaged (or summed) over every element."""
    input = _tensor(input, "input")
    _check_reduction(reduction)
    target = _operand(_tensor(target, "target"), input, "target")
    if target.shape != input.shape:
        raise ValueError(f"target must have the shape of input {input.shape}, got {target.shape}")
    diff = input - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean", pos_weight=None) -> Tensor:
    """-[p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed without overflow.

    input (logits) and target (in [0, 1]) share a shape; pos_weight p (broadcast over the last
    axis, default 1) weighs the positive term.
    """
    x = _tensor(input, "input")
    _check_reduction(reduction)
    t = _operand(_tensor(target, "target"), x, "target")
    if t.shape != x.shape:
        raise ValueError(f"target must have the shape of input {x.shape}, got {t.shape}")
    xp = x.xp
    p = 1 if pos_weight is None else _operand(_tensor(pos_weight, "pos_weight"), x,
                                              "pos_weight").data
    # log sigmoid(x) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x).
    softplus_neg, softplus_pos = xp.logaddexp(0, -x.data), xp.logaddexp(0, x.data)
    loss = p * t.data * softplus_neg + (1 - t.data) * softplus_pos
    sig = ops.sigmoid_forward(_c(x.data))

    def backward(g):
        dx = g * (sig * (p * t.data + 1 - t.data) - p * t.data)
        dt = _grad_or_none(t, lambda: g * (p * softplus_neg - softplus_pos))
        return dx, dt
    return _reduce(_make(loss.astype(x.dtype, copy=False), (x, t), backward, "BCEWithLogits"),
                   reduction)


# --------------------------------------------------------------- regularisation, norms
def dropout(x, p=0.5, training=True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity in eval)."""
    x = _tensor(x, "x")
    if not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
    if not training or p == 0:
        return x
    from .nn import _rng  # the layers' generator: metalnet.manual_seed fixes the masks
    keep = _rng.uniform(x.shape, x.xp) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - p))
    return _make(x.data * mask, (x,), lambda g: (g * mask,), "Dropout")


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=True,
               momentum=0.1, eps=1e-5) -> Tensor:
    """Normalise each channel (axis 1) of x (N, C) / (N, C, L) / (N, C, H, W).

    Training uses the batch statistics and updates running_mean/running_var in place
    (running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance);
    evaluation uses the running statistics. weight (gamma) and bias (beta) are (C,).
    """
    x = _tensor(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C, ...), got shape {x.shape}")
    c, xp = x.shape[1], x.xp
    weight, bias = _optional(weight, x, "weight"), _optional(bias, x, "bias")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    count = x.numel() // max(c, 1)
    if training and count < 2:
        raise ValueError(f"batch norm in training needs more than one value per channel, "
                         f"got input shape {x.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("evaluation mode needs running_mean and running_var")
    if x.ndim >= 3 and ops.has_fused("batch_norm_forward", x.data):
        return _batch_norm_fused(x, running_mean, running_var, weight, bias, training, momentum,
                                 eps, count)
    if training:
        mean, var = x.data.mean(axis=axes), x.data.var(axis=axes)
        _update_running(running_mean, running_var, mean, var * (count / (count - 1)), momentum)
    else:
        mean, var = _data(running_mean), _data(running_var)
    inv_std = (1 / xp.sqrt(var + eps)).astype(x.dtype)
    xhat = (x.data - mean.reshape(shape)) * inv_std.reshape(shape)
    gamma = 1 if weight is None else weight.data.reshape(shape)
    y = xhat * gamma if weight is not None else xhat
    if bias is not None:
        y = y + bias.data.reshape(shape)

    def backward(g):
        dxhat = g * gamma
        if training:   # the batch statistics depend on x too: project out their directions
            dx = (count * dxhat - dxhat.sum(axis=axes, keepdims=True)
                  - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)) / count
        else:
            dx = dxhat
        grads = [dx * inv_std.reshape(shape)]
        if weight is not None:
            grads.append(_grad_or_none(weight, lambda: (g * xhat).sum(axis=axes)))
        if bias is not None:
            grads.append(_grad_or_none(bias, lambda: g.sum(axis=axes)))
        return tuple(grads)
    parents = (x,) + tuple(t for t in (weight, bias) if t is not None)
    return _make(y.astype(x.dtype, copy=False), parents, backward, "BatchNorm")


def _batch_norm_fused(x, running_mean, running_var, weight, bias, training, momentum, eps,
                      count):
    """batch_norm on a backend with the fused passes (cpu): statistics, normalisation and
    affine map in two passes over x, the backward in two more, nothing kept but x and the
    per-channel statistics (the array-op composition makes about fifteen passes and keeps xhat).
    Used for (N, C, L) and (N, C, H, W); (N, C) rows are short and stay with the composition."""
    xd = _c(x.data)
    w = None if weight is None else weight.data
    b = None if bias is None else bias.data
    if training:
        y, mean, var, inv_std = ops.batch_norm_forward(xd, w, b, eps=eps)
        _update_running(running_mean, running_var, mean, var * (count / (count - 1)), momentum)
    else:
        y, mean, _, inv_std = ops.batch_norm_forward(xd, w, b, _data(running_mean),
                                                     _data(running_var), eps=eps)

    def backward(g):
        dx, dw, db = ops.batch_norm_backward(_c(g), xd, mean, inv_std, w, batch=training)
        grads = [dx]
        if weight is not None:
            grads.append(dw if weight.requires_grad else None)
        if bias is not None:
            grads.append(db if bias.requires_grad else None)
        return tuple(grads)
    parents = (x,) + tuple(t for t in (weight, bias) if t is not None)
    return _make(y, parents, backward, "BatchNorm")


def _data(t):
    return t.data if isinstance(t, Tensor) else t


def _update_running(running_mean, running_var, mean, var, momentum):
    """In-place update of the running statistics (buffers, not part of the graph)."""
    for running, batch in ((running_mean, mean), (running_var, var)):
        if running is not None:
            array = _data(running)
            array *= 1 - momentum
            array += momentum * batch.astype(array.dtype, copy=False)


# ------------------------------------------------------------------ embedding, LSTM cell
def embedding(indices, weight) -> Tensor:
    """Rows of weight (V, D) picked by integer indices of any shape -> (*indices.shape, D)."""
    weight = _tensor(weight, "weight")
    idx = _labels(indices, weight)
    vocab = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= vocab):
        raise ValueError(f"indices must lie in [0, {vocab}), got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    xp = weight.xp

    def backward(g):
        full = xp.zeros(weight.shape, dtype=g.dtype)
        return (scatter_add(full, idx.reshape(-1), g.reshape(-1, weight.shape[1])),)
    return _make(weight.data[idx], (weight,), backward, "Embedding")


def lstm_cell(x, h, c, w_ih, w_hh, b):
    """One LSTM step (gates i, f, g, o) -> (h_next, c_next), both (N, H).

    x (N, I), h and c (N, H), w_ih (4H, I), w_hh (4H, H), b (4H,).
    """
    x = _tensor(x, "x")
    h, c = _operand(_tensor(h, "h"), x, "h"), _operand(_tensor(c, "c"), x, "c")
    w_ih, w_hh = _operand(_tensor(w_ih, "w_ih"), x, "w_ih"), _operand(_tensor(w_hh, "w_hh"), x,
                                                                     "w_hh")
    b = _operand(_tensor(b, "b"), x, "b")
    h_next, c_next, cache = ops.lstm_cell_forward(_c(x.data), _c(h.data), _c(c.data),
                                                  w_ih.data, w_hh.data, b.data)

    def backward(grads):
        dh_next, dc_next = (_c(g) if g is not None else x.xp.zeros_like(h_next) for g in grads)
        return ops.lstm_cell_backward(dh_next, dc_next, cache)
    return _make_many((h_next, c_next), (x, h, c, w_ih, w_hh, b), backward, "LSTMCell")


def lstm(x, h0, c0, w_ih, w_hh, b):
    """An LSTM layer over a whole sequence -> (hs (T, N, H), h_last, c_last).

    x (T, N, I), h0 and c0 (N, H), w_ih (4H, I), w_hh (4H, H), b (4H,). One graph node for all
    T steps: ops.lstm_forward projects every step's input in one GEMM, and its backward walks
    the steps in C++ instead of T cell nodes in Python.
    """
    x = _tensor(x, "x")
    h0, c0 = _operand(_tensor(h0, "h0"), x, "h0"), _operand(_tensor(c0, "c0"), x, "c0")
    w_ih, w_hh = _operand(_tensor(w_ih, "w_ih"), x, "w_ih"), _operand(_tensor(w_hh, "w_hh"), x,
                                                                     "w_hh")
    b = _operand(_tensor(b, "b"), x, "b")
    # Without a backward to follow (no_grad, inference), the kernel need not keep its gates.
    keep = _records((x, h0, c0, w_ih, w_hh, b))
    hs, h_last, c_last, cache = ops.lstm_forward(_c(x.data), _c(h0.data), _c(c0.data),
                                                 _c(w_ih.data), _c(w_hh.data), _c(b.data),
                                                 keep_cache=keep)

    def backward(grads):
        return ops.lstm_backward(*(None if g is None else _c(g) for g in grads), cache)
    return _make_many((hs, h_last, c_last), (x, h0, c0, w_ih, w_hh, b), backward, "LSTM")


def flatten(x, start_dim=1) -> Tensor:
    """Merge every axis from start_dim on: (N, C, H, W) -> (N, C*H*W)."""
    return _tensor(x, "x").flatten(start_dim)


def concat(tensors, dim=1) -> Tensor:
    """Concatenate along ``dim`` (default: channels)."""
    return cat(tensors, dim)
