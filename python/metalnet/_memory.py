"""The one place where kernels' outputs are allocated.

Every backend asks ``empty`` for its output arrays instead of calling ``np.empty`` itself. That
gives one place for two things:

- Large host outputs come from the C++ host pool (cpp/host_pool.cpp): blocks NumPy frees are
  kept with their pages already touched, so the next step's outputs do not pay a page fault per
  4 KiB (on this class of machine that fault cost is larger than the kernel itself).
- The test suite's switch ``poisoning()`` fills each new output with NaN before the kernel runs:
  an element the kernel forgets to write stays NaN and fails the comparison with the reference,
  where uninitialised memory could have held the right value by chance.
"""
from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

try:
    from ._cpu import pool_empty as _pool_empty
except ImportError:  # no extension: plain NumPy allocation
    _pool_empty = None

__all__ = ["empty", "poisoning", "is_poisoning"]

POOL_MIN_BYTES = 1 << 20  # below this, NumPy's allocator is fast and pages are usually warm
_state = threading.local()


def is_poisoning() -> bool:
    return getattr(_state, "poison", False)


@contextlib.contextmanager
def poisoning(enabled: bool = True):
    """Within this block, outputs from ``empty`` start as NaN (float) or a huge value (int)."""
    old = is_poisoning()
    _state.poison = enabled
    try:
        yield
    finally:
        _state.poison = old


def _host_empty(shape, dtype):
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if _pool_empty is None or nbytes < POOL_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    return _pool_empty(nbytes).view(dtype).reshape(shape)


def empty(shape, dtype, xp=np):
    """An uninitialised C-contiguous array of ``xp`` (numpy or cupy); NaN when poisoning."""
    out = _host_empty(shape, dtype) if xp is np else xp.empty(shape, dtype=dtype)
    if is_poisoning():
        if np.dtype(dtype).kind == "f":
            out.fill(np.nan)
        else:
            out.fill(np.iinfo(dtype).max)
    return out
