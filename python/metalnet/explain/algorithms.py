"""The four convolution algorithms side by side, with how many multiplications each needs.

Every entry has the signature of ``metalnet.reference.conv2d_forward`` and gives its result
(up to roundoff); the tests hold each one to the reference.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from .direct import conv2d_direct, multiplications_direct
from .fft import conv2d_fft, multiplications_fft
from .geometry import ConvGeometry
from .im2col import conv2d_im2col, multiplications_im2col
from .winograd import check_applicable, conv2d_winograd, multiplications_winograd


@dataclasses.dataclass(frozen=True)
class Algorithm:
    name: str
    summary: str
    forward: Callable                              # (x, w, b=None, *, stride, padding, dilation)
    multiplications: Callable[[ConvGeometry], int]
    exact_count: bool                              # False: the count is an estimate
    check: Callable[[ConvGeometry], None] = lambda g: None   # raises ValueError if not applicable

    def applicable(self, g: ConvGeometry) -> str | None:
        """None when the algorithm can run this layer, else the reason it cannot."""
        try:
            self.check(g)
        except ValueError as exc:
            return str(exc)
        return None


ALGORITHMS = {
    "direct": Algorithm("direct", "seven nested loops, the definition", conv2d_direct,
                        multiplications_direct, True),
    "im2col": Algorithm("im2col", "copy windows into a matrix, then one GEMM", conv2d_im2col,
                        multiplications_im2col, True),
    "winograd": Algorithm("winograd", "F(2x2,3x3): 16 products per 2x2 tile instead of 36",
                          conv2d_winograd, multiplications_winograd, True, check_applicable),
    "fft": Algorithm("fft", "multiply spectra (correlation theorem)", conv2d_fft,
                     multiplications_fft, False),
}
