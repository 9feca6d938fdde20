"""The random generator behind weight initialisation and dropout masks.

``metalnet.manual_seed(seed)`` makes both repeatable. Host arrays draw from one NumPy Generator;
device arrays draw from CuPy's generator, seeded alongside when CuPy is already loaded.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["manual_seed", "generator", "uniform"]

_state = {"generator": np.random.default_rng()}


def manual_seed(seed: int) -> None:
    """Seed the generators used by ``metalnet.nn.init`` and dropout."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    _state["generator"] = np.random.default_rng(int(seed))
    if "cupy" in sys.modules:          # never import CuPy just to seed it
        sys.modules["cupy"].random.seed(int(seed))


def generator() -> np.random.Generator:
    """The host generator (init always runs on the host; modules move afterwards)."""
    return _state["generator"]


def uniform(shape, xp=np):
    """Uniform [0, 1) float32 samples of ``shape`` on the module ``xp`` (numpy or cupy)."""
    if xp is np:
        return generator().random(shape, dtype=np.float32)
    return xp.random.random(shape, dtype=np.float32)
