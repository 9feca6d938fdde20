"""2-D convolution forward (with bias) on the course's layers: metalnet's conv2d_forward, the
NumPy im2col reference, PyTorch's conv2d."""
from __future__ import annotations

from ... import ops, reference
from .. import workloads as W
from ..cases import Case, normal
from ..impls import load_torch


def _build(cv: W.Conv):
    def build(impl, rng):
        x = impl.asarray(normal(rng, (cv.n, cv.c, cv.h, cv.w)))
        w = impl.asarray(normal(rng, (cv.k, cv.c, cv.r, cv.s), scale=0.1))
        b = impl.asarray(normal(rng, (cv.k,)))
        geometry = dict(stride=cv.stride, padding=cv.padding)
        if impl.family == "metalnet":
            return lambda: ops.conv2d_forward(x, w, b, **geometry)
        if impl.family == "numpy":
            return lambda: reference.conv2d_forward(x, w, b, **geometry)
        conv2d = load_torch().nn.functional.conv2d
        return lambda: conv2d(x, w, b, **geometry)
    return build


def cases(quick: bool) -> list[Case]:
    shapes = W.CONV_QUICK if quick else W.CONV
    return [Case("conv", f"conv {W.conv_id(cv)}", W.conv_flops(cv), W.conv_bytes(cv), "flops",
                 ("conv2d_forward",), _build(cv), numpy_label="NumPy im2col (reference)")
            for cv in shapes]
