"""Shared test machinery: poisoned outputs, fresh seeds, backends, device moves, tolerances."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import metalnet
from metalnet import _memory
from metalnet.backends import _registry


@pytest.fixture(autouse=True)
def poison():
    """Every output a backend allocates starts as NaN, so an unwritten element fails."""
    with _memory.poisoning():
        yield


@pytest.fixture
def seed(request):
    """A fresh seed per test, shown in the test report so a failure can be replayed."""
    value = int(np.random.SeedSequence().entropy % (2**32))
    request.node.user_properties.append(("seed", value))
    print(f"seed={value}")
    return value


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


def _backend_params():
    params = []
    for name in _registry.ALL:
        module = _registry.load(name)
        marks = [pytest.mark.gpu] if name in ("cupy", "cuda") else []
        if module is None:
            marks.append(pytest.mark.skip(reason=f"backend {name!r} unavailable: "
                                                 f"{_registry.reason(name)}"))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


BACKENDS = _backend_params()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend in turn; calls inside the test run on it (arrays moved with ``to_device``)."""
    with metalnet.backend(request.param):
        yield request.param


def to_device(a, backend_name):
    """Move a host array to where ``backend_name`` runs (CuPy for the GPU backends)."""
    if a is None or not isinstance(a, np.ndarray):
        return a
    if _registry.load(backend_name).DEVICE == "cuda":
        import cupy
        return cupy.asarray(a)
    return a


def to_host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def tolerance(dtype, backend_name, chain: float = 1.0) -> float:
    """Relative-norm tolerance against the float64 reference (DEVELOPERS.md, Tests).

    ``chain`` widens it for results that pass through several rounded steps (an LSTM backward
    is ten dependent operations deep): float32 rounding compounds, it does not vanish.
    """
    if np.dtype(dtype) == np.float64:
        return 1e-12 * chain
    return (1e-5 if _registry.load(backend_name).DEVICE == "cuda" else 1e-6) * chain


@contextlib.contextmanager
def num_threads(n: int):
    """The C++ kernels on n threads within the block, the previous count restored after."""
    before = metalnet.get_num_threads()
    metalnet.set_num_threads(n)
    try:
        yield
    finally:
        metalnet.set_num_threads(before)


def assert_close(out, ref, dtype, backend_name, what="output", chain: float = 1.0,
                 floor_rms: float = 0.0):
    """||out - ref|| / ||ref|| within tolerance.

    ``floor_rms`` measures the error against at least that RMS per element: for results with a
    known natural size that can land near 0 by cancellation (a loss of -log(0.99999), a
    gradient p - 1 with p near 1), where a plain relative error would measure the cancellation.
    """
    out = to_host(out)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"{what}: shape {out.shape} != reference {ref.shape}"
    assert out.dtype == np.dtype(dtype), f"{what}: dtype {out.dtype} != {np.dtype(dtype)}"
    assert np.all(np.isfinite(out) | ~np.isfinite(ref)), f"{what}: NaN/inf where the reference is finite (unwritten?)"
    denom = np.linalg.norm(ref)
    denom = max(denom, floor_rms * np.sqrt(ref.size))
    err = np.linalg.norm(out.astype(np.float64) - ref) / (denom if denom > 0 else 1.0)
    tol = tolerance(dtype, backend_name, chain)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g} ({backend_name}, {np.dtype(dtype)})"


def _cpu_isas():
    """The instruction sets the C++ kernels can run here: the CPU's best and every lower one."""
    try:
        from metalnet import _cpu
    except ImportError:
        return []
    order = ("avx512", "avx2", "generic")
    return list(order[order.index(_cpu.best_isa()):])


@pytest.fixture(params=_cpu_isas())
def isa(request):
    """Each ISA path of the C++ kernels in turn (the best one is restored afterwards)."""
    before = metalnet.cpu_isa()
    metalnet.set_cpu_isa(request.param)
    yield request.param
    metalnet.set_cpu_isa(before)
