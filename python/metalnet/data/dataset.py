"""``ArrayDataset``: samples held as aligned arrays, with the metadata training needs."""
from __future__ import annotations

import numpy as np

__all__ = ["ArrayDataset"]


class ArrayDataset:
    """Aligned arrays (inputs, targets, ...) of one length; ``ds[i]`` is a tuple of samples.

    ``classes`` names the class of each label (empty for regression or reconstruction),
    ``task`` is 'classification' or 'reconstruction' (the target is the input itself), and
    ``description`` says where the data comes from and how labels are made.
    """

    def __init__(self, *arrays, classes=(), task="classification", description=""):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"arrays must have one length, got lengths "
                             f"{[len(a) for a in arrays]}")
        if task not in ("classification", "reconstruction"):
            raise ValueError(f"task must be 'classification' or 'reconstruction', got {task!r}")
        self.arrays = arrays
        self.classes = tuple(classes)
        self.task = task
        self.description = description

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    @property
    def inputs(self) -> np.ndarray:
        return self.arrays[0]

    @property
    def targets(self) -> np.ndarray:
        return self.arrays[-1]

    @property
    def sample_shape(self) -> tuple:
        """The shape of one input sample, e.g. (1, 28, 28)."""
        return tuple(self.inputs.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> "ArrayDataset":
        """The samples at ``indices``, with the same metadata."""
        indices = np.asarray(indices)
        return ArrayDataset(*(a[indices] for a in self.arrays), classes=self.classes,
                            task=self.task, description=self.description)

    def map_inputs(self, function) -> "ArrayDataset":
        """A dataset whose inputs are ``function(inputs)`` (targets and metadata kept)."""
        arrays = (function(self.inputs),) + self.arrays[1:]
        return ArrayDataset(*arrays, classes=self.classes, task=self.task,
                            description=self.description)

    def __repr__(self):
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return f"ArrayDataset({shapes}, task={self.task!r}, classes={len(self.classes)})"
