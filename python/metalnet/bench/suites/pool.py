"""Max and average pooling forward on one activation-sized tensor. Max pooling returns the
argmax everywhere (PyTorch with return_indices=True), so every peer does the same work."""
from __future__ import annotations

import math

from ... import ops, reference
from .. import workloads as W
from ..cases import Case, normal
from ..impls import load_torch


def _out_elements(shape, kernel, stride, padding) -> int:
    n, c, h, w = shape
    ho = (h + 2 * padding - kernel) // stride + 1
    wo = (w + 2 * padding - kernel) // stride + 1
    return n * c * ho * wo


def _build(shape, name, kernel, stride, padding):
    is_max = name.startswith("max")

    def build(impl, rng):
        x = impl.asarray(normal(rng, shape))
        if impl.family == "torch":
            F = load_torch().nn.functional
            if is_max:
                return lambda: F.max_pool2d(x, kernel, stride, padding, return_indices=True)
            return lambda: F.avg_pool2d(x, kernel, stride, padding)
        lib = ops if impl.family == "metalnet" else reference
        op = lib.max_pool2d_forward if is_max else lib.avg_pool2d_forward
        return lambda: op(x, kernel, stride=stride, padding=padding)
    return build


def cases(quick: bool) -> list[Case]:
    shape = W.TENSOR_QUICK if quick else W.TENSOR
    out = []
    for name, kernel, stride, padding in (W.POOLS_QUICK if quick else W.POOLS):
        n_in = math.prod(shape)
        n_out = _out_elements(shape, kernel, stride, padding)
        moved = 4 * (n_in + n_out) + (8 * n_out if name.startswith("max") else 0)  # + argmax
        prim = "max_pool2d_forward" if name.startswith("max") else "avg_pool2d_forward"
        out.append(Case("pool", f"pool {name} {'x'.join(map(str, shape))}",
                        float(n_out * kernel * kernel), float(moved), "bytes", (prim,),
                        _build(shape, name, kernel, stride, padding)))
    return out
