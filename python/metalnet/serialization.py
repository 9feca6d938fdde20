"""``metalnet.save`` / ``metalnet.load``: state dicts as ``.npz`` files (arrays only, no code).

A state dict is a mapping of dotted names to arrays (``model.state_dict()``). Saving copies
device arrays to the host (writing a file is an explicit request); loading gives NumPy arrays,
and ``model.load_state_dict`` copies them to wherever the model lives. Files are read with
``allow_pickle=False``, so loading never runs code from the file.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from .autograd import array_module
from .tensor import Tensor

__all__ = ["save", "load"]


def _host(value, key):
    value = value.data if isinstance(value, Tensor) else value
    try:
        xp = array_module(value)
    except TypeError:
        raise TypeError(f"state dict entry {key!r} must be an array or Tensor, got "
                        f"{type(value).__name__}") from None
    return value if xp is np else value.get()


def save(state_dict, path) -> None:
    """Write a state dict (or a Module's state dict) to ``path`` as an uncompressed npz."""
    if hasattr(state_dict, "state_dict") and callable(state_dict.state_dict):
        state_dict = state_dict.state_dict()
    if not hasattr(state_dict, "items"):
        raise TypeError(f"state_dict must be a mapping of names to arrays (or a Module), got "
                        f"{type(state_dict).__name__}")
    arrays = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"state dict keys must be non-empty strings, got {key!r}")
        array = _host(value, key)
        if array.dtype.kind == "O":
            raise TypeError(f"state dict entry {key!r} holds Python objects, which npz "
                            f"cannot store without pickling")
        arrays[key] = array
    with open(os.fspath(path), "wb") as f:     # a file object: numpy adds no '.npz' suffix
        np.savez(f, **arrays)


def load(path) -> "OrderedDict[str, np.ndarray]":
    """Read a state dict written by ``save``: an OrderedDict of name -> NumPy array."""
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        return OrderedDict((key, archive[key]) for key in archive.files)
