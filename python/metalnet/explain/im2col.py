"""im2col: turn a convolution into one matrix product (GEMM).

Every output cell y[n, k, p, q] is a dot product of the K-th filter, flattened to C*R*S
numbers, with the C*R*S input cells under its window. Write those input cells as a column:

    cols[(c, i, j), (p, q)] = xp[c, p*sh + i*dh, q*sw + j*dw]      (xp: x zero-padded)

one row per kernel weight (c, i, j), one column per output position (p, q). Then, per image,

    y (K x H_out*W_out) = w (K x C*R*S) @ cols (C*R*S x H_out*W_out)  (+ b down each row).

The price: a cell read by several windows is copied into several columns, so cols holds about
R*S/(sh*sw) times as many numbers as x. The gain: one large GEMM, the most tuned routine
there is, does all the arithmetic.
"""
from __future__ import annotations

import numpy as np

from .geometry import ConvGeometry

PADDING = -1   # the source index im2col_sources gives a padding cell


def _pad(x, padding):
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right)))


def im2col_matrix(image, kernel_shape, *, stride=1, padding=0, dilation=1):
    """The (C*R*S, H_out*W_out) im2col matrix of one image (C, H, W).

    ``kernel_shape`` is (R, S). Row (c, i, j) sits at index c*R*S + i*S + j, column (p, q) at
    p*W_out + q: the row-major orders of the weight w[k] and of the output plane y[n, k].
    """
    image = np.asarray(image)
    c, h, w = image.shape
    r, s = kernel_shape
    g = ConvGeometry.from_shapes((1, c, h, w), (1, c, r, s), stride, padding, dilation)
    xp = _pad(image, g.padding)
    cols = np.empty((c, r, s, g.rows.out, g.cols.out), dtype=image.dtype)
    for i in range(r):
        for j in range(s):
            # For a fixed weight (i, j) the cells it meets form a strided slice of xp.
            top, left = i * g.rows.dilation, j * g.cols.dilation
            cols[:, i, j] = xp[:, top:top + g.rows.stride * g.rows.out:g.rows.stride,
                               left:left + g.cols.stride * g.cols.out:g.cols.stride]
    return cols.reshape(c * r * s, g.rows.out * g.cols.out)


def im2col_sources(g: ConvGeometry) -> np.ndarray:
    """Which input cell each im2col entry copies: the flat index c*H*W + h*W + w, or
    ``PADDING`` (-1) for a padding cell. Shape (C*R*S, H_out*W_out), as ``im2col_matrix``."""
    h, w = g.rows.size, g.cols.size
    index = np.arange(g.c * h * w).reshape(g.c, h, w)
    # Shift by one so that padding (filled with 0) becomes -1 after shifting back.
    shifted = im2col_matrix(index + 1, (g.rows.kernel, g.cols.kernel), stride=g.stride,
                            padding=g.padding, dilation=g.dilation)
    return shifted - 1


def conv2d_im2col(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """Convolution as im2col + GEMM, one image at a time.

    Same signature and result as ``metalnet.reference.conv2d_forward``.
    """
    x, w = np.asarray(x), np.asarray(w)
    g = ConvGeometry.from_shapes(x.shape, w.shape, stride, padding, dilation)
    weights = w.reshape(g.k, g.taps)                       # (K, C*R*S): one filter per row
    y = np.empty(g.y_shape, dtype=np.result_type(x, w))
    for n in range(g.n):
        cols = im2col_matrix(x[n], (g.rows.kernel, g.cols.kernel), stride=g.stride,
                             padding=g.padding, dilation=g.dilation)
        y[n] = (weights @ cols).reshape(g.k, g.rows.out, g.cols.out)
    if b is not None:
        y += np.asarray(b).reshape(1, g.k, 1, 1)
    return y


def multiplications_im2col(g: ConvGeometry) -> int:
    """The GEMM (K x C*R*S) @ (C*R*S x H_out*W_out) per image: K*C*R*S*H_out*W_out products,
    the same count as the direct loops; im2col reorders the work, it does not remove any."""
    return g.n * g.k * g.taps * g.rows.out * g.cols.out
