"""The ``cupy`` backend: the GPU fallback, written with CuPy array operations.

Runs when ``metalnet._cuda`` is missing or when forced with ``metalnet.backend("cupy")``, and
serves the ``cuda`` backend for primitives that have no CUDA kernel yet. Primitives it does not
have either are listed with IMPLEMENTATIONS = None and raise NotImplementedError.
"""
from __future__ import annotations

from .. import _args
from ..reference import LSTMCache
from ._gpu import import_cupy, missing
from ._registry import PRIMITIVES

cp = import_cupy()

NAME = "cupy"
DEVICE = "cuda"


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    out = cp.matmul(a.T if trans_a else a, b.T if trans_b else b)
    if alpha != 1.0:
        out *= alpha
    if c is not None and beta != 0.0:
        out += beta * c
    return out


# ------------------------------------------------------------------ convolution (im2col)
# The reference's algorithms on CuPy arrays: one strided slice of the padded input per kernel
# offset (im2col), then one tensor contraction (cuBLAS) over (C, R, S).

def _window(start, step, count):
    return slice(start, start + step * (count - 1) + 1, step)


def _pad(x, padding, value=0):
    top, bottom, left, right = padding
    if not any(padding):
        return x
    return cp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="constant",
                  constant_values=value)


def _im2col(x_padded, r, s, stride, dilation, h_out, w_out):
    """(N, C, Hp, Wp) -> (N, C, R, S, H_out, W_out), cols[..., i, j, p, q] = xp[p*sh + i*dh, ...]."""
    (sh, sw), (dh, dw) = stride, dilation
    n, c = x_padded.shape[:2]
    cols = cp.empty((n, c, r, s, h_out, w_out), dtype=x_padded.dtype)
    for i in range(r):
        for j in range(s):
            cols[:, :, i, j] = x_padded[:, :, _window(i * dh, sh, h_out), _window(j * dw, sw, w_out)]
    return cols


def conv2d_forward(x, w, b=None, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1)):
    k, _, r, s = w.shape
    h_out, w_out = _args.conv_out_hw(x.shape[2], x.shape[3], (r, s), stride, padding, dilation)
    cols = _im2col(_pad(x, padding), r, s, stride, dilation, h_out, w_out)
    y = cp.tensordot(cols, w, axes=([1, 2, 3], [1, 2, 3])).transpose(0, 3, 1, 2)  # (N, K, Ho, Wo)
    if b is not None:
        y = y + b.reshape(1, k, 1, 1)
    return cp.ascontiguousarray(y, dtype=x.dtype)


def conv2d_backward(dy, x, w, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                    need_dx=True, need_dw=True, need_db=True):
    _, _, h, wd = x.shape
    _, _, r, s = w.shape
    h_out, w_out = dy.shape[2:]
    (sh, sw), (dh, dw_), (top, _, left, _) = stride, dilation, padding
    x_padded = _pad(x, padding)
    dw = db = None
    if need_dw:
        if need_db:
            db = cp.ascontiguousarray(dy.sum(axis=(0, 2, 3)), dtype=x.dtype)
        cols = _im2col(x_padded, r, s, stride, dilation, h_out, w_out)
        dw = cp.tensordot(dy, cols, axes=([0, 2, 3], [0, 4, 5]))      # (K, C, R, S)
        dw = cp.ascontiguousarray(dw, dtype=x.dtype)
    if not need_dx:
        return None, dw, db
    dcols = cp.tensordot(w, dy, axes=([0], [1]))                      # (C, R, S, N, Ho, Wo)
    dx_padded = cp.zeros(x_padded.shape, dtype=x.dtype)
    for i in range(r):
        for j in range(s):
            dx_padded[:, :, _window(i * dh, sh, h_out), _window(j * dw_, sw, w_out)] += (
                dcols[:, i, j].transpose(1, 0, 2, 3))
    dx = dx_padded[:, :, top:top + h, left:left + wd]
    return cp.ascontiguousarray(dx, dtype=x.dtype), dw, db


# ------------------------------------------------------------------------------- pooling
# The reference's window walk: one strided slice per window offset, so every step is one
# elementwise CuPy operation over all (n, c, p, q) at once.

def _pool_geometry(x_shape, kernel_size, stride, padding):
    kernel = _args.pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _args.pair(stride, "stride")
    padding = _args.padding4(padding)
    h_out, w_out = _args.pool_out_hw(x_shape[2], x_shape[3], kernel, stride, padding)
    return kernel, stride, padding, h_out, w_out


def max_pool2d_forward(x, kernel_size, *, stride=None, padding=(0, 0, 0, 0)):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), padding, h_out, w_out = _pool_geometry(x.shape, kernel_size, stride,
                                                               padding)
    top, _, left, _ = padding
    x_padded = _pad(x, padding)
    is_real = _pad(cp.ones((1, 1, h, w), dtype=bool), padding, value=False)
    best = cp.zeros((n, c, h_out, w_out), dtype=x.dtype)
    argmax = cp.full((n, c, h_out, w_out), -1, dtype=cp.int64)
    for i in range(kh):
        in_row = cp.arange(h_out, dtype=cp.int64) * sh + (i - top)
        for j in range(kw):
            value = x_padded[:, :, _window(i, sh, h_out), _window(j, sw, w_out)]
            real = is_real[:, :, _window(i, sh, h_out), _window(j, sw, w_out)]
            in_col = cp.arange(w_out, dtype=cp.int64) * sw + (j - left)
            flat = in_row[:, None] * w + in_col[None, :]
            better = (value > best) | (cp.isnan(value) & ~cp.isnan(best))
            take = real & ((argmax < 0) | better)   # first real cell, then strictly better
            best = cp.where(take, value, best)
            argmax = cp.where(take, flat, argmax)
    return cp.ascontiguousarray(best), cp.ascontiguousarray(argmax)


def _scatter_add(target, index, values):
    if hasattr(cp, "add") and hasattr(cp.add, "at"):
        cp.add.at(target, index, values)
    else:  # older CuPy
        import cupyx
        cupyx.scatter_add(target, index, values)


def max_pool2d_backward(dy, argmax, x_shape):
    n, c, h, w = (int(v) for v in x_shape)
    planes = n * c
    dx = cp.zeros(planes * h * w, dtype=dy.dtype)
    if planes and dy.size:
        offsets = cp.arange(planes, dtype=cp.int64)[:, None] * (h * w)
        flat = (argmax.reshape(planes, -1) + offsets).ravel()
        _scatter_add(dx, flat, dy.ravel())
    return dx.reshape(n, c, h, w)


def _avg_divisor(h, w, kernel, stride, padding, h_out, w_out, count_include_pad, dtype):
    kh, kw = kernel
    if count_include_pad:
        return dtype.type(kh * kw)
    (sh, sw), (top, _, left, _) = stride, padding
    rows = cp.arange(h_out) * sh - top
    cols = cp.arange(w_out) * sw - left
    real_rows = cp.minimum(rows + kh, h) - cp.maximum(rows, 0)
    real_cols = cp.minimum(cols + kw, w) - cp.maximum(cols, 0)
    return (real_rows[:, None] * real_cols[None, :]).astype(dtype)


def avg_pool2d_forward(x, kernel_size, *, stride=None, padding=(0, 0, 0, 0),
                       count_include_pad=True):
    n, c, h, w = x.shape
    kernel, stride, padding, h_out, w_out = _pool_geometry(x.shape, kernel_size, stride, padding)
    (kh, kw), (sh, sw) = kernel, stride
    x_padded = _pad(x, padding)
    total = cp.zeros((n, c, h_out, w_out), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            total += x_padded[:, :, _window(i, sh, h_out), _window(j, sw, w_out)]
    divisor = _avg_divisor(h, w, kernel, stride, padding, h_out, w_out, count_include_pad,
                           x.dtype)
    return cp.ascontiguousarray(total / divisor, dtype=x.dtype)


def avg_pool2d_backward(dy, x_shape, kernel_size, *, stride=None, padding=(0, 0, 0, 0),
                        count_include_pad=True):
    n, c, h, w = (int(v) for v in x_shape)
    kernel, stride, padding, h_out, w_out = _pool_geometry((n, c, h, w), kernel_size, stride,
                                                           padding)
    (kh, kw), (sh, sw), (top, bottom, left, right) = kernel, stride, padding
    share = dy / _avg_divisor(h, w, kernel, stride, padding, h_out, w_out, count_include_pad,
                              dy.dtype)
    dx_padded = cp.zeros((n, c, h + top + bottom, w + left + right), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx_padded[:, :, _window(i, sh, h_out), _window(j, sw, w_out)] += share
    return cp.ascontiguousarray(dx_padded[:, :, top:top + h, left:left + w], dtype=dy.dtype)


# ---------------------------------------------------------------------------- activations
def bias_add(x, b):
    return x + b.reshape((1, -1) + (1,) * (x.ndim - 2))


def bias_add_backward(dy):
    return dy.sum(axis=(0,) + tuple(range(2, dy.ndim)))


def relu_forward(x):
    return cp.where(x < 0, x.dtype.type(0), x)


def relu_backward(dy, x):
    return cp.where(x > 0, dy, dy.dtype.type(0))


def leaky_relu_forward(x, negative_slope=0.01):
    return cp.where(x < 0, x * x.dtype.type(negative_slope), x)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    return cp.where(x > 0, dy, dy * dy.dtype.type(negative_slope))


def sigmoid_forward(x):
    e = cp.exp(-cp.abs(x))  # <= 1: no overflow for any x
    return cp.where(x < 0, e / (1 + e), 1 / (1 + e))


def sigmoid_backward(dy, y):
    return dy * y * (1 - y)


def tanh_forward(x):
    return cp.tanh(x)


def tanh_backward(dy, y):
    return dy * (1 - y * y)


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - cp.log(cp.exp(shifted).sum(axis=1, keepdims=True))


def softmax(x):
    e = cp.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels):
    n = logits.shape[0]
    logp = log_softmax(logits)
    rows = cp.arange(n)
    loss = -logp[rows, labels].mean()
    dlogits = cp.exp(logp)
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits


def lstm_cell_forward(x, h, c, w_ih, w_hh, b):
    hidden = h.shape[1]
    gates = x @ w_ih.T + h @ w_hh.T + b
    gates[:, : 2 * hidden] = sigmoid_forward(gates[:, : 2 * hidden])  # i, f
    gates[:, 2 * hidden : 3 * hidden] = cp.tanh(gates[:, 2 * hidden : 3 * hidden])  # g
    gates[:, 3 * hidden :] = sigmoid_forward(gates[:, 3 * hidden :])  # o
    i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    c_next = f * c + i * g
    h_next = o * cp.tanh(c_next)
    return h_next, c_next, LSTMCache(x, h, c, w_ih, w_hh, gates, c_next)


def lstm_cell_backward(dh_next, dc_next, cache):
    x, h, c, w_ih, w_hh, gates, c_next = cache
    hidden = h.shape[1]
    i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    tanh_c = cp.tanh(c_next)
    dc = dc_next + dh_next * o * (1 - tanh_c * tanh_c)
    dgates = cp.concatenate(
        [dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
         dh_next * tanh_c * o * (1 - o)], axis=1)
    return (dgates @ w_ih, dgates @ w_hh, dc * f, dgates.T @ x, dgates.T @ h, dgates.sum(axis=0))


_NATIVE = {name for name in PRIMITIVES if name in globals()}
IMPLEMENTATIONS = {name: ("CuPy" if name in _NATIVE else None) for name in PRIMITIVES}
globals().update({name: missing(NAME, name) for name in PRIMITIVES if name not in _NATIVE})


# ------------------------------------------------- backend-level functions (not primitives)
# The same functions as the cuda backend's, written with CuPy operations (see _gpu.py for the
# LSTM sequence contract).

def conv2d_bias_relu_forward(x, w, b=None, *, stride=(1, 1), padding=(0, 0, 0, 0),
                             dilation=(1, 1)):
    """relu(conv2d_forward(x, w, b)); the cuda backend fuses it into the convolution."""
    stride, dilation = _args.pair(stride, "stride"), _args.pair(dilation, "dilation")
    padding = _args.padding4(padding)
    y = conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)
    return cp.maximum(y, y.dtype.type(0), out=y) if y.size else y


def _lstm_step_forward(a, c, hidden):
    """Activated gates (in place in ``a``), c_next, h_next from the pre-activations a (N, 4H)."""
    a[:, : 2 * hidden] = sigmoid_forward(a[:, : 2 * hidden])
    a[:, 2 * hidden : 3 * hidden] = cp.tanh(a[:, 2 * hidden : 3 * hidden])
    a[:, 3 * hidden :] = sigmoid_forward(a[:, 3 * hidden :])
    i, f, g, o = (a[:, k * hidden : (k + 1) * hidden] for k in range(4))
    c_next = f * c + i * g
    return a, c_next, o * cp.tanh(c_next)


def _lstm_step_backward(dh, dc_next, gates, c, c_next, hidden):
    i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    tanh_c = cp.tanh(c_next)
    dc = dh * o * (1 - tanh_c * tanh_c)
    if dc_next is not None:
        dc = dc + dc_next
    dgates = cp.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                             dh * tanh_c * o * (1 - o)], axis=1)
    return dgates, dc * f


def lstm_forward(x, h0, c0, w_ih, w_hh, b=None, *, keep_cache=True):
    """An LSTM over T steps: x (T, N, I) -> (hs (T, N, H), h_last, c_last, cache); the input
    projection of all steps is one matrix product. keep_cache=False returns cache None (every
    step's gates and cell state are still computed and held until then)."""
    from ._gpu import LSTMSequenceCache, lstm_sequence_shape
    steps, n, inputs, hidden = lstm_sequence_shape(x, h0, c0, w_ih, w_hh, b)
    xw = (x.reshape(steps * n, inputs) @ w_ih.T).reshape(steps, n, 4 * hidden)
    if b is not None:
        xw += b
    hs = cp.empty((steps, n, hidden), dtype=x.dtype)
    cs = cp.empty((steps, n, hidden), dtype=x.dtype)
    gates = cp.empty((steps, n, 4 * hidden), dtype=x.dtype)
    h, c = h0, c0
    for t in range(steps):
        gates[t], cs[t], hs[t] = _lstm_step_forward(xw[t] + h @ w_hh.T, c, hidden)
        h, c = hs[t], cs[t]
    cache = LSTMSequenceCache(x, h0, c0, w_ih, w_hh, hs, cs, gates) if keep_cache else None
    return hs, hs[-1], cs[-1], cache


def lstm_backward(dhs, dh_last, dc_last, cache):
    """Gradients of lstm_forward: (dx, dh0, dc0, dw_ih, dw_hh, db); dhs, dh_last and dc_last
    may each be None (zero)."""
    x, h0, c0, w_ih, w_hh, hs, cs, gates = cache
    steps, n, inputs = x.shape
    hidden = h0.shape[1]
    dgates = cp.empty((steps, n, 4 * hidden), dtype=x.dtype)
    dh = cp.zeros((n, hidden), dtype=x.dtype) if dh_last is None else dh_last
    dc = dc_last
    for t in range(steps - 1, -1, -1):
        step_dh = dh if dhs is None else dh + dhs[t]
        c_prev = cs[t - 1] if t else c0
        dgates[t], dc = _lstm_step_backward(step_dh, dc, gates[t], c_prev, cs[t], hidden)
        dh = dgates[t] @ w_hh
    flat = dgates.reshape(steps * n, 4 * hidden)
    h_prev = cp.concatenate([h0[None], hs[:-1]], axis=0).reshape(steps * n, hidden)
    dx = (flat @ w_ih).reshape(steps, n, inputs)
    return (cp.ascontiguousarray(dx), cp.ascontiguousarray(dh), cp.ascontiguousarray(dc),
            flat.T @ x.reshape(steps * n, inputs), flat.T @ h_prev, flat.sum(axis=0))
