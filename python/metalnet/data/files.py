"""The user's own data: arrays in an ``.npz`` file, or images sorted into class folders."""
from __future__ import annotations

import os

import numpy as np

from ._optional import require
from .dataset import ArrayDataset

__all__ = ["load_npz", "image_folder", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def load_npz(path, inputs="x", targets="y", classes=None) -> ArrayDataset:
    """An ArrayDataset from arrays ``inputs`` and ``targets`` stored in an ``.npz`` file.

    Integer targets make a classification dataset (classes: ``classes`` or '0'..'C-1');
    ``targets=None`` makes a reconstruction dataset (the target is the input). Float inputs
    become float32. Files are read without pickle, so loading never runs code.
    """
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        missing = [k for k in (inputs, targets) if k is not None and k not in archive.files]
        if missing:
            raise KeyError(f"{os.fspath(path)} has no array {missing[0]!r}; it holds "
                           f"{sorted(archive.files)}")
        x = archive[inputs]
        y = None if targets is None else archive[targets]
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
    if y is None:
        return ArrayDataset(x, x, task="reconstruction", description=f"npz {path}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"targets {targets!r} must hold integer class labels, got {y.dtype}")
    y = y.astype(np.int64)
    if classes is None:
        classes = [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]
    return ArrayDataset(x, y, classes=classes, description=f"npz {path}")


def _class_dirs(root):
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not names:
        raise ValueError(f"{root!r} has no class folders: put each class's images in "
                         f"root/<class name>/")
    return names


def _read(path, image_module, mode, size):
    with image_module.open(path) as image:
        image = image.convert(mode)
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), image_module.BILINEAR)
        return np.asarray(image, dtype=np.float32) / 255


def image_folder(root, size=None, grayscale=False) -> ArrayDataset:
    """Images in ``root/<class name>/*.png`` (or jpg, bmp, gif, tif) as one ArrayDataset.

    Classes are the folder names in sorted order (label = position). Inputs are
    (N, C, H, W) float32 in [0, 1], C = 1 (grayscale) or 3 (RGB); ``size`` (int or (H, W))
    resizes every image, otherwise all images must share one size.
    """
    image_module = require("PIL.Image", "Pillow")
    root = os.fspath(root)
    size = (size, size) if isinstance(size, int) else size
    classes, images, labels = _class_dirs(root), [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(IMAGE_SUFFIXES):
                images.append(_read(os.path.join(folder, file), image_module,
                                    "L" if grayscale else "RGB", size))
                labels.append(label)
    if not images:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root!r}")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images under {root!r} have different sizes {sorted(shapes)}; "
                         f"pass size= to resize them")
    x = np.stack(images)
    x = x[:, None] if grayscale else x.transpose(0, 3, 1, 2)
    return ArrayDataset(np.ascontiguousarray(x), np.array(labels, dtype=np.int64),
                        classes=classes, description=f"image folder {root}")
