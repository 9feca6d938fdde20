"""Shared benchmark fixtures: the machine description goes into every JSON report."""
from __future__ import annotations

import os
import platform

import numpy as np
import pytest

import metalnet
from metalnet.bench.timing import settle_allocator, settle_blas

try:
    import torch
except ImportError:  # the PyTorch columns are then absent, and the report says so
    torch = None


def pytest_benchmark_update_machine_info(config, machine_info):
    info = metalnet.info()
    machine_info["metalnet"] = {
        "version": info["version"], "cpu_model": info["cpu"]["model"],
        "isa": info["cpu"]["active_isa"], "threads": info["cpu"]["threads"],
        "logical_cores": os.cpu_count(), "numpy": np.__version__,
        "torch": torch.__version__ if torch else None, "platform": platform.platform(),
        "gpu": [d["name"] for d in info["cuda"]["devices"]],
    }


@pytest.fixture(scope="session", autouse=True)
def same_threads():
    """Every peer gets the same number of threads as metalnet, and the allocator the state of a
    long-running process (metalnet.bench.timing.settle_allocator: without it, PyTorch's
    temporaries fault in fresh pages on every call, and its times depended on whether some
    earlier test had freed a large block)."""
    if torch is not None:
        torch.set_num_threads(metalnet.get_num_threads())
    settle_allocator()


@pytest.fixture(autouse=True)
def quiet_blas(request):
    """After a NumPy peer (im2col + matmul), its BLAS threads spin for more work on every core
    for about 0.1 s; the next benchmark waits until they sleep (metalnet.bench.timing.settle_blas)."""
    yield
    params = getattr(request.node, "callspec", None)
    if params is not None and str(params.params.get("impl", "")).startswith("numpy"):
        settle_blas()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
