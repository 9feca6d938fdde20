"""Normalising the geometry arguments every convolution and pooling call shares.

A user may write ``stride=2``, ``stride=(3, 2)``, ``padding=1``, ``padding=(1, 0)`` or
``padding=(0, 1, 2, 1)``. Everything below ``ops`` works with one form only:

- pair:    (row, col)                     for stride, dilation, kernel_size
- padding: (top, bottom, left, right)

These helpers turn the user's form into that one, and raise a ValueError/TypeError naming the
argument when the value cannot mean anything.
"""
from __future__ import annotations

import numbers

__all__ = ["pair", "padding4", "out_size", "conv_out_hw", "pool_out_hw"]


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def pair(value, name: str, *, minimum: int = 1) -> tuple[int, int]:
    """An int or a (row, col) pair -> (row, col), each at least ``minimum``."""
    if _is_int(value):
        out = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a (row, col) pair of ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{name} must be >= {minimum} along both axes, got {value!r}")
    return out


def padding4(value, name: str = "padding") -> tuple[int, int, int, int]:
    """int, (row, col) or (top, bottom, left, right) -> (top, bottom, left, right), all >= 0."""
    if _is_int(value):
        out = (int(value),) * 4
    elif isinstance(value, (tuple, list)) and all(_is_int(v) for v in value) and len(value) in (2, 4):
        if len(value) == 2:
            out = (int(value[0]), int(value[0]), int(value[1]), int(value[1]))
        else:
            out = tuple(int(v) for v in value)
    else:
        raise TypeError(
            f"{name} must be an int, a (row, col) pair or a (top, bottom, left, right) "
            f"4-tuple of ints, got {value!r}"
        )
    if min(out) < 0:
        raise ValueError(f"{name} must be >= 0 on every side, got {value!r}")
    return out


def out_size(size: int, pad_before: int, pad_after: int, kernel: int, stride: int,
             dilation: int = 1) -> int:
    """floor((size + pads - dilation*(kernel-1) - 1) / stride) + 1, the per-axis output size.

    Returns a value <= 0 when the (dilated) kernel does not fit in the padded input.
    """
    span = dilation * (kernel - 1) + 1
    return (size + pad_before + pad_after - span) // stride + 1


def conv_out_hw(h: int, w: int, kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output (H_out, W_out) for normalised kernel/stride/padding/dilation tuples."""
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw) = kernel, stride, padding, dilation
    return out_size(h, pt, pb, kh, sh, dh), out_size(w, pl, pr, kw, sw, dw)


def pool_out_hw(h: int, w: int, kernel, stride, padding) -> tuple[int, int]:
    """Pooling is a convolution geometry with dilation 1."""
    return conv_out_hw(h, w, kernel, stride, padding, (1, 1))
