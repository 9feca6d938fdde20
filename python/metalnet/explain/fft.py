"""Convolution through the Fourier transform.

The correlation theorem: correlating two signals is multiplying their spectra, one of them
conjugated. For the padded input xp (Hp x Wp) and a filter g zero-filled to the same size,

    z[p, q] = sum_{i, j} g[i, j] * xp[(p + i) mod Hp, (q + j) mod Wp]
            = IFFT2( FFT2(xp) * conj(FFT2(g)) )[p, q].

The "mod" makes this a circular correlation, but for p <= Hp - span_h and q <= Wp - span_w the
window never wraps around, and those z[p, q] are exactly the stride-1 convolution outputs.
Stride keeps every sh-th row and sw-th column of them; dilation spreads the filter taps apart
with zeros before transforming. Summing over input channels happens in the frequency domain.

The cost does not grow with the kernel size: about (Hp*Wp) * log2(Hp*Wp) per transform plus one
complex product per frequency, so FFT wins for large kernels and loses for 3x3 ones.
"""
from __future__ import annotations

import math

import numpy as np

from .geometry import ConvGeometry


def dilate_kernel(w, dilation):
    """Insert dilation-1 zeros between the taps of w (K, C, R, S) along each axis."""
    dh, dw = dilation
    k, c, r, s = w.shape
    out = np.zeros((k, c, dh * (r - 1) + 1, dw * (s - 1) + 1), dtype=w.dtype)
    out[:, :, ::dh, ::dw] = w
    return out


def conv2d_fft(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """Convolution as a product of spectra (real FFTs, numpy.fft).

    Same signature and result as ``metalnet.reference.conv2d_forward``.
    """
    x, w = np.asarray(x), np.asarray(w)
    g = ConvGeometry.from_shapes(x.shape, w.shape, stride, padding, dilation)
    dtype = np.result_type(x, w)
    top, bottom, left, right = g.padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    size = (g.rows.padded, g.cols.padded)

    spectrum_x = np.fft.rfft2(xp, s=size)                              # (N, C, Hp, Wp//2+1)
    spectrum_w = np.fft.rfft2(dilate_kernel(w, g.dilation), s=size)    # (K, C, Hp, Wp//2+1)
    # Multiply per frequency and sum over c; conj turns convolution into correlation.
    spectrum_y = np.einsum("ncuv,kcuv->nkuv", spectrum_x, np.conj(spectrum_w))
    z = np.fft.irfft2(spectrum_y, s=size)                               # (N, K, Hp, Wp)

    # Keep the windows that did not wrap around, every stride-th one.
    y = z[:, :, :g.rows.stride * g.rows.out:g.rows.stride,
          :g.cols.stride * g.cols.out:g.cols.stride]
    y = np.ascontiguousarray(y, dtype=dtype)
    if b is not None:
        y += np.asarray(b, dtype=dtype).reshape(1, g.k, 1, 1)
    return y


def multiplications_fft(g: ConvGeometry) -> int:
    """An estimate of the real multiplications (the FFT's exact count depends on the library).

    - a real 2-D FFT of M = Hp*Wp points: about M*log2(M) real multiplications (a radix-2
      complex FFT of M points needs about 2*M*log2(M); a real one about half);
    - transforms: N*C inputs, K*C filters, N*K inverse transforms;
    - the spectra products: N*K*C*Hp*(Wp//2 + 1) complex products of 4 real multiplications.
    """
    hp, wp = g.rows.padded, g.cols.padded
    points = hp * wp
    per_fft = points * math.log2(points) if points > 1 else 0
    transforms = g.n * g.c + g.k * g.c + g.n * g.k
    products = 4 * g.n * g.k * g.c * hp * (wp // 2 + 1)
    return int(round(transforms * per_fft + products))
