"""GEMM side by side: metalnet cpu vs NumPy (OpenBLAS) vs PyTorch CPU, float32."""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import ops
from workloads import GEMM, gemm_flops, gemm_id

from conftest import torch

IMPLS = ["metalnet", "numpy", "torch"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", GEMM, ids=[gemm_id(s) for s in GEMM])
def test_gemm(benchmark, shape, impl, rng):
    m, n, k = shape
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    if impl == "metalnet":
        fn = lambda: ops.gemm(a, b)  # noqa: E731
    elif impl == "numpy":
        fn = lambda: a @ b  # noqa: E731
    else:
        if torch is None:
            pytest.skip("PyTorch is not installed")
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fn = lambda: ta @ tb  # noqa: E731
    benchmark.group = f"gemm {gemm_id(shape)}"
    benchmark.extra_info.update(flops=gemm_flops(m, n, k), impl=impl)
    benchmark(fn)
