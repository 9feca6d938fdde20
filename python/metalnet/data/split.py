"""``split``: seeded train/validation/test splits, stratified by class for classification."""
from __future__ import annotations

import numpy as np

from .dataset import ArrayDataset

__all__ = ["split"]


def _counts(n: int, fractions) -> list:
    """Sizes that add up to n, each as close to its fraction as rounding allows."""
    sizes = [int(np.floor(f * n)) for f in fractions]
    for i in np.argsort([-(f * n - s) for f, s in zip(fractions, sizes)])[:n - sum(sizes)]:
        sizes[i] += 1                 # hand the leftovers to the largest remainders
    return sizes


def _check_fractions(fractions):
    fractions = tuple(float(f) for f in fractions)
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be non-negative and add up to 1, got {fractions!r}")
    return fractions


def split(dataset: ArrayDataset, fractions=(0.7, 0.15, 0.15), seed=0, stratify=None):
    """Split ``dataset`` into ``len(fractions)`` disjoint ArrayDatasets (e.g. train, val, test).

    The same seed gives the same split. ``stratify`` (default: True for classification) keeps
    each class's share the same in every part, so a small test set still sees every class.
    """
    fractions = _check_fractions(fractions)
    rng = np.random.default_rng(seed)
    if stratify is None:
        stratify = dataset.task == "classification"
    groups = ([np.flatnonzero(dataset.targets == c) for c in np.unique(dataset.targets)]
              if stratify else [np.arange(len(dataset))])
    parts = [[] for _ in fractions]
    for members in groups:
        members = rng.permutation(members)
        bounds = np.cumsum([0] + _counts(len(members), fractions))
        for part, lo, hi in zip(parts, bounds[:-1], bounds[1:]):
            part.append(members[lo:hi])
    # Shuffle within each part so classes are interleaved, not in blocks.
    return tuple(dataset.subset(rng.permutation(np.concatenate(p))) for p in parts)
