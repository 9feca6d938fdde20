"""Image patches cut from scikit-image's bundled immunohistochemistry (IHC) slide.

The slide (``skimage.data.immunohistochemistry``, 512x512 RGB) shows colon tissue stained with
haematoxylin (blue nuclei) and DAB (brown, the antibody's target, here epithelial cell
membranes). Labels come from the stain itself, not from a pathologist:

1. colour deconvolution (``skimage.color.rgb2hed``) separates the DAB optical density;
2. a pixel is DAB-positive when that density exceeds ``DAB_THRESHOLD`` (0.08);
3. a patch is labelled ``dab_positive`` (1) when at least ``POSITIVE_FRACTION`` (30%) of its
   pixels are DAB-positive, else ``dab_negative`` (0: stroma, lumen, background).

With the defaults (32x32 patches, stride 32) that gives 256 patches, half of each class. A
network learns to tell stained epithelium from unstained tissue from RGB alone. A stride below
the patch size gives more, overlapping patches: a random split then puts overlapping pixels in
both train and test, so prefer the default for honest test scores.
"""
from __future__ import annotations

import numpy as np

from ._optional import require
from .dataset import ArrayDataset

__all__ = ["pathology_patches", "DAB_THRESHOLD", "POSITIVE_FRACTION"]

DAB_THRESHOLD = 0.08
POSITIVE_FRACTION = 0.3


def _windows(image: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(count, size, size, ...) patches at every stride step, in row-major order."""
    starts = range(0, image.shape[0] - size + 1, stride)
    return np.stack([image[i:i + size, j:j + size]
                     for i in starts for j in range(0, image.shape[1] - size + 1, stride)])


def pathology_patches(size=32, stride=None) -> ArrayDataset:
    """Patches (N, 3, size, size) float32 RGB in [0, 1] with stain-derived labels 0/1."""
    skdata = require("skimage.data", "scikit-image")
    skcolor = require("skimage.color", "scikit-image")
    stride = size if stride is None else stride
    if size < 1 or stride < 1 or size > 512:
        raise ValueError(f"size must be in [1, 512] and stride positive, got {size}, {stride}")
    rgb = skdata.immunohistochemistry()
    dab = skcolor.rgb2hed(rgb)[..., 2] > DAB_THRESHOLD
    patches = _windows(rgb, size, stride)
    positive = _windows(dab, size, stride).mean(axis=(1, 2)) >= POSITIVE_FRACTION
    images = np.ascontiguousarray(patches.transpose(0, 3, 1, 2), dtype=np.float32) / 255
    return ArrayDataset(images, positive.astype(np.int64),
                        classes=["dab_negative", "dab_positive"],
                        description=f"IHC slide patches {size}x{size}, stride {stride}; label: "
                                    f">= {POSITIVE_FRACTION:.0%} DAB-positive pixels")
