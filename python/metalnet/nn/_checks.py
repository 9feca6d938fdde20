"""Constructor argument checks shared by the layers: errors name the argument."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _args


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def probability(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def pair(value, name: str, minimum: int = 1):
    return _args.pair(value, name, minimum=minimum)


def padding(value, name: str = "padding"):
    """Validated, but kept in the user's form (int, pair or 4-tuple) for printing."""
    _args.padding4(value, name)
    return value if isinstance(value, int) else tuple(value)
