"""``Case``: one workload of one suite, with its work counts and how to build it for a peer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    """A workload: ``build(impl, rng)`` returns the zero-argument callable to time on ``impl``
    (inputs already on its device), or None when that peer has no such operation.

    ``flops`` and ``bytes`` are the nominal work and compulsory memory traffic of one call; the
    table reports the rate of ``metric`` ('flops' -> GFLOP/s, 'bytes' -> GB/s), and the roofline
    places the case at intensity flops / bytes. ``primitives`` name the metalnet primitives the
    case calls, so each row says which implementation ran (``metalnet.info()``'s table)."""
    suite: str
    name: str
    flops: float
    bytes: float
    metric: str
    primitives: tuple
    build: Callable
    numpy_label: str = "NumPy reference"


def normal(rng: np.random.Generator, shape, scale: float = 1.0) -> np.ndarray:
    """Fresh float32 standard-normal data; never all zeros, so no kernel can take a shortcut."""
    x = rng.standard_normal(shape, dtype=np.float32)
    if scale != 1.0:
        x *= np.float32(scale)
    if x.size and not x.any():  # a zero tensor would flatter sparse-aware or denormal paths
        raise RuntimeError(f"benchmark input of shape {shape} came out all zeros")
    return x

