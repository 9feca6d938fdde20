"""Helpers shared by the explainer tests (random layers, an independent window count), and the
check that this independent count agrees with the output-size formula."""
from __future__ import annotations

import numpy as np

from metalnet import _args


def count_windows(size, pad_before, pad_after, kernel, stride, dilation=1):
    """Slide a window along one padded axis and count the positions where it fits."""
    count, start = 0, 0
    while start + dilation * (kernel - 1) <= size + pad_before + pad_after - 1:
        count += 1
        start += stride
    return count


def random_layer(rng, *, kernel=None, stride=None, dilation=None, max_size=9):
    """(x_shape, w_shape, geometry kwargs) of a random layer whose kernel fits its input.

    Stride and dilation differ between rows and columns and the padding is a 4-tuple, unless
    fixed by the caller.
    """
    while True:
        n, c, k = (int(v) for v in rng.integers(1, 4, size=3))
        h, w = (int(v) for v in rng.integers(1, max_size + 1, size=2))
        r, s = kernel or tuple(int(v) for v in rng.integers(1, 5, size=2))
        geo = {
            "stride": stride or tuple(int(v) for v in rng.integers(1, 4, size=2)),
            "padding": tuple(int(v) for v in rng.integers(0, 3, size=4)),
            "dilation": dilation or tuple(int(v) for v in rng.integers(1, 3, size=2)),
        }
        (sh, sw), (dh, dw), (top, bottom, left, right) = geo["stride"], geo["dilation"], \
            geo["padding"]
        if (count_windows(h, top, bottom, r, sh, dh) > 0
                and count_windows(w, left, right, s, sw, dw) > 0):
            return (n, c, h, w), (k, c, r, s), geo


def arrays(rng, x_shape, w_shape, dtype=np.float64):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b


def rel_err(out, ref) -> float:
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(out - ref) / scale) if scale else float(np.linalg.norm(out))


def test_window_count_agrees_with_the_formula(rng, seed):
    for _ in range(200):
        size, before, after, kernel, stride, dilation = (int(v) for v in
                                                         rng.integers(1, 9, size=6))
        counted = count_windows(size, before - 1, after - 1, kernel, stride, dilation)
        formula = max(0, _args.out_size(size, before - 1, after - 1, kernel, stride, dilation))
        assert counted == formula, (seed, size, before - 1, after - 1, kernel, stride, dilation)
