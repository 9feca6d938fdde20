"""``Conv2d`` and ``ConvTranspose2d`` (row/column strides, asymmetric padding, dilation)."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from . import _checks, init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d", "ConvTranspose2d"]


class _ConvBase(Module):
    def __init__(self, weight_shape, out_channels, bias, dtype, fan_in):
        super().__init__()
        dtype = _checks.float_dtype(dtype)
        self.weight = Parameter(np.empty(weight_shape, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        # PyTorch's default: kaiming_uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)).
        bound = 1 / math.sqrt(fan_in)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding}")
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation). x (N, C_in, H, W) -> (N, C_out, H', W').

    kernel_size, stride, dilation: int or (row, col); padding: int, (row, col) or
    (top, bottom, left, right). weight (C_out, C_in, R, S), bias (C_out,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, dtype=np.float32):
        in_channels = _checks.positive_int(in_channels, "in_channels")
        out_channels = _checks.positive_int(out_channels, "out_channels")
        r, s = _checks.pair(kernel_size, "kernel_size")
        super().__init__((out_channels, in_channels, r, s), out_channels, bias, dtype,
                         in_channels * r * s)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (r, s)
        self.stride = _checks.pair(stride, "stride")
        self.dilation = _checks.pair(dilation, "dilation")
        self.padding = _checks.padding(padding)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_ConvBase):
    """Transposed convolution (the input-gradient of Conv2d run forward), e.g. for upsampling.

    x (N, C_in, H, W) -> (N, C_out, H', W'), H' = (H-1)*sh - pads + dh*(R-1) + output_padding + 1.
    weight (C_in, C_out, R, S), bias (C_out,); output_padding (int or pair) < stride.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True, dilation=1, dtype=np.float32):
        in_channels = _checks.positive_int(in_channels, "in_channels")
        out_channels = _checks.positive_int(out_channels, "out_channels")
        r, s = _checks.pair(kernel_size, "kernel_size")
        # PyTorch computes the fan of a transposed conv weight from its second axis (C_out).
        super().__init__((in_channels, out_channels, r, s), out_channels, bias, dtype,
                         out_channels * r * s)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (r, s)
        self.stride = _checks.pair(stride, "stride")
        self.dilation = _checks.pair(dilation, "dilation")
        self.padding = _checks.padding(padding)
        self.output_padding = _checks.pair(output_padding, "output_padding", minimum=0)
        if any(o >= st for o, st in zip(self.output_padding, self.stride)):
            raise ValueError(f"output_padding {output_padding} must be smaller than the stride "
                             f"{self.stride} along each axis")

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation)
