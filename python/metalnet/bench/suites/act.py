"""Activations forward on one activation-sized tensor, and softmax cross-entropy (loss and
gradient): metalnet, the NumPy reference, PyTorch. Rates are GB/s: these ops are
bandwidth-bound, so the copy ceiling is their yardstick."""
from __future__ import annotations

import math

import numpy as np

from ... import ops, reference
from .. import workloads as W
from ..cases import Case, normal
from ..impls import load_torch

# Nominal flops per element, only to place the points on the roofline.
_FLOPS_PER_ELEMENT = {"relu": 1, "leaky_relu": 2, "sigmoid": 4, "tanh": 4}
_SOFTMAX_FLOPS_PER_ELEMENT = 5   # max, subtract, exp, sum, scale


def _torch_activation(name):
    torch = load_torch()
    if name == "leaky_relu":
        return lambda t: torch.nn.functional.leaky_relu(t, 0.01)
    return getattr(torch, name)


def _build_activation(shape, name):
    def build(impl, rng):
        x = impl.asarray(normal(rng, shape))
        if impl.family == "torch":
            fn = _torch_activation(name)
            return lambda: fn(x)
        op = getattr(ops if impl.family == "metalnet" else reference, f"{name}_forward")
        return lambda: op(x)
    return build


def _build_softmax(rows, classes):
    def build(impl, rng):
        x = impl.asarray(normal(rng, (rows, classes)))
        labels = impl.asarray(rng.integers(0, classes, rows).astype(np.int64))
        if impl.family != "torch":
            op = ops if impl.family == "metalnet" else reference
            return lambda: op.softmax_cross_entropy(x, labels)
        torch = load_torch()

        def fn():  # loss and gradient, as metalnet's primitive returns both
            tx = x.detach().requires_grad_()
            loss = torch.nn.functional.cross_entropy(tx, labels)
            return torch.autograd.grad(loss, tx)
        return fn
    return build


def cases(quick: bool) -> list[Case]:
    shape = W.TENSOR_QUICK if quick else W.TENSOR
    n = math.prod(shape)
    out = [Case("act", f"{name} {'x'.join(map(str, shape))}",
                float(n * _FLOPS_PER_ELEMENT[name]), 8.0 * n, "bytes", (f"{name}_forward",),
                _build_activation(shape, name))
           for name in (W.ACTIVATIONS_QUICK if quick else W.ACTIVATIONS)]
    for rows, classes in (W.SOFTMAX_QUICK if quick else W.SOFTMAX):
        out.append(Case("act", f"softmax_cross_entropy {rows}x{classes}",
                        float(_SOFTMAX_FLOPS_PER_ELEMENT * rows * classes),
                        8.0 * rows * classes, "bytes", ("softmax_cross_entropy",),
                        _build_softmax(rows, classes)))
    return out
