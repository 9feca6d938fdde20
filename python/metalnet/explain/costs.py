"""What a layer costs: parameters, arithmetic and memory traffic.

Conventions, stated once so the numbers can be checked by hand:

- parameters of a convolution: (R*S*C + 1) * K — each of the K filters has R*S*C weights and
  one bias (without a bias: R*S*C*K). Pooling has none.
- multiplications: one per weight per output cell, N*K*H_out*W_out * C*R*S, including those
  with padding zeros (a kernel that pads its input does them). How many hit real input is
  reported too.
- additions: summing C*R*S products takes C*R*S - 1 additions, adding the bias one more.
  FLOPs = multiplications + additions, i.e. 2 per multiply-add.
- bytes: the least traffic any algorithm needs — read x, w, b once and write y once. im2col
  also writes its matrix and reads it back.
"""
from __future__ import annotations

import dataclasses

from .geometry import Axis, ConvGeometry


def _real_cells(axis: Axis) -> int:
    """Real (non-padding) cells summed over all windows of one axis."""
    return sum(axis.real_reads(p) for p in range(axis.out))


@dataclasses.dataclass(frozen=True)
class ConvCost:
    geometry: ConvGeometry
    bias: bool
    itemsize: int

    @property
    def weights(self) -> int:
        return self.geometry.taps * self.geometry.k

    @property
    def parameters(self) -> int:
        """(R*S*C + 1) * K with a bias, R*S*C*K without."""
        return (self.geometry.taps + int(self.bias)) * self.geometry.k

    @property
    def outputs(self) -> int:
        n, k, h, w = self.geometry.y_shape
        return n * k * h * w

    @property
    def multiplications(self) -> int:
        return self.outputs * self.geometry.taps

    @property
    def real_multiplications(self) -> int:
        """Products whose input cell is real; the 2-D count factorises into rows x cols."""
        g = self.geometry
        return g.n * g.k * g.c * _real_cells(g.rows) * _real_cells(g.cols)

    @property
    def additions(self) -> int:
        return self.outputs * (self.geometry.taps - 1 + int(self.bias))

    @property
    def flops(self) -> int:
        return self.multiplications + self.additions

    def traffic(self) -> dict[str, int]:
        """Bytes per array: read x, read w, read b, write y."""
        n, c, h, w = self.geometry.x_shape
        return {"read x": n * c * h * w * self.itemsize,
                "read w": self.weights * self.itemsize,
                "read b": self.geometry.k * self.itemsize if self.bias else 0,
                "write y": self.outputs * self.itemsize}

    @property
    def bytes(self) -> int:
        return sum(self.traffic().values())

    @property
    def im2col_elements(self) -> int:
        """Size of the im2col matrices of the whole batch: N * (C*R*S) * (H_out*W_out)."""
        g = self.geometry
        return g.n * g.taps * g.rows.out * g.cols.out

    @property
    def intensity(self) -> float:
        """FLOPs per byte of compulsory traffic."""
        return self.flops / self.bytes


@dataclasses.dataclass(frozen=True)
class PoolCost:
    geometry: ConvGeometry       # K = C: pooling keeps the channels
    mode: str                    # "max" or "avg"
    itemsize: int

    @property
    def parameters(self) -> int:
        return 0

    @property
    def outputs(self) -> int:
        n, c, h, w = self.geometry.y_shape
        return n * c * h * w

    @property
    def window(self) -> int:
        return self.geometry.rows.kernel * self.geometry.cols.kernel

    @property
    def operations(self) -> int:
        """max: comparisons among the real cells (real - 1 per window; padding never wins).
        avg: kh*kw - 1 additions (padding adds zeros) and 1 division per window."""
        g = self.geometry
        if self.mode == "max":
            return g.n * g.c * (_real_cells(g.rows) * _real_cells(g.cols)) - self.outputs
        return self.outputs * self.window

    def traffic(self) -> dict[str, int]:
        n, c, h, w = self.geometry.x_shape
        out = {"read x": n * c * h * w * self.itemsize, "write y": self.outputs * self.itemsize}
        if self.mode == "max":
            out["write argmax (int64)"] = self.outputs * 8
        return out

    @property
    def bytes(self) -> int:
        return sum(self.traffic().values())
