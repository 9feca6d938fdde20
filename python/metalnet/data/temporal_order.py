"""The temporal-order task: a sequence task that needs memory across many steps.

Each sequence is ``length`` symbols: 'B' first and 'E' last, random distractors ('a'..'d')
between, except two positions that hold 'X' or 'Y': the first in the second tenth of the
sequence, the second around its middle. The class is the pair in order (XX, XY, YX, YY), so a
model must remember the first marker through the distractors until it sees the second. This is
the classic task that plain RNNs fail on for long sequences and LSTMs solve.
"""
from __future__ import annotations

import numpy as np

from .dataset import ArrayDataset

__all__ = ["temporal_order", "SYMBOLS"]

SYMBOLS = "abcdXYBE"
_X, _Y, _B, _E = 4, 5, 6, 7


def temporal_order(n=2000, length=20, seed=0, encoding="onehot") -> ArrayDataset:
    """``n`` sequences, classes balanced: 0 XX, 1 XY, 2 YX, 3 YY.

    encoding 'onehot': inputs (n, length, 8) float32; 'index': symbol codes (n, length) int64.
    """
    if length < 10:
        raise ValueError(f"length must be at least 10, got {length!r}")
    if encoding not in ("onehot", "index"):
        raise ValueError(f"encoding must be 'onehot' or 'index', got {encoding!r}")
    rng = np.random.default_rng(seed)
    seqs = rng.integers(0, 4, (n, length))
    seqs[:, 0], seqs[:, -1] = _B, _E
    labels = np.arange(n) % 4
    rng.shuffle(labels)
    first = rng.integers(length // 10, 2 * length // 10, n)
    second = rng.integers(length // 2, 6 * length // 10, n)
    rows = np.arange(n)
    seqs[rows, first] = np.where(labels // 2 == 0, _X, _Y)
    seqs[rows, second] = np.where(labels % 2 == 0, _X, _Y)
    inputs = (np.eye(len(SYMBOLS), dtype=np.float32)[seqs] if encoding == "onehot"
              else seqs.astype(np.int64))
    return ArrayDataset(inputs, labels.astype(np.int64), classes=["XX", "XY", "YX", "YY"],
                        description=f"temporal order, length {length} (seed {seed})")
