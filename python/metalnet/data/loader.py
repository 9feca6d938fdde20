"""``DataLoader``: batches of a dataset as ``metalnet.Tensor``s, shuffled reproducibly."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor
from .dataset import ArrayDataset

__all__ = ["DataLoader"]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _stack(samples):
    """Batch a list of per-sample tuples from a dataset that is not an ArrayDataset."""
    return tuple(np.stack([np.asarray(s[i]) for s in samples]) for i in range(len(samples[0])))


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``; each batch is a tuple of Tensors.

    - ``shuffle``: a new order every epoch, drawn from ``(seed, epoch)``, so epoch k has the
      same order in every run and after resuming from a checkpoint.
    - ``drop_last``: skip the final short batch (keeps batch statistics and step counts even).
    - ``device``: 'cpu' (NumPy arrays) or 'cuda' (CuPy arrays), where the batches are put.
    The epoch counter advances at each pass; ``set_epoch(k)`` sets it (training resumes do).
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, seed=0, drop_last=False,
                 device="cpu"):
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        self.dataset = dataset
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.device = device
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use epoch ``epoch``'s order."""
        self.epoch = int(epoch)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch=None) -> np.ndarray:
        """The sample order of ``epoch`` (default: the next pass)."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __iter__(self):
        order = self.order()
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._batch(order[start:start + self.batch_size])

    def _batch(self, indices):
        if isinstance(self.dataset, ArrayDataset):
            arrays = self.dataset[indices]
        else:
            arrays = _stack([self.dataset[int(i)] for i in indices])
        if self.device == "cuda":
            import cupy
            arrays = tuple(cupy.asarray(a) for a in arrays)
        return tuple(Tensor(np.ascontiguousarray(a) if self.device == "cpu" else a)
                     for a in arrays)

    def __repr__(self):
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")
