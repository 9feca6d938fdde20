"""Real data from scikit-learn's bundled copies: handwritten digits and breast cancer."""
from __future__ import annotations

import numpy as np

from ._optional import require
from .dataset import ArrayDataset
from .resize import resize_bilinear

__all__ = ["digits", "breast_cancer", "standardize"]


def digits(size=8) -> ArrayDataset:
    """The 1,797 handwritten digits (UCI optical recognition set) bundled with scikit-learn.

    Inputs (N, 1, size, size) float32 in [0, 1] (the 0..16 grey levels scaled); labels 0..9.
    ``size=28`` upsamples bilinearly to the MNIST resolution LeNet-5 expects.
    """
    datasets = require("sklearn.datasets", "scikit-learn")
    bunch = datasets.load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    if size != 8:
        images = np.clip(resize_bilinear(images, size), 0, 1)
    return ArrayDataset(np.ascontiguousarray(images), bunch.target.astype(np.int64),
                        classes=[str(d) for d in range(10)],
                        description=f"scikit-learn digits, 8x8 grey levels shown at {size}x{size}")


def breast_cancer() -> ArrayDataset:
    """The Wisconsin diagnostic breast-cancer table bundled with scikit-learn.

    569 samples, 30 float32 features (raw: scale them with ``standardize`` fitted on the
    training part); labels 0 = malignant, 1 = benign.
    """
    datasets = require("sklearn.datasets", "scikit-learn")
    bunch = datasets.load_breast_cancer()
    return ArrayDataset(bunch.data.astype(np.float32), bunch.target.astype(np.int64),
                        classes=[str(c) for c in bunch.target_names],
                        description="scikit-learn breast cancer (Wisconsin diagnostic)")


def standardize(train: ArrayDataset, *others: ArrayDataset):
    """Scale inputs to zero mean and unit variance per feature, with the statistics of
    ``train`` alone (so nothing about the test data leaks into training). Returns new
    datasets in the order given."""
    mean = train.inputs.mean(axis=0)
    std = train.inputs.std(axis=0)
    std = np.where(std > 0, std, 1).astype(train.inputs.dtype)   # constant features stay 0

    def scale(x):
        return ((x - mean) / std).astype(x.dtype)

    return tuple(ds.map_inputs(scale) for ds in (train,) + others)
