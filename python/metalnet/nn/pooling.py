"""Pooling and resampling: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``Upsample``."""
from __future__ import annotations

from .. import functional as F
from . import _checks
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample"]


class _Pool(Module):
    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size = _checks.pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _checks.pair(stride, "stride")
        self.padding = _checks.padding(padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    """Max over kernel windows of x (N, C, H, W); stride defaults to kernel_size.

    padding (int, (row, col) or (top, bottom, left, right)) is at most half the kernel.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Mean over kernel windows of x (N, C, H, W); stride defaults to kernel_size.

    count_include_pad: divide by the whole window (True) or by its real cells only (False).
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            self.count_include_pad)


class AdaptiveAvgPool2d(Module):
    """Average to a fixed output size that divides the input size (1 = global average)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = _checks.pair(output_size, "output_size")

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer factor (int or (row, col))."""

    def __init__(self, scale_factor=2, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"mode must be 'nearest' (the only one implemented), got {mode!r}")
        self.scale_factor = _checks.pair(scale_factor, "scale_factor")
        self.mode = mode

    def forward(self, x):
        return F.upsample_nearest(x, self.scale_factor)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
