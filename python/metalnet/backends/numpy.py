"""The ``numpy`` backend: the reference implementation itself.

Slow but obviously right; forced with ``metalnet.backend("numpy")`` and used for every host
primitive when the C++ extension could not be loaded.
"""
from __future__ import annotations

from .. import reference
from ._registry import PRIMITIVES

NAME = "numpy"
DEVICE = "cpu"
IMPLEMENTATIONS = {name: "NumPy" for name in PRIMITIVES}

globals().update({name: getattr(reference, name) for name in PRIMITIVES})
