"""Datasets by name, for ``metalnet train --data NAME`` and ``metalnet.data.load``."""
from __future__ import annotations

import os

from .dataset import ArrayDataset
from .dna import dna_motifs
from .files import image_folder, load_npz
from .pathology import pathology_patches
from .tabular import breast_cancer, digits
from .temporal_order import temporal_order

__all__ = ["DATASETS", "load", "describe"]

# name -> (builder, one-line summary)
DATASETS = {
    "digits": (digits, "1,797 handwritten digits, 1x8x8 (size=28 for 1x28x28), 10 classes"),
    "breast_cancer": (breast_cancer, "569 tumours, 30 features, malignant/benign"),
    "pathology": (pathology_patches, "IHC slide patches 3x32x32, DAB-positive or not"),
    "dna": (dna_motifs, "generated DNA 30x4 one-hot, planted TATAAT motif or none"),
    "temporal_order": (temporal_order, "sequences 20x8 one-hot, order of two markers, 4 classes"),
}


def load(name, **kwargs) -> ArrayDataset:
    """The dataset called ``name`` (see ``DATASETS``), or the user's own data: a path to an
    ``.npz`` file (arrays 'x' and 'y') or to a folder of class folders of images."""
    if name in DATASETS:
        return DATASETS[name][0](**kwargs)
    path = os.fspath(name)
    if path.endswith(".npz"):
        return load_npz(path, **kwargs)
    if os.path.isdir(path):
        return image_folder(path, **kwargs)
    raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}, a "
                     f".npz file or a folder of class folders")


def describe() -> str:
    """One line per named dataset."""
    return "\n".join(f"  {name:<16}{summary}" for name, (_, summary) in DATASETS.items())
