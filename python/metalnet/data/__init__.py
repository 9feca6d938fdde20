"""``metalnet.data``: datasets that need no download, batching, splits and file loaders.

Real data shipped inside installed packages (``pip install "metalnet[data]"``):
- ``digits(size=8|28)``: scikit-learn's handwritten digits (28 = upsampled for LeNet-5);
- ``breast_cancer()``: scikit-learn's diagnostic table (scale it with ``standardize``);
- ``pathology_patches()``: patches of scikit-image's IHC slide, labelled by the DAB stain.
Generated on the spot: ``dna_motifs()`` (planted motifs), ``temporal_order()`` (an LSTM task).
Your own data: ``load_npz(path)``, ``image_folder(root)``. ``load(name_or_path)`` picks one.

``split(ds, (0.7, 0.15, 0.15), seed=0)`` makes train/val/test parts, and
``DataLoader(ds, batch_size, shuffle=True, seed=0, drop_last=False)`` yields Tensor batches.
"""
from .dataset import ArrayDataset
from .dna import dna_motifs, one_hot_dna
from .files import image_folder, load_npz
from .loader import DataLoader
from .pathology import pathology_patches
from .registry import DATASETS, describe, load
from .resize import resize_bilinear
from .split import split
from .tabular import breast_cancer, digits, standardize
from .temporal_order import temporal_order

__all__ = [
    "ArrayDataset", "DataLoader", "split", "standardize", "load", "describe", "DATASETS",
    "digits", "breast_cancer", "pathology_patches", "dna_motifs", "one_hot_dna",
    "temporal_order", "load_npz", "image_folder", "resize_bilinear",
]
