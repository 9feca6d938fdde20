"""Winograd's minimal filtering F(2x2, 3x3): four outputs from 16 multiplications instead of 36.

One dimension first, F(2, 3): two outputs of a 3-tap correlation from four inputs d0..d3,

    y0 = d0*g0 + d1*g1 + d2*g2
    y1 = d1*g0 + d2*g1 + d3*g2                  (6 multiplications done directly)

can be had from 4 multiplications:

    m1 = (d0 - d2) * g0                  m3 = (d2 - d1) * (g0 - g1 + g2) / 2
    m2 = (d1 + d2) * (g0 + g1 + g2) / 2  m4 = (d1 - d3) * g2
    y0 = m1 + m2 + m3                    y1 = m2 - m3 - m4

The terms built from g depend on the filter only, so they are computed once per filter and
reused for every tile. In matrix form, y = A^T [(G g) * (B^T d)] (``*`` elementwise) with

          [1  0 -1  0]         [ 1    0    0 ]
    B^T = [0  1  1  0]     G = [1/2  1/2  1/2]     A^T = [1  1  1  0]
          [0 -1  1  0]         [1/2 -1/2  1/2]           [0  1 -1 -1]
          [0  1  0 -1]         [ 0    0    1 ]

B^T mixes the 4 inputs, G mixes the 3 weights into 4 numbers, the 4 products are taken
elementwise and A^T mixes them back into 2 outputs. The matrices come from evaluating the
input and filter polynomials at the points 0, 1, -1 and infinity, multiplying the values and
interpolating back (the Toom-Cook / Chinese-remainder construction).

Two dimensions nest the 1-D transform along rows and columns: for a 4x4 input tile d and a
3x3 filter g,

    Y (2x2) = A^T [ (G g G^T) * (B^T d B) ] A,

16 multiplications per tile instead of 2*2*3*3 = 36, i.e. 2.25x fewer. Tiles overlap by 2
(the kernel size minus 1) and, across channels, the products are summed before A^T is applied.
It only fits a 3x3 kernel at stride 1 and dilation 1; the transforms add roundoff, which is
why float32 results differ from the direct sum in the last digits.
"""
from __future__ import annotations

import numpy as np

from .geometry import ConvGeometry

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)

TILE_IN, TILE_OUT = 4, 2        # a 4x4 input tile gives a 2x2 output tile


def f23(d, g):
    """F(2, 3) in one dimension: (y0, y1) and the four products m1..m4 it multiplied.

    ``d`` holds 4 inputs, ``g`` 3 weights; y equals [d0*g0 + d1*g1 + d2*g2,
    d1*g0 + d2*g1 + d3*g2].
    """
    d0, d1, d2, d3 = d
    g0, g1, g2 = g
    m = ((d0 - d2) * g0, (d1 + d2) * (g0 + g1 + g2) / 2,
         (d2 - d1) * (g0 - g1 + g2) / 2, (d1 - d3) * g2)
    return (m[0] + m[1] + m[2], m[1] - m[2] - m[3]), m


def check_applicable(g: ConvGeometry) -> None:
    """Raise ValueError unless the layer is 3x3, stride 1, dilation 1 (all F(2x2,3x3) fits)."""
    problems = []
    if (g.rows.kernel, g.cols.kernel) != (3, 3):
        problems.append(f"kernel {g.rows.kernel}x{g.cols.kernel} (needs 3x3)")
    if g.stride != (1, 1):
        problems.append(f"stride {g.stride} (needs 1)")
    if g.dilation != (1, 1):
        problems.append(f"dilation {g.dilation} (needs 1)")
    if problems:
        raise ValueError("Winograd F(2x2, 3x3) applies to 3x3 kernels at stride 1 and dilation "
                         "1 only; got " + ", ".join(problems))


def conv2d_winograd(x, w, b=None, *, stride=1, padding=0, dilation=1):
    """Convolution by Winograd F(2x2, 3x3) (3x3 kernel, stride 1, dilation 1 only).

    Same signature and result as ``metalnet.reference.conv2d_forward``; any padding is fine.
    Steps: pad x, cut it into 4x4 tiles that overlap by 2, transform tiles (B^T d B) and
    filters (G g G^T), multiply elementwise and sum over channels, transform back (A^T M A).
    """
    x, w = np.asarray(x), np.asarray(w)
    g = ConvGeometry.from_shapes(x.shape, w.shape, stride, padding, dilation)
    check_applicable(g)
    dtype = np.result_type(x, w)
    b_t, g_m, a_t = (m.astype(dtype) for m in (B_T, G, A_T))
    h_out, w_out = g.rows.out, g.cols.out
    tiles_h, tiles_w = -(-h_out // TILE_OUT), -(-w_out // TILE_OUT)     # ceil division

    # Pad as asked, then with extra zeros at the bottom/right so the last tile is complete
    # (the extra outputs it produces are cropped at the end).
    top, bottom, left, right = g.padding
    extra_h = TILE_OUT * tiles_h - h_out
    extra_w = TILE_OUT * tiles_w - w_out
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w)))

    # d[n, c, t, u] is the 4x4 tile whose outputs are rows 2t, 2t+1 and cols 2u, 2u+1.
    d = np.lib.stride_tricks.sliding_window_view(xp, (TILE_IN, TILE_IN), axis=(2, 3))
    d = d[:, :, ::TILE_OUT, ::TILE_OUT]                                    # (N, C, th, tw, 4, 4)

    u = np.einsum("ai,kcij,bj->kcab", g_m, w, g_m)           # G g G^T, once per filter
    v = np.einsum("ai,nctuij,bj->nctuab", b_t, d, b_t)       # B^T d B, once per tile
    # The only multiplications that touch both data and weights: 16 per tile and (k, c).
    m = np.einsum("kcab,nctuab->nktuab", u, v)
    y = np.einsum("ai,nktuij,bj->nktuab", a_t, m, a_t)       # A^T M A: (N, K, th, tw, 2, 2)

    y = y.transpose(0, 1, 2, 4, 3, 5).reshape(g.n, g.k, TILE_OUT * tiles_h, TILE_OUT * tiles_w)
    y = np.ascontiguousarray(y[:, :, :h_out, :w_out], dtype=dtype)
    if b is not None:
        y += np.asarray(b, dtype=dtype).reshape(1, g.k, 1, 1)
    return y


def multiplications_winograd(g: ConvGeometry) -> int:
    """16 elementwise products per 2x2 output tile, per filter k and channel c.

    The transforms are additions and halvings (the filter transform is paid once per filter),
    so they are not counted, as in the usual statement "2.25x fewer multiplications".
    """
    tiles = -(-g.rows.out // TILE_OUT) * -(-g.cols.out // TILE_OUT)
    return g.n * g.k * g.c * tiles * TILE_IN * TILE_IN


def matrices_text() -> str:
    """B^T, G and A^T printed, with one line on the role of each."""
    def show(name, m, role):
        rows = ["  [" + " ".join(f"{v:5g}" for v in row) + " ]" for row in m]
        return f"{name}  ({m.shape[0]}x{m.shape[1]}): {role}\n" + "\n".join(rows)

    return "\n\n".join([
        show("B^T", B_T, "mixes a 4x4 input tile d into B^T d B"),
        show("G", G, "mixes a 3x3 filter g into G g G^T (once per filter)"),
        show("A^T", A_T, "turns the 4x4 elementwise product M into the 2x2 output A^T M A"),
    ])


def explanation(d=(1.0, 2.0, 3.0, 4.0), g=(1.0, 2.0, 3.0)) -> str:
    """F(2, 3) worked out on numbers, then the 2-D matrices and the multiplication count."""
    (y0, y1), m = f23(d, g)
    direct = (d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2])
    fmt = "{:g}".format
    lines = [
        "Winograd F(2, 3): two outputs of a 3-tap filter from 4 multiplications instead of 6",
        f"  d = ({', '.join(map(fmt, d))}),  g = ({', '.join(map(fmt, g))})",
        f"  direct:   y0 = d0*g0 + d1*g1 + d2*g2 = {fmt(direct[0])},   "
        f"y1 = d1*g0 + d2*g1 + d3*g2 = {fmt(direct[1])}   (6 multiplications)",
        f"  m1 = (d0 - d2)*g0                = {fmt(m[0])}",
        f"  m2 = (d1 + d2)*(g0 + g1 + g2)/2  = {fmt(m[1])}",
        f"  m3 = (d2 - d1)*(g0 - g1 + g2)/2  = {fmt(m[2])}",
        f"  m4 = (d1 - d3)*g2                = {fmt(m[3])}",
        f"  y0 = m1 + m2 + m3 = {fmt(y0)},   y1 = m2 - m3 - m4 = {fmt(y1)}   (4 multiplications;"
        " the g terms are computed once per filter)",
        "",
        "In matrix form y = A^T [(G g) * (B^T d)]; in 2-D, Y = A^T [(G g G^T) * (B^T d B)] A",
        "for a 4x4 input tile d and a 3x3 filter g: 16 multiplications per 2x2 outputs instead "
        "of 36.",
        "",
        matrices_text(),
    ]
    return "\n".join(lines)
