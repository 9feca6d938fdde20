"""Bilinear resizing of image batches with NumPy alone (no imaging package needed)."""
from __future__ import annotations

import numpy as np

__all__ = ["resize_bilinear"]


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation matrix; pixel centres aligned as in most imaging packages."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    centres = np.clip(centres, 0, n_in - 1)
    lo = np.floor(centres).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = centres - lo
    w = np.zeros((n_out, n_in))
    w[np.arange(n_out), lo] += 1 - frac
    w[np.arange(n_out), hi] += frac
    return w


def resize_bilinear(images: np.ndarray, size) -> np.ndarray:
    """Resize (..., H, W) images to (..., size[0], size[1]); keeps the dtype."""
    out_h, out_w = (size, size) if np.isscalar(size) else size
    rows = _weights(images.shape[-2], out_h)
    cols = _weights(images.shape[-1], out_w)
    # Separable: interpolate along rows, then along columns.
    out = np.einsum("ih,...hw,jw->...ij", rows, images.astype(np.float64), cols)
    return out.astype(images.dtype)
