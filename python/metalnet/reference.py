"""The NumPy reference: every metalnet primitive, forward and backward, written to be read.

This module is the oracle every other backend is tested against, and the code students read
next to the lecture notes. It favours clarity over speed, but stays vectorised over the batch,
channel and spatial axes (the only Python loops run over kernel or window offsets), so it is
usable on real, if small, problems.

Conventions (see DEVELOPERS.md):

- Arrays are NCHW. Convolution weights are (K, C, R, S), conv bias (K,); linear weights are
  (out, in). Convolution is cross-correlation: the kernel is not flipped.
- float32 or float64, never mixed within one call. Results have the input dtype and are
  computed in it.
- Geometry may be given in the user-facing forms: stride, dilation, kernel_size as an int or a
  (row, col) pair; padding as an int, (row, col) or (top, bottom, left, right). ``stride=None``
  in pooling means stride = kernel_size. Per axis the output size is

      out = floor((in + pad_before + pad_after - dilation*(k - 1) - 1) / stride) + 1.

The reference does not re-validate everything ``metalnet.ops`` checks, but it refuses (with a
ValueError or TypeError) what it cannot give a meaningful answer for rather than returning
garbage: mixed or non-float dtypes, mismatched shapes, a kernel larger than the padded input,
pooling padding of more than half the kernel.
"""
import typing

import numpy as np

from . import _args

__all__ = [
    "gemm",
    "bias_add", "bias_add_backward",
    "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "softmax_cross_entropy",
    "LSTMCache", "lstm_cell_forward", "lstm_cell_backward",
    "LSTMSequenceCache", "lstm_forward", "lstm_backward",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _common_dtype(*arrays):
    """The one float dtype (float32 or float64) shared by all the given arrays (None skipped)."""
    dtypes = {np.asarray(a).dtype for a in arrays if a is not None}
    if len(dtypes) != 1:
        raise TypeError(f"all arrays must share one dtype, got {sorted(str(d) for d in dtypes)}")
    (dtype,) = dtypes
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"arrays must be float32 or float64, got {dtype}")
    return dtype


def _window_slice(start, step, count):
    """The slice start, start+step, ..., start+step*(count-1) along one axis."""
    return slice(start, start + step * (count - 1) + 1, step)


def _pad_nchw(x, padding, value=0):
    """Pad the two spatial axes of an NCHW array by (top, bottom, left, right)."""
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _require_4d(x, name):
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got shape {x.shape}")


# --------------------------------------------------------------------------------------------
# GEMM
# --------------------------------------------------------------------------------------------

def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """General matrix multiply: ``alpha * op(a) @ op(b) + beta * c`` as a new array.

    op(a) is ``a.T`` when ``trans_a`` else ``a`` (likewise for b).

    Shapes: op(a) is (M, K), op(b) is (K, N), c (if given) is (M, N); the result is (M, N).

    - ``c`` is never modified.
    - When ``c`` is None, ``beta`` is ignored (the result is ``alpha * op(a) @ op(b)``).
    - As in BLAS, ``beta == 0`` means c is not read at all, so NaN or Inf in c do not leak into
      the result.
    - K = 0 is legal: the product is an (M, N) matrix of zeros, so the result is ``beta * c``
      (or zeros). M = 0 or N = 0 gives an empty result.

    The backward pass of a matrix product is again a matrix product (``dA = dC @ B.T``,
    ``dB = A.T @ dC``), hence no separate gemm backward.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    dtype = _common_dtype(a, b, c)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a and b must be 2-D, got shapes {a.shape} and {b.shape}")
    op_a = a.T if trans_a else a
    op_b = b.T if trans_b else b
    m, k = op_a.shape
    k_b, n = op_b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: op(a) is {op_a.shape}, op(b) is {op_b.shape}")

    if c is not None and np.shape(c) != (m, n):
        raise ValueError(f"c must have shape {(m, n)}, got {np.shape(c)}")

    out = dtype.type(alpha) * (op_a @ op_b)        # (M, N); zeros when K == 0
    if c is not None and beta != 0:
        out = out + dtype.type(beta) * np.asarray(c)
    return np.ascontiguousarray(out, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Bias
# --------------------------------------------------------------------------------------------
def bias_add(x, b):
    """y = x + b along the channel axis (axis 1).

    Shapes: x (N, C) or (N, C, H, W) (any trailing axes), b (C,) -> y like x.
    Every element of channel c gets b[c]: y[n, c, ...] = x[n, c, ...] + b[c].
    """
    x, b = np.asarray(x), np.asarray(b)
    dtype = _common_dtype(x, b)
    if x.ndim < 2 or b.shape != (x.shape[1],):
        raise ValueError(f"bias_add needs x (N, C, ...) and b (C,), got {x.shape} and {b.shape}")
    return (x + b.reshape((1, -1) + (1,) * (x.ndim - 2))).astype(dtype, copy=False)


def bias_add_backward(dy):
    """db[c] = sum of dy over every axis but the channel axis 1 (each b[c] fed all of them).

    Shapes: dy (N, C, ...) -> db (C,).
    """
    dy = np.asarray(dy)
    axes = (0,) + tuple(range(2, dy.ndim))
    return dy.sum(axis=axes).astype(dy.dtype, copy=False)


# --------------------------------------------------------------------------------------------
# 2-D convolution (cross-correlation)
# --------------------------------------------------------------------------------------------

def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """Normalise the geometry and compute the output size of a convolution."""
    stride = _args.pair(stride, "stride")
    dilation = _args.pair(dilation, "dilation")
    padding = _args.padding4(padding)
    _, _, h, w = x_shape
    _, _, r, s = w_shape
    h_out, w_out = _args.conv_out_hw(h, w, (r, s), stride, padding, dilation)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(
            f"the dilated kernel {(r, s)} (dilation {dilation}) does not fit in the padded "
            f"input {(h, w)} with padding {padding}"
        )
    return stride, padding, dilation, h_out, w_out


def _im2col(x_padded, r, s, stride, dilation, h_out, w_out):
    """Gather every receptive field: (N, C, Hp, Wp) -> cols (N, C, R, S, H_out, W_out).

    ``cols[n, c, i, j, p, q] = x_padded[n, c, p*sh + i*dh, q*sw + j*dw]``: for one kernel offset
    (i, j) the values under it at all output positions form a strided slice of the input.
    """
    (sh, sw), (dh, dw) = stride, dilation
    n, c = x_padded.shape[:2]
    cols = np.empty((n, c, r, s, h_out, w_out), dtype=x_padded.dtype)
    for i in range(r):
        for j in range(s):
            rows = _window_slice(i * dh, sh, h_out)
            columns = _window_slice(j * dw, sw, w_out)
            cols[:, :, i, j] = x_padded[:, :, rows, columns]
    return cols


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, no kernel flip) of an NCHW batch.

    Shapes: x (N, C, H, W), w (K, C, R, S), b (K,) or None -> y (N, K, H_out, W_out) with

        H_out = floor((H + pad_top + pad_bottom - dh*(R-1) - 1) / sh) + 1
        W_out = floor((W + pad_left + pad_right - dw*(S-1) - 1) / sw) + 1

    and, writing xp for x zero-padded by (top, bottom, left, right),

        y[n, k, p, q] = b[k] + sum_{c, i, j} w[k, c, i, j] * xp[n, c, p*sh + i*dh, q*sw + j*dw].

    stride and dilation: int or (row, col); padding: int, (row, col) or (top, bottom, left,
    right). N = 0 gives an empty output; C = 0 gives y = b broadcast (zeros without a bias).

    Implementation: im2col (one strided slice of the padded input per kernel offset) followed
    by one tensor contraction over (C, R, S).
    """
    x = np.asarray(x)
    w = np.asarray(w)
    dtype = _common_dtype(x, w, b)
    _require_4d(x, "x")
    _require_4d(w, "w")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]}")
    k, _, r, s = w.shape
    if b is not None and np.shape(b) != (k,):
        raise ValueError(f"b must have shape {(k,)}, got {np.shape(b)}")
    stride, padding, dilation, h_out, w_out = _conv_geometry(x.shape, w.shape, stride, padding,
                                                             dilation)

    cols = _im2col(_pad_nchw(x, padding), r, s, stride, dilation, h_out, w_out)
    # Contract (C, R, S): cols (N, C, R, S, Ho, Wo) x w (K, C, R, S) -> (N, Ho, Wo, K).
    y = np.tensordot(cols, w, axes=([1, 2, 3], [1, 2, 3]))
    y = y.transpose(0, 3, 1, 2)                    # -> (N, K, Ho, Wo)
    if b is not None:
        y = y + np.asarray(b).reshape(1, k, 1, 1)
    return np.ascontiguousarray(y, dtype=dtype)


def conv2d_backward(dy, x, w, *, stride=1, padding=0, dilation=1, need_dx=True, need_dw=True,
                    need_db=True):
    """Gradients of conv2d_forward: returns (dx, dw, db); dx is None when not ``need_dx`` (a
    layer whose input needs no gradient, e.g. a network's first), dw and db are None when not
    ``need_dw`` (a transposed convolution's forward pass, which is this dx alone), db alone
    when not ``need_db`` (a layer without a bias).

    Given dy = dL/dy (N, K, H_out, W_out), the input x (N, C, H, W) and weights w (K, C, R, S):

        db[k]          = sum_{n, p, q} dy[n, k, p, q]
        dw[k, c, i, j] = sum_{n, p, q} dy[n, k, p, q] * xp[n, c, p*sh + i*dh, q*sw + j*dw]
        dxp[n, c, p*sh + i*dh, q*sw + j*dw] += sum_k dy[n, k, p, q] * w[k, c, i, j]

    and dx is dxp with the padding cropped off (gradient flowing into padding is dropped).
    db is returned whether or not the forward pass used a bias, unless need_db is False.

    Implementation: dw contracts dy with the im2col matrix; dx computes the column gradients
    ("col2im") and scatter-adds them, one kernel offset at a time, into a padded dx.
    """
    dy = np.asarray(dy)
    x = np.asarray(x)
    w = np.asarray(w)
    dtype = _common_dtype(dy, x, w)
    _require_4d(x, "x")
    _require_4d(w, "w")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]}")
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    stride, padding, dilation, h_out, w_out = _conv_geometry(x.shape, w.shape, stride, padding,
                                                             dilation)
    if dy.shape != (n, k, h_out, w_out):
        raise ValueError(f"dy must have shape {(n, k, h_out, w_out)}, got {dy.shape}")
    (sh, sw), (dh, dw_), (top, bottom, left, right) = stride, dilation, padding

    x_padded = _pad_nchw(x, padding)
    dw = db = None
    if need_dw:
        if need_db:
            db = np.ascontiguousarray(dy.sum(axis=(0, 2, 3)), dtype=dtype)
        cols = _im2col(x_padded, r, s, stride, dilation, h_out, w_out)
        # dw: contract (N, Ho, Wo): dy (N, K, Ho, Wo) x cols (N, C, R, S, Ho, Wo) -> (K, C, R, S).
        dw = np.ascontiguousarray(np.tensordot(dy, cols, axes=([0, 2, 3], [0, 4, 5])), dtype=dtype)

    if not need_dx:
        return None, dw, db
    # Column gradients: contract K: w (K, C, R, S) x dy (N, K, Ho, Wo) -> (C, R, S, N, Ho, Wo).
    dcols = np.tensordot(w, dy, axes=([0], [1]))
    dx_padded = np.zeros_like(x_padded)
    for i in range(r):
        for j in range(s):
            rows = _window_slice(i * dh, sh, h_out)
            columns = _window_slice(j * dw_, sw, w_out)
            # dcols[:, i, j] is (C, N, Ho, Wo); move N to the front to match dx.
            dx_padded[:, :, rows, columns] += dcols[:, i, j].transpose(1, 0, 2, 3)
    dx = dx_padded[:, :, top:top + h, left:left + wd]

    return np.ascontiguousarray(dx, dtype=dtype), dw, db


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------

def _pool_geometry(x_shape, kernel_size, stride, padding):
    """Normalise pooling geometry; refuse windows that could hold no real input cell."""
    kernel = _args.pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _args.pair(stride, "stride")
    padding = _args.padding4(padding)
    kh, kw = kernel
    top, bottom, left, right = padding
    if 2 * max(top, bottom) > kh or 2 * max(left, right) > kw:
        raise ValueError(
            f"pooling padding {padding} must be at most half the kernel {kernel} on every side"
        )
    _, _, h, w = x_shape
    if h == 0 or w == 0:
        raise ValueError(f"pooling needs a non-empty input plane, got H, W = {(h, w)}")
    h_out, w_out = _args.pool_out_hw(h, w, kernel, stride, padding)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"kernel {kernel} does not fit in the padded input {(h, w)} "
                         f"with padding {padding}")
    return kernel, stride, padding, h_out, w_out


def max_pool2d_forward(x, kernel_size, *, stride=None, padding=0):
    """Max pooling over kh x kw windows; returns (y, argmax).

    Shapes: x (N, C, H, W) -> y, argmax (N, C, H_out, W_out), with the output size of a
    convolution of dilation 1 (``stride=None`` means stride = kernel_size):

        y[n, c, p, q] = max over the real (not padding) cells of the window
                        rows p*sh - top .. p*sh - top + kh - 1, cols q*sw - left .. + kw - 1.

    argmax (int64) is the flat index ``h*W + w`` of the winning cell in the unpadded (H, W)
    plane of its (n, c). Ties go to the first cell in row-major window order; padded cells never
    win (each padding side must be at most half the kernel, so every window holds a real cell).
    A NaN in a window wins (the first NaN in window order), so NaN propagates like np.max.
    """
    x = np.asarray(x)
    dtype = _common_dtype(x)
    _require_4d(x, "x")
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), padding, h_out, w_out = _pool_geometry(x.shape, kernel_size, stride,
                                                               padding)
    top, _, left, _ = padding

    x_padded = _pad_nchw(x, padding, value=0)
    is_real = _pad_nchw(np.ones((1, 1, h, w), dtype=bool), padding, value=False)

    best = np.zeros((n, c, h_out, w_out), dtype=dtype)
    argmax = np.full((n, c, h_out, w_out), -1, dtype=np.int64)
    # Row-major walk over the window offsets, so a strict '>' keeps the first of equal values.
    for i in range(kh):
        for j in range(kw):
            rows = _window_slice(i, sh, h_out)
            columns = _window_slice(j, sw, w_out)
            value = x_padded[:, :, rows, columns]              # (N, C, Ho, Wo)
            real = is_real[:, :, rows, columns]                # (1, 1, Ho, Wo)
            # Input coordinates of this offset at every output position -> flat index h*W + w.
            in_row = np.arange(h_out) * sh + i - top
            in_col = np.arange(w_out) * sw + j - left
            flat = in_row[:, None] * w + in_col[None, :]       # (Ho, Wo)

            first = argmax < 0
            better = (value > best) | (np.isnan(value) & ~np.isnan(best))
            take = real & (first | better)
            best = np.where(take, value, best)
            argmax = np.where(take, flat, argmax)
    return np.ascontiguousarray(best, dtype=dtype), np.ascontiguousarray(argmax, dtype=np.int64)


def max_pool2d_backward(dy, argmax, x_shape):
    """Gradient of max pooling: route each dy to the input cell that won its window.

        dx[n, c].flat[argmax[n, c, p, q]] += dy[n, c, p, q]

    Shapes: dy and argmax (N, C, H_out, W_out), x_shape = (N, C, H, W) -> dx (N, C, H, W).
    Overlapping windows (stride < kernel) may pick the same cell: the contributions add up.
    """
    dy = np.asarray(dy)
    argmax = np.asarray(argmax)
    dtype = _common_dtype(dy)
    n, c, h, w = (int(v) for v in x_shape)
    if argmax.shape != dy.shape or dy.shape[:2] != (n, c):
        raise ValueError(f"dy {dy.shape} and argmax {argmax.shape} must match and start with "
                         f"(N, C) = {(n, c)}")
    windows = dy.shape[2] * dy.shape[3]                        # H_out * W_out
    dx = np.zeros((n * c, h * w), dtype=dtype)
    planes = np.arange(n * c)[:, None]                         # one row per (n, c) plane
    np.add.at(dx, (planes, argmax.reshape(n * c, windows)), dy.reshape(n * c, windows))
    return dx.reshape(n, c, h, w)


def _avg_pool_divisor(h, w, kernel, stride, padding, h_out, w_out, count_include_pad, dtype):
    """Per-output-position divisor (H_out, W_out) of average pooling."""
    kh, kw = kernel
    if count_include_pad:
        return np.full((h_out, w_out), kh * kw, dtype=dtype)
    # Count the real cells under each window: pool a plane of ones padded with zeros.
    sh, sw = stride
    ones = _pad_nchw(np.ones((1, 1, h, w), dtype=dtype), padding, value=0)
    count = np.zeros((h_out, w_out), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            count += ones[0, 0, _window_slice(i, sh, h_out), _window_slice(j, sw, w_out)]
    return count


def avg_pool2d_forward(x, kernel_size, *, stride=None, padding=0, count_include_pad=True):
    """Average pooling over kh x kw windows of the zero-padded input.

    Shapes: x (N, C, H, W) -> y (N, C, H_out, W_out) (dilation-1 convolution output size;
    ``stride=None`` means stride = kernel_size):

        y[n, c, p, q] = (sum of the window over xp) / divisor[p, q]

    where xp is x zero-padded and the divisor is kh*kw when ``count_include_pad`` is True, else
    the number of real (unpadded) cells inside the window (at least 1, since each padding side is
    at most half the kernel).
    """
    x = np.asarray(x)
    dtype = _common_dtype(x)
    _require_4d(x, "x")
    n, c, h, w = x.shape
    kernel, stride, padding, h_out, w_out = _pool_geometry(x.shape, kernel_size, stride, padding)
    (kh, kw), (sh, sw) = kernel, stride

    x_padded = _pad_nchw(x, padding, value=0)
    total = np.zeros((n, c, h_out, w_out), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            total += x_padded[:, :, _window_slice(i, sh, h_out), _window_slice(j, sw, w_out)]
    divisor = _avg_pool_divisor(h, w, kernel, stride, padding, h_out, w_out, count_include_pad,
                                dtype)
    return np.ascontiguousarray(total / divisor, dtype=dtype)


def avg_pool2d_backward(dy, x_shape, kernel_size, *, stride=None, padding=0,
                        count_include_pad=True):
    """Gradient of average pooling: spread dy[p, q] / divisor[p, q] over its window.

        dxp[n, c, p*sh + i, q*sw + j] += dy[n, c, p, q] / divisor[p, q]   for all i < kh, j < kw

    then dx is dxp with the padding cropped off. Shapes: dy (N, C, H_out, W_out),
    x_shape = (N, C, H, W) -> dx (N, C, H, W). The divisor is the one of avg_pool2d_forward.
    """
    dy = np.asarray(dy)
    dtype = _common_dtype(dy)
    n, c, h, w = (int(v) for v in x_shape)
    kernel, stride, padding, h_out, w_out = _pool_geometry((n, c, h, w), kernel_size, stride,
                                                           padding)
    if dy.shape != (n, c, h_out, w_out):
        raise ValueError(f"dy must have shape {(n, c, h_out, w_out)}, got {dy.shape}")
    (kh, kw), (sh, sw), (top, bottom, left, right) = kernel, stride, padding

    divisor = _avg_pool_divisor(h, w, kernel, stride, padding, h_out, w_out, count_include_pad,
                                dtype)
    share = dy / divisor                                       # what each window cell receives
    dx_padded = np.zeros((n, c, h + top + bottom, w + left + right), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            dx_padded[:, :, _window_slice(i, sh, h_out), _window_slice(j, sw, w_out)] += share
    dx = dx_padded[:, :, top:top + h, left:left + w]
    return np.ascontiguousarray(dx, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Elementwise activations
# --------------------------------------------------------------------------------------------

def relu_forward(x):
    """y = max(x, 0), elementwise, any shape."""
    x = np.asarray(x)
    dtype = _common_dtype(x)
    return np.maximum(x, dtype.type(0))


def relu_backward(dy, x):
    """dx = dy where x > 0, else 0. Takes the forward INPUT x (the derivative at 0 is 0)."""
    dy = np.asarray(dy)
    x = np.asarray(x)
    dtype = _common_dtype(dy, x)
    return np.where(x > 0, dy, dtype.type(0)).astype(dtype, copy=False)


def leaky_relu_forward(x, negative_slope=0.01):
    """y = x where x > 0, else negative_slope * x, elementwise."""
    x = np.asarray(x)
    dtype = _common_dtype(x)
    slope = dtype.type(negative_slope)
    return np.where(x > 0, x, slope * x).astype(dtype, copy=False)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    """dx = dy where x > 0, else negative_slope * dy. Takes the forward INPUT x."""
    dy = np.asarray(dy)
    x = np.asarray(x)
    dtype = _common_dtype(dy, x)
    slope = dtype.type(negative_slope)
    return np.where(x > 0, dy, slope * dy).astype(dtype, copy=False)


def sigmoid_forward(x):
    """y = 1 / (1 + exp(-x)), elementwise, computed without overflow.

    With e = exp(-|x|) (always in (0, 1]): y = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0.
    """
    x = np.asarray(x)
    dtype = _common_dtype(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(dtype, copy=False)


def sigmoid_backward(dy, y):
    """dx = dy * y * (1 - y). Takes the forward OUTPUT y = sigmoid(x)."""
    dy = np.asarray(dy)
    y = np.asarray(y)
    dtype = _common_dtype(dy, y)
    return (dy * y * (1 - y)).astype(dtype, copy=False)


def tanh_forward(x):
    """y = tanh(x), elementwise."""
    x = np.asarray(x)
    dtype = _common_dtype(x)
    return np.tanh(x).astype(dtype, copy=False)


def tanh_backward(dy, y):
    """dx = dy * (1 - y^2). Takes the forward OUTPUT y = tanh(x)."""
    dy = np.asarray(dy)
    y = np.asarray(y)
    dtype = _common_dtype(dy, y)
    return (dy * (1 - y * y)).astype(dtype, copy=False)


# --------------------------------------------------------------------------------------------
# Softmax and the cross-entropy loss
# --------------------------------------------------------------------------------------------

def softmax(x):
    """Softmax over the last axis (x is (N, C) in metalnet's API):

        y[n, c] = exp(x[n, c] - m[n]) / sum_j exp(x[n, j] - m[n]),   m[n] = max_j x[n, j].

    Subtracting the row maximum changes nothing mathematically but keeps exp from overflowing.
    N = 0 or C = 0 gives an empty result.
    """
    x = np.asarray(x)
    dtype = _common_dtype(x)
    if x.shape[-1] == 0:
        return x.copy()
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype, copy=False)


def log_softmax(x):
    """log(softmax(x)) over the last axis, computed stably:

        log_softmax(x)[n, c] = (x[n, c] - m[n]) - log(sum_j exp(x[n, j] - m[n])),  m[n] = max_j x.
    """
    x = np.asarray(x)
    dtype = _common_dtype(x)
    if x.shape[-1] == 0:
        return x.copy()
    z = x - x.max(axis=-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(dtype, copy=False)


def softmax_backward(dy, y):
    """Gradient of softmax over the last axis, from its OUTPUT y:

        dx[n, c] = y[n, c] * (dy[n, c] - sum_j dy[n, j] * y[n, j]).

    (Not one of the backend primitives; provided for the reference's gradient checks and for
    students.)
    """
    dy = np.asarray(dy)
    y = np.asarray(y)
    dtype = _common_dtype(dy, y)
    return (y * (dy - (dy * y).sum(axis=-1, keepdims=True))).astype(dtype, copy=False)


def log_softmax_backward(dy, y):
    """Gradient of log_softmax over the last axis, from its OUTPUT y = log_softmax(x):

        dx[n, c] = dy[n, c] - exp(y[n, c]) * sum_j dy[n, j].

    (Not one of the backend primitives; provided for the reference's gradient checks and for
    students.)
    """
    dy = np.asarray(dy)
    y = np.asarray(y)
    dtype = _common_dtype(dy, y)
    return (dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)).astype(dtype, copy=False)


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy over the batch, and its gradient.

    logits (N, C) float, labels (N,) integers in [0, C). Returns (loss, dlogits):

        loss       = -(1/N) * sum_n log_softmax(logits)[n, labels[n]]
        dlogits    = (softmax(logits) - onehot(labels)) / N               (N, C)

    loss is a 0-d array of the logits dtype. For N = 0 the mean is 0/0: loss is NaN and dlogits
    is the empty (0, C) array.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    dtype = _common_dtype(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, C), got shape {logits.shape}")
    n, c = logits.shape
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape {(n,)}, got {labels.dtype} "
                         f"{labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"labels must lie in [0, {c}), got values in "
                         f"[{labels.min()}, {labels.max()}]")
    if n == 0:
        return np.array(np.nan, dtype=dtype), np.zeros((0, c), dtype=dtype)

    rows = np.arange(n)
    log_p = log_softmax(logits)
    loss = -log_p[rows, labels].sum() / dtype.type(n)

    dlogits = np.exp(log_p)                                    # softmax(logits)
    dlogits[rows, labels] -= 1
    dlogits /= dtype.type(n)
    return np.asarray(loss, dtype=dtype), dlogits.astype(dtype, copy=False)


# --------------------------------------------------------------------------------------------
# LSTM cell
# --------------------------------------------------------------------------------------------

class LSTMCache(typing.NamedTuple):
    """What lstm_cell_backward needs from the forward pass (the same tuple on every backend).

    x (N, I), h (N, H), c (N, H): the inputs; w_ih (4H, I), w_hh (4H, H): the weights;
    gates (N, 4H): the ACTIVATED gates [i | f | g | o]; c_next (N, H): the new cell state.
    """
    x: np.ndarray
    h: np.ndarray
    c: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    gates: np.ndarray
    c_next: np.ndarray


def lstm_cell_forward(x, h, c, w_ih, w_hh, b):
    """One LSTM step; gate order (i, f, g, o). Returns (h_next, c_next, cache).

    Shapes: x (N, I), h and c (N, H), w_ih (4H, I), w_hh (4H, H), b (4H,) (None means zero).

        a      = x @ w_ih.T + h @ w_hh.T + b            pre-activations (N, 4H) = [a_i|a_f|a_g|a_o]
        i      = sigmoid(a_i)    input gate
        f      = sigmoid(a_f)    forget gate
        g      = tanh(a_g)       candidate cell
        o      = sigmoid(a_o)    output gate
        c_next = f * c + i * g
        h_next = o * tanh(c_next)
    """
    x, h, c, w_ih, w_hh = (np.asarray(v) for v in (x, h, c, w_ih, w_hh))
    dtype = _common_dtype(x, h, c, w_ih, w_hh, b)
    n, hidden = h.shape
    if (c.shape != (n, hidden) or x.shape[0] != n or w_ih.shape != (4 * hidden, x.shape[1])
            or w_hh.shape != (4 * hidden, hidden)
            or (b is not None and np.shape(b) != (4 * hidden,))):
        raise ValueError(f"inconsistent LSTM shapes: x {x.shape}, h {h.shape}, c {c.shape}, "
                         f"w_ih {w_ih.shape}, w_hh {w_hh.shape}, b {np.shape(b)}")

    a = x @ w_ih.T + h @ w_hh.T
    if b is not None:
        a = a + np.asarray(b)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i = sigmoid_forward(a_i)
    f = sigmoid_forward(a_f)
    g = tanh_forward(a_g)
    o = sigmoid_forward(a_o)
    c_next = (f * c + i * g).astype(dtype, copy=False)
    h_next = (o * np.tanh(c_next)).astype(dtype, copy=False)
    gates = np.concatenate([i, f, g, o], axis=1).astype(dtype, copy=False)
    return h_next, c_next, LSTMCache(x, h, c, w_ih, w_hh, gates, c_next)


def lstm_cell_backward(dh_next, dc_next, cache):
    """Gradients of one LSTM step. Returns (dx, dh, dc, dw_ih, dw_hh, db).

    dh_next, dc_next (N, H) are the upstream gradients of h_next and c_next (dc_next carries the
    gradient coming from the next time step). With t = tanh(c_next):

        dc_total = dc_next + dh_next * o * (1 - t^2)     everything that reaches c_next
        do = dh_next * t                  da_o = do * o * (1 - o)
        di = dc_total * g                 da_i = di * i * (1 - i)
        df = dc_total * c                 da_f = df * f * (1 - f)
        dg = dc_total * i                 da_g = dg * (1 - g^2)
        dc = dc_total * f

    and with da = [da_i|da_f|da_g|da_o] (N, 4H):

        dx = da @ w_ih,  dh = da @ w_hh,  dw_ih = da.T @ x,  dw_hh = da.T @ h,  db = sum_n da.
    """
    x, h, c, w_ih, w_hh, gates, c_next = cache
    dh_next = np.asarray(dh_next)
    dc_next = np.asarray(dc_next)
    dtype = _common_dtype(dh_next, dc_next, x, h, c, w_ih, w_hh, gates, c_next)
    if dh_next.shape != c_next.shape or dc_next.shape != c_next.shape:
        raise ValueError(f"dh_next {dh_next.shape} and dc_next {dc_next.shape} must have the "
                         f"shape of c_next {c_next.shape}")
    i, f, g, o = np.split(gates, 4, axis=1)

    t = np.tanh(c_next)
    dc_total = dc_next + dh_next * o * (1 - t * t)
    da_o = dh_next * t * o * (1 - o)
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * c * f * (1 - f)
    da_g = dc_total * i * (1 - g * g)
    dc = dc_total * f
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)

    dx = da @ w_ih
    dh = da @ w_hh
    dw_ih = da.T @ x
    dw_hh = da.T @ h
    db = da.sum(axis=0)
    return tuple(np.ascontiguousarray(v, dtype=dtype) for v in (dx, dh, dc, dw_ih, dw_hh, db))


# --------------------------------------------------------------------------------------------
# LSTM over a sequence
# --------------------------------------------------------------------------------------------
class LSTMSequenceCache(typing.NamedTuple):
    """What lstm_backward needs from lstm_forward (the same tuple on every backend).

    x (T, N, I), h0 and c0 (N, H), w_ih (4H, I), w_hh (4H, H); per step the hidden and cell
    states hs, cs (T, N, H) and the ACTIVATED gates (T, N, 4H).
    """
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    hs: np.ndarray
    cs: np.ndarray
    gates: np.ndarray


def lstm_forward(x, h0, c0, w_ih, w_hh, b, *, keep_cache=True):
    """An LSTM over T steps: lstm_cell_forward applied in turn, h and c carried along.

    Shapes: x (T, N, I), h0 and c0 (N, H), w_ih (4H, I), w_hh (4H, H), b (4H,).
    Returns (hs, h_last, c_last, cache) with hs (T, N, H) the hidden state after every step;
    cache is None with keep_cache=False (no backward to follow).
    (A fast implementation computes x @ w_ih.T for all steps in one product: only the h @ w_hh.T
    term has to wait for the previous step.)
    """
    x = np.asarray(x)
    steps, n = x.shape[:2]
    hidden = np.shape(h0)[1]
    dtype = _common_dtype(x, h0, c0, w_ih, w_hh, b)
    hs = np.empty((steps, n, hidden), dtype)
    cs = np.empty((steps, n, hidden), dtype)
    gates = np.empty((steps, n, 4 * hidden), dtype)
    h, c = h0, c0
    for t in range(steps):
        h, c, cell = lstm_cell_forward(x[t], h, c, w_ih, w_hh, b)
        hs[t], cs[t], gates[t] = h, c, cell.gates
    cache = LSTMSequenceCache(x, h0, c0, w_ih, w_hh, hs, cs, gates) if keep_cache else None
    return hs, hs[-1], cs[-1], cache


def lstm_backward(dhs, dh_last, dc_last, cache):
    """Gradients of lstm_forward: (dx, dh0, dc0, dw_ih, dw_hh, db).

    dhs (T, N, H) is the gradient of every step's output h (None: no loss on them), dh_last and
    dc_last (N, H) those of the final h and c (None: zero). Backpropagation through time: walk
    the steps backwards, each step's dh being dhs[t] plus what flows back from step t+1, and
    add up the weight gradients of all steps.
    """
    x, h0, c0, w_ih, w_hh, hs, cs, gates = cache
    steps = x.shape[0]
    dh = np.zeros_like(h0) if dh_last is None else np.asarray(dh_last)
    dc = np.zeros_like(c0) if dc_last is None else np.asarray(dc_last)
    dx = np.empty_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(w_ih.shape[0], dtype=x.dtype)
    for t in reversed(range(steps)):
        h_prev, c_prev = (hs[t - 1], cs[t - 1]) if t else (h0, c0)
        step = LSTMCache(x[t], h_prev, c_prev, w_ih, w_hh, gates[t], cs[t])
        dh_t = dh if dhs is None else dh + dhs[t]
        dx[t], dh, dc, dwi, dwh, dbt = lstm_cell_backward(dh_t, dc, step)
        dw_ih += dwi
        dw_hh += dwh
        db += dbt
    return dx, dh, dc, dw_ih, dw_hh, db
