"""Drop-in replacements for the classic CS231n assignment layer functions, on metalnet kernels.

``from metalnet.cs231n import *`` keeps a student's script working: every function has the
assignment's name, arguments, array layouts and return values ((out, cache) forward,
gradient tuples backward). Caches are opaque: pass them back to the matching backward.

Conventions kept from the assignments (they differ from metalnet's own layers):
- affine: w is (D, M) and x (N, d_1, ..., d_k) is reshaped to (N, D); out = x @ w + b.
- conv_param = {'stride': s, 'pad': p} (symmetric zero padding); pool_param =
  {'pool_height': ph, 'pool_width': pw, 'stride': s}.
- batch norm: bn_param = {'mode': 'train'|'test', 'eps': 1e-5, 'momentum': 0.9,
  'running_mean', 'running_var'}; running = momentum * running + (1 - momentum) * batch,
  with the biased batch variance, stored back into bn_param.
- dropout: dropout_param = {'p', 'mode', 'seed'} where p is the probability of KEEPING a
  unit; masks come from np.random (seeded with 'seed' when given), as in the assignment.
- LSTM: Wx (D, 4H), Wh (H, 4H), b (4H,), gate order (i, f, o, g); RNN: next_h = tanh(x Wx +
  prev_h Wh + b).
Arrays may be NumPy or CuPy; dtypes must not be mixed (float64 is the assignments' default).
"""
from __future__ import annotations

import numpy as np

from . import ops
from .autograd import array_module, scatter_add

__all__ = [
    "affine_forward", "affine_backward", "relu_forward", "relu_backward",
    "affine_relu_forward", "affine_relu_backward",
    "conv_forward_naive", "conv_backward_naive", "conv_forward_fast", "conv_backward_fast",
    "conv_relu_forward", "conv_relu_backward", "conv_relu_pool_forward", "conv_relu_pool_backward",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "softmax_loss", "svm_loss",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "dropout_forward", "dropout_backward",
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "word_embedding_forward", "word_embedding_backward",
    "temporal_affine_forward", "temporal_affine_backward", "temporal_softmax_loss",
]


def _c(a):
    return array_module(a).ascontiguousarray(a)


# ------------------------------------------------------------------------ affine, relu
def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b. x (N, d_1, ..., d_k), w (D, M), b (M,) -> (N, M)."""
    out = ops.gemm(_c(x.reshape(x.shape[0], -1)), _c(w))
    return out + b, (x, w, b)


def affine_backward(dout, cache):
    """dout (N, M) -> (dx shaped like x, dw (D, M), db (M,))."""
    x, w, _ = cache
    dout = _c(dout)
    dx = ops.gemm(dout, _c(w), trans_b=True).reshape(x.shape)
    dw = ops.gemm(_c(x.reshape(x.shape[0], -1)), dout, trans_a=True)
    return dx, dw, dout.sum(axis=0)


def relu_forward(x):
    """out = max(x, 0); cache = x."""
    return ops.relu_forward(_c(x)), x


def relu_backward(dout, cache):
    """dx = dout where x > 0."""
    return ops.relu_backward(_c(dout), _c(cache))


def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


# ------------------------------------------------------------------------ convolution
def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W'),
    H' = 1 + (H + 2 * pad - HH) // stride."""
    geometry = dict(stride=conv_param["stride"], padding=conv_param["pad"])
    out = ops.conv2d_forward(_c(x), _c(w), _c(b), **geometry)
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """-> (dx, dw, db)."""
    x, w, _, conv_param = cache
    return ops.conv2d_backward(_c(dout), _c(x), _c(w), stride=conv_param["stride"],
                               padding=conv_param["pad"])


conv_forward_fast = conv_forward_naive
conv_backward_fast = conv_backward_naive


def conv_relu_forward(x, w, b, conv_param):
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)


# ---------------------------------------------------------------------------- pooling
def max_pool_forward_naive(x, pool_param):
    """x (N, C, H, W) -> out (N, C, H', W'), H' = 1 + (H - pool_height) // stride."""
    kernel = (pool_param["pool_height"], pool_param["pool_width"])
    out, argmax = ops.max_pool2d_forward(_c(x), kernel, stride=pool_param["stride"])
    return out, (x, pool_param, argmax)


def max_pool_backward_naive(dout, cache):
    """dx: each dout routed to the maximum of its window."""
    x, _, argmax = cache
    return ops.max_pool2d_backward(_c(dout), argmax, tuple(x.shape))


max_pool_forward_fast = max_pool_forward_naive
max_pool_backward_fast = max_pool_backward_naive


# ----------------------------------------------------------------------------- losses
def softmax_loss(x, y):
    """Mean softmax cross-entropy of scores x (N, C) and labels y (N,) -> (loss, dx)."""
    loss, dx = ops.softmax_cross_entropy(_c(x), _c(y.astype(np.int64, copy=False)))
    return float(loss), dx


def svm_loss(x, y):
    """Mean multiclass hinge loss sum_{j != y} max(0, x_j - x_y + 1) -> (loss, dx)."""
    xp = array_module(x)
    n = x.shape[0]
    rows = xp.arange(n)
    margins = xp.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / n
    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] -= positive.sum(axis=1)
    return float(loss), positive / n


# ------------------------------------------------------------------------ batch norm
def batchnorm_forward(x, gamma, beta, bn_param):
    """x (N, D), gamma and beta (D,) -> (out, cache); updates bn_param's running stats."""
    xp = array_module(x)
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", xp.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", xp.zeros(d, dtype=x.dtype))
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, inv_std, gamma, mode)


def batchnorm_backward(dout, cache):
    """-> (dx, dgamma, dbeta); in 'train' mode dx includes the batch statistics' share."""
    x_hat, inv_std, gamma, mode = cache
    dgamma, dbeta = (dout * x_hat).sum(axis=0), dout.sum(axis=0)
    dx_hat = dout * gamma
    if mode == "test":
        return dx_hat * inv_std, dgamma, dbeta
    n = dout.shape[0]
    dx = inv_std / n * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


batchnorm_backward_alt = batchnorm_backward


def _channels_last(x):
    """(N, C, H, W) -> (N*H*W, C)."""
    n, c, h, w = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, c)


def _channels_first(x2, shape):
    n, c, h, w = shape
    return x2.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm per channel of x (N, C, H, W): statistics over N, H and W."""
    out, cache = batchnorm_forward(_channels_last(x), gamma, beta, bn_param)
    return _channels_first(out, x.shape), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    bn_cache, shape = cache
    dx, dgamma, dbeta = batchnorm_backward(_channels_last(dout), bn_cache)
    return _channels_first(dx, shape), dgamma, dbeta


# ---------------------------------------------------------------------------- dropout
def dropout_forward(x, dropout_param):
    """Inverted dropout keeping each unit with probability p: out = x * (rand < p) / p."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype)
        mask = array_module(x).asarray(mask)
        return x * mask, (dropout_param, mask)
    if mode == "test":
        return x, (dropout_param, None)
    raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


# -------------------------------------------------------------------------- vanilla RNN
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """next_h = tanh(x @ Wx + prev_h @ Wh + b). x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H)."""
    a = ops.gemm(_c(x), _c(Wx)) + ops.gemm(_c(prev_h), _c(Wh)) + b
    next_h = ops.tanh_forward(_c(a))
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """-> (dx, dprev_h, dWx, dWh, db)."""
    x, prev_h, Wx, Wh, next_h = cache
    da = ops.tanh_backward(_c(dnext_h), next_h)
    return (ops.gemm(da, _c(Wx), trans_b=True), ops.gemm(da, _c(Wh), trans_b=True),
            ops.gemm(_c(x), da, trans_a=True), ops.gemm(_c(prev_h), da, trans_a=True),
            da.sum(axis=0))


def rnn_forward(x, h0, Wx, Wh, b):
    """x (N, T, D), h0 (N, H) -> h (N, T, H) and the cache."""
    xp = array_module(x)
    n, t, _ = x.shape
    h = xp.empty((n, t, h0.shape[1]), dtype=x.dtype)
    caches, prev = [], h0
    for step in range(t):
        prev, cache = rnn_step_forward(x[:, step], prev, Wx, Wh, b)
        h[:, step] = prev
        caches.append(cache)
    return h, caches


def rnn_backward(dh, cache):
    """dh (N, T, H): upstream gradients of every h -> (dx, dh0, dWx, dWh, db)."""
    xp = array_module(dh)
    x0, _, Wx, Wh, _ = cache[0]
    n, t, _ = dh.shape
    dx = xp.empty((n, t, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros(Wh.shape[1], dtype=dh.dtype)
    dprev = xp.zeros_like(dh[:, 0])
    for step in reversed(range(t)):
        dx[:, step], dprev, dwx, dwh, dbs = rnn_step_backward(dh[:, step] + dprev, cache[step])
        dWx += dwx
        dWh += dwh
        db += dbs
    return dx, dprev, dWx, dWh, db


# ------------------------------------------------------------------------------- LSTM
def _gate_order(hidden, xp):
    """Column order taking the assignment's gates (i, f, o, g) to the kernel's (i, f, g, o)."""
    h = hidden
    return xp.concatenate([xp.arange(0, 2 * h), xp.arange(3 * h, 4 * h), xp.arange(2 * h, 3 * h)])


def _kernel_weights(Wx, Wh, b):
    """(D, 4H), (H, 4H), (4H,) in (i, f, o, g) -> w_ih (4H, D), w_hh (4H, H), b in (i, f, g, o)."""
    xp = array_module(Wx)
    order = _gate_order(Wh.shape[0], xp)
    return _c(Wx[:, order].T), _c(Wh[:, order].T), _c(b[order]), order


def _assignment_grads(dw_ih, dw_hh, db, order):
    """Kernel-layout weight gradients back to (D, 4H), (H, 4H), (4H,) in (i, f, o, g)."""
    xp = array_module(dw_ih)
    dWx, dWh, dB = (xp.empty_like(dw_ih.T), xp.empty_like(dw_hh.T), xp.empty_like(db))
    dWx[:, order], dWh[:, order], dB[order] = dw_ih.T, dw_hh.T, db
    return dWx, dWh, dB


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One step -> (next_h, next_c, cache). x (N, D), prev_h/prev_c (N, H)."""
    w_ih, w_hh, bias, order = _kernel_weights(Wx, Wh, b)
    next_h, next_c, kernel_cache = ops.lstm_cell_forward(_c(x), _c(prev_h), _c(prev_c), w_ih,
                                                         w_hh, bias)
    return next_h, next_c, (kernel_cache, order)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """-> (dx, dprev_h, dprev_c, dWx, dWh, db)."""
    kernel_cache, order = cache
    dx, dh, dc, dw_ih, dw_hh, db = ops.lstm_cell_backward(_c(dnext_h), _c(dnext_c), kernel_cache)
    return (dx, dh, dc) + _assignment_grads(dw_ih, dw_hh, db, order)


def lstm_forward(x, h0, Wx, Wh, b):
    """x (N, T, D), h0 (N, H), initial cell state zero -> h (N, T, H) and the cache."""
    xp = array_module(x)
    n, t, _ = x.shape
    w_ih, w_hh, bias, order = _kernel_weights(Wx, Wh, b)
    h = xp.empty((n, t, h0.shape[1]), dtype=x.dtype)
    prev_h, prev_c, caches = _c(h0), xp.zeros_like(h0), []
    for step in range(t):
        prev_h, prev_c, kernel_cache = ops.lstm_cell_forward(_c(x[:, step]), prev_h, prev_c,
                                                             w_ih, w_hh, bias)
        h[:, step] = prev_h
        caches.append(kernel_cache)
    return h, (caches, order)


def lstm_backward(dh, cache):
    """dh (N, T, H) -> (dx, dh0, dWx, dWh, db)."""
    caches, order = cache
    xp = array_module(dh)
    n, t, hidden = dh.shape
    first = caches[0]
    dx = xp.empty((n, t, first.x.shape[1]), dtype=dh.dtype)
    dw_ih, dw_hh = xp.zeros_like(first.w_ih), xp.zeros_like(first.w_hh)
    db = xp.zeros(4 * hidden, dtype=dh.dtype)
    dprev_h, dprev_c = xp.zeros((n, hidden), dtype=dh.dtype), xp.zeros((n, hidden), dtype=dh.dtype)
    for step in reversed(range(t)):
        dx[:, step], dprev_h, dprev_c, dwi, dwh, dbs = ops.lstm_cell_backward(
            _c(dh[:, step] + dprev_h), dprev_c, caches[step])
        dw_ih += dwi
        dw_hh += dwh
        db += dbs
    return (dx, dprev_h) + _assignment_grads(dw_ih, dw_hh, db, order)


# -------------------------------------------------------------- captioning helpers
def word_embedding_forward(x, W):
    """Integer x (N, T), W (V, D) -> out (N, T, D) = W[x]."""
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache):
    """-> dW (V, D): each dout row added to the row of its word (repeats add up)."""
    x, shape = cache
    dW = array_module(dout).zeros(shape, dtype=dout.dtype)
    return scatter_add(dW, x.reshape(-1), dout.reshape(-1, shape[1]))


def temporal_affine_forward(x, w, b):
    """x (N, T, D), w (D, M), b (M,) -> out (N, T, M) = x @ w + b at every step."""
    n, t, d = x.shape
    out, _ = affine_forward(x.reshape(n * t, d), w, b)
    return out.reshape(n, t, -1), (x, w, b)


def temporal_affine_backward(dout, cache):
    """-> (dx (N, T, D), dw (D, M), db (M,))."""
    x, w, b = cache
    n, t, d = x.shape
    dx, dw, db = affine_backward(dout.reshape(n * t, -1), (x.reshape(n * t, d), w, b))
    return dx.reshape(n, t, d), dw, db


def temporal_softmax_loss(x, y, mask):
    """Softmax loss summed over the unmasked steps and averaged over N.
    x (N, T, V), y (N, T) ints, mask (N, T) bool -> (loss, dx (N, T, V))."""
    xp = array_module(x)
    n, t, v = x.shape
    flat, labels, keep = x.reshape(n * t, v), y.reshape(n * t), mask.reshape(n * t)
    log_p = ops.log_softmax(_c(flat))
    rows = xp.arange(n * t)
    loss = -(log_p[rows, labels] * keep).sum() / n
    dx = xp.exp(log_p)
    dx[rows, labels] -= 1
    dx *= (keep / n)[:, None]
    return float(loss), dx.reshape(n, t, v)
