"""Convolution by its definition: seven nested loops, one multiply-add at a time.

    y[n, k, p, q] = b[k] + sum_{c, i, j} w[k, c, i, j] * x[n, c, p*sh - top  + i*dh,
                                                              q*sw - left + j*dw]

where a coordinate outside the input reads as zero (padding). This is the slowest way to
compute a convolution and the easiest to check by hand: every other algorithm in this package
must give the same numbers.

Multiplications: N * K * H_out * W_out * C * R * S (one per weight per output cell).
"""
from __future__ import annotations

import numpy as np

from .geometry import ConvGeometry


def conv2d_direct(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """2-D cross-correlation of x (N, C, H, W) with w (K, C, R, S) by nested loops.

    Same signature and result as ``metalnet.reference.conv2d_forward``.
    """
    x, w = np.asarray(x), np.asarray(w)
    g = ConvGeometry.from_shapes(x.shape, w.shape, stride, padding, dilation)
    rows, cols = g.rows, g.cols
    y = np.zeros(g.y_shape, dtype=np.result_type(x, w))
    for n in range(g.n):
        for k in range(g.k):
            for p in range(rows.out):
                for q in range(cols.out):
                    total = 0.0 if b is None else b[k]
                    for c in range(g.c):
                        for i in range(rows.kernel):
                            for j in range(cols.kernel):
                                h = p * rows.stride - rows.pad_before + i * rows.dilation
                                v = q * cols.stride - cols.pad_before + j * cols.dilation
                                # Padding cells are zero: skip them rather than pad a copy of x.
                                if 0 <= h < rows.size and 0 <= v < cols.size:
                                    total = total + w[k, c, i, j] * x[n, c, h, v]
                    y[n, k, p, q] = total
    return y


def multiplications_direct(g: ConvGeometry) -> int:
    """N*K*H_out*W_out*C*R*S, counting the products with padding zeros too (as a kernel that
    pads its input does)."""
    return g.n * g.k * g.rows.out * g.cols.out * g.taps
