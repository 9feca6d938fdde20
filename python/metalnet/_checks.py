"""Argument checks for ``metalnet.ops``: each failure names the argument and what was expected.

Checks cost O(1) (shapes, dtypes, flags) except the few that guard a kernel's memory safety
(integer labels and argmax indices in range), which read one small integer array.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def device_of(a) -> str:
    """'cpu' for NumPy arrays, 'cuda' for CuPy arrays (recognised without importing CuPy)."""
    if isinstance(a, np.ndarray):
        return "cpu"
    if type(a).__module__.split(".")[0] == "cupy":
        return "cuda"
    raise TypeError(f"expected a NumPy or CuPy array, got {type(a).__name__}")


def array(a, name: str, *, ndim: int | None = None, floating: bool = True):
    """A C-contiguous NumPy/CuPy array (float32/float64 when ``floating``) of ``ndim`` axes."""
    try:
        device_of(a)
    except TypeError:
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(a).__name__}") from None
    if floating and a.dtype not in FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(a.shape)}")
    if not a.flags.c_contiguous:
        raise ValueError(
            f"{name} must be C-contiguous (got strides {a.strides}); metalnet never copies "
            f"silently: pass np.ascontiguousarray({name}) if a copy is what you want"
        )
    return a


def same_dtype_and_device(**arrays) -> str:
    """All arrays share one dtype and one device; returns the device."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    first_name, first = items[0]
    device = device_of(first)
    for name, a in items[1:]:
        if device_of(a) != device:
            raise TypeError(
                f"{name} is on {device_of(a)} but {first_name} is on {device}; "
                f"metalnet never copies between host and device silently"
            )
        if a.dtype != first.dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but {first_name} has {first.dtype}; "
                            f"mixing dtypes is not allowed")
    return device


def shape(a, name: str, expected: tuple, what: str = "") -> None:
    if tuple(a.shape) != tuple(expected):
        hint = f" ({what})" if what else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{hint}, got {tuple(a.shape)}")


def real(value, name: str) -> float:
    if type(value) is float or type(value) is int:  # the common case, without the ABC check
        if math.isfinite(value):
            return float(value)
        raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def flag(value, name: str) -> bool:
    if value is True or value is False:
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def shape4(value, name: str) -> tuple:
    if (not isinstance(value, (tuple, list)) or len(value) != 4
            or not all(isinstance(v, numbers.Integral) and v >= 0 for v in value)):
        raise ValueError(f"{name} must be an (N, C, H, W) tuple of non-negative ints, got {value!r}")
    return tuple(int(v) for v in value)


def int_range(a, name: str, low: int, high: int) -> None:
    """Every element of the integer array ``a`` is in [low, high)."""
    if a.size and (int(a.min()) < low or int(a.max()) >= high):
        raise ValueError(f"{name} must hold values in [{low}, {high}), got values in "
                         f"[{int(a.min())}, {int(a.max())}]")
