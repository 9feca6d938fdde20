"""The random generators behind weight initialisation and dropout masks.

``metalnet.manual_seed(seed)`` makes both repeatable. Host arrays draw from one NumPy Generator;
device arrays from a CuPy RandomState created from the same seed on first use (seeding never
touches the GPU, so it works on machines where CuPy is installed but no device is usable).
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator", "uniform"]

_state = {"generator": np.random.default_rng(), "seed": None, "device_state": None}


def manual_seed(seed: int) -> None:
    """Seed the generators used by ``metalnet.nn.init`` and dropout."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    _state.update(generator=np.random.default_rng(int(seed)), seed=int(seed), device_state=None)


def generator() -> np.random.Generator:
    """The host generator (init always runs on the host; modules move afterwards)."""
    return _state["generator"]


def uniform(shape, xp=np):
    """Uniform [0, 1) float32 samples of ``shape`` on the module ``xp`` (numpy or cupy)."""
    if xp is np:
        return generator().random(shape, dtype=np.float32)
    if _state["device_state"] is None:
        _state["device_state"] = xp.random.RandomState(_state["seed"])
    return _state["device_state"].random_sample(shape, dtype=np.float32)
