"""The geometry of one convolution or pooling layer, one spatial axis at a time.

A 2-D window is the product of a row window and a column window, so everything a student needs
(output size, where each window starts, which input cells it reads) can be worked out for the
rows and for the columns separately. ``Axis`` does that for one axis; ``ConvGeometry`` pairs
two of them with the batch and channel sizes.

Coordinates are those of the *unpadded* input: the padded input of an axis runs from
``-pad_before`` to ``size + pad_after - 1``, and a coordinate outside ``0 .. size-1`` is a
padding cell (it reads as zero).
"""
from __future__ import annotations

import dataclasses

from .. import _args


@dataclasses.dataclass(frozen=True)
class Axis:
    """One spatial axis: input size, padding before/after, kernel size, stride, dilation.

    Output size:  out = floor((size + pad_before + pad_after - dilation*(kernel - 1) - 1)
                              / stride) + 1
    Window p reads input coordinates  p*stride - pad_before + i*dilation,  i = 0 .. kernel-1.
    """

    name: str           # "rows" or "cols"
    size: int           # H or W
    pad_before: int     # top or left
    pad_after: int      # bottom or right
    kernel: int         # R or S
    stride: int
    dilation: int = 1

    @property
    def padded(self) -> int:
        """Length of the padded input."""
        return self.size + self.pad_before + self.pad_after

    @property
    def span(self) -> int:
        """How many input cells one (dilated) window covers, first to last: d*(k-1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def out(self) -> int:
        """The output size (<= 0 when the window does not fit)."""
        return _args.out_size(self.size, self.pad_before, self.pad_after, self.kernel,
                              self.stride, self.dilation)

    @property
    def unused(self) -> int:
        """Padded cells after the last window's end that no window reaches (floor drops them)."""
        return (self.padded - self.span) % self.stride

    def start(self, p: int) -> int:
        """Input coordinate of the first cell of window p."""
        return p * self.stride - self.pad_before

    def reads(self, p: int) -> list[int]:
        """Input coordinates window p reads, in kernel order i = 0 .. kernel-1."""
        return [self.start(p) + i * self.dilation for i in range(self.kernel)]

    def is_padding(self, coord: int) -> bool:
        return coord < 0 or coord >= self.size

    def real_reads(self, p: int) -> int:
        """How many of window p's cells are real input (not padding)."""
        return sum(not self.is_padding(c) for c in self.reads(p))

    def formula(self, size_name: str, kernel_name: str) -> list[str]:
        """The output-size arithmetic written out step by step, one line per step."""
        numerator = self.padded - self.span
        lead = f"{size_name}_out = "
        pad = " " * len(lead)
        before, after = ("top", "bottom") if self.name == "rows" else ("left", "right")
        return [
            f"{lead}floor(({size_name} + pad_{before} + pad_{after} - dilation*({kernel_name} - 1)"
            f" - 1) / stride) + 1",
            f"{pad[:-2]}= floor(({self.size} + {self.pad_before} + {self.pad_after} - "
            f"{self.dilation}*({self.kernel} - 1) - 1) / {self.stride}) + 1",
            f"{pad[:-2]}= floor({numerator} / {self.stride}) + 1",
            f"{pad[:-2]}= {numerator // self.stride} + 1 = {self.out}",
        ]


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """Batch N, channels C -> K, input H x W, kernel R x S, and the two ``Axis`` objects.

    Pooling uses the same class with K = C (one output channel per input channel) and
    dilation 1.
    """

    n: int
    c: int
    k: int
    rows: Axis
    cols: Axis

    @classmethod
    def from_shapes(cls, x_shape, w_shape, stride=1, padding=0, dilation=1) -> "ConvGeometry":
        """From x (N, C, H, W), w (K, C, R, S) and user-facing stride/padding/dilation."""
        n, c, h, w = x_shape
        k, c_w, r, s = w_shape
        if c_w != c:
            raise ValueError(f"the kernel has {c_w} input channels but the input has {c}")
        (sh, sw) = _args.pair(stride, "stride")
        (dh, dw) = _args.pair(dilation, "dilation")
        top, bottom, left, right = _args.padding4(padding)
        geometry = cls(n, c, k, Axis("rows", h, top, bottom, r, sh, dh),
                       Axis("cols", w, left, right, s, sw, dw))
        geometry.check_fits()
        return geometry

    def check_fits(self) -> None:
        for axis in (self.rows, self.cols):
            if axis.out <= 0:
                raise ValueError(
                    f"the window does not fit along the {axis.name}: it spans {axis.span} cells "
                    f"(kernel {axis.kernel}, dilation {axis.dilation}) but the padded input has "
                    f"only {axis.padded} ({axis.size} + {axis.pad_before} + {axis.pad_after})"
                )

    # Normalised tuples in the order metalnet's functions take them.
    @property
    def stride(self) -> tuple[int, int]:
        return (self.rows.stride, self.cols.stride)

    @property
    def padding(self) -> tuple[int, int, int, int]:
        return (self.rows.pad_before, self.rows.pad_after, self.cols.pad_before,
                self.cols.pad_after)

    @property
    def dilation(self) -> tuple[int, int]:
        return (self.rows.dilation, self.cols.dilation)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.rows.size, self.cols.size)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.k, self.c, self.rows.kernel, self.cols.kernel)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.k, self.rows.out, self.cols.out)

    @property
    def taps(self) -> int:
        """Kernel weights per output channel, C*R*S: the length of one dot product."""
        return self.c * self.rows.kernel * self.cols.kernel

    def reads(self, p: int, q: int) -> list[tuple[int, int]]:
        """Input (row, col) coordinates output (p, q) reads, in row-major kernel order."""
        return [(r, c) for r in self.rows.reads(p) for c in self.cols.reads(q)]


def parse_input_shape(shape) -> tuple[int, int, int, int]:
    """(H, W), (C, H, W) or (N, C, H, W) -> (N, C, H, W); missing N and C are 1."""
    shape = tuple(int(v) for v in shape)
    if not 2 <= len(shape) <= 4 or min(shape) < 1:
        raise ValueError(f"input shape must be (H, W), (C, H, W) or (N, C, H, W) of positive "
                         f"sizes, got {shape}")
    return (1,) * (4 - len(shape)) + shape


def parse_kernel_shape(shape, channels: int, out_channels: int = 1) -> tuple[int, int, int, int]:
    """(R, S), (C, R, S) or (K, C, R, S) -> (K, C, R, S).

    A kernel without K gets ``out_channels`` filters; one without C gets the input's channels.
    """
    shape = tuple(int(v) for v in shape)
    if not 2 <= len(shape) <= 4 or min(shape) < 1:
        raise ValueError(f"kernel shape must be (R, S), (C, R, S) or (K, C, R, S) of positive "
                         f"sizes, got {shape}")
    if len(shape) == 2:
        shape = (channels,) + shape
    if len(shape) == 3:
        shape = (int(out_channels),) + shape
    return shape
