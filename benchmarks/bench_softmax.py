"""Softmax cross-entropy (loss + gradient) side by side: metalnet cpu vs NumPy reference vs
PyTorch CPU (forward + backward of F.cross_entropy)."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops, reference
from workloads import SOFTMAX

from conftest import torch


@pytest.mark.parametrize("impl", ["metalnet", "numpy", "torch"])
@pytest.mark.parametrize("rows, classes", SOFTMAX)
def test_softmax_cross_entropy(benchmark, rows, classes, impl, rng):
    x = rng.standard_normal((rows, classes), dtype=np.float32)
    labels = rng.integers(0, classes, rows).astype(np.int64)
    if impl == "metalnet":
        fn = lambda: ops.softmax_cross_entropy(x, labels)  # noqa: E731
    elif impl == "numpy":
        fn = lambda: reference.softmax_cross_entropy(x, labels)  # noqa: E731
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        tl = torch.from_numpy(labels)

        def fn():
            tx = torch.from_numpy(x).requires_grad_()
            loss = torch.nn.functional.cross_entropy(tx, tl)
            return torch.autograd.grad(loss, tx)
    benchmark.group = f"softmax_cross_entropy {rows}x{classes}"
    benchmark.extra_info.update(bytes=2 * x.nbytes, impl=impl)
    benchmark(fn)
