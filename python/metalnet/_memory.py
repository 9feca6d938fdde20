"""The one place where kernels' outputs are allocated.

Every backend asks ``empty`` for its output arrays instead of calling ``np.empty`` itself. That
gives the test suite one switch, ``poisoning()``, that fills each new output with NaN before the
kernel runs: an element the kernel forgets to write stays NaN and fails the comparison with the
reference, where uninitialised memory could have held the right value by chance.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

__all__ = ["empty", "poisoning", "is_poisoning"]

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


def empty(shape, dtype, xp=np):
    """An uninitialised array of ``xp`` (numpy or cupy); poisoned when ``poisoning()`` is on."""
    out = xp.empty(shape, dtype=dtype)
    if is_poisoning():
        if np.dtype(dtype).kind == "f":
            out.fill(np.nan)
        else:
            out.fill(np.iinfo(dtype).max)
    return out
