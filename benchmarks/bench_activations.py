"""Activations side by side on one (64, 64, 56, 56) float32 tensor, next to a memory copy of
the same bytes: metalnet cpu vs NumPy vs PyTorch CPU. Bytes = input read + output written."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops, reference
from workloads import ACTIVATIONS, TENSOR

from conftest import torch

TORCH = {"relu": "relu", "leaky_relu": "nn.functional.leaky_relu", "sigmoid": "sigmoid",
         "tanh": "tanh"}


def _torch_fn(name):
    fn = torch
    for part in TORCH[name].split("."):
        fn = getattr(fn, part)
    return fn


@pytest.mark.parametrize("impl", ["metalnet", "numpy", "torch", "copy"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward(benchmark, name, impl, rng):
    x = rng.standard_normal(TENSOR, dtype=np.float32)
    if impl == "metalnet":
        fn = lambda: getattr(ops, f"{name}_forward")(x)  # noqa: E731
    elif impl == "numpy":
        fn = lambda: getattr(reference, f"{name}_forward")(x)  # noqa: E731
    elif impl == "copy":
        fn = x.copy
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        tx, tfn = torch.from_numpy(x), _torch_fn(name)
        fn = lambda: tfn(tx)  # noqa: E731
    benchmark.group = f"{name} {TENSOR}"
    benchmark.extra_info.update(bytes=2 * x.nbytes, impl=impl)
    benchmark(fn)
