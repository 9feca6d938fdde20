"""The machine's measured ceilings, against which every rate is put as a fraction.

Compute: the best float32 GEMM rate among the fastest implementations at hand (metalnet's GEMM
and NumPy's BLAS on the host; cuBLAS through CuPy or PyTorch on the GPU) on one large square
product: an attainable peak, not the data-sheet FMA rate. Memory: a large array copy into an
already-touched destination (np.copyto / cupy copy), counting bytes read plus bytes written.
Both keep the best of a few runs: a ceiling is an upper bound."""
from __future__ import annotations

import numpy as np

from ..backends import _registry
from . import impls, timing
from .cases import normal

_PROBE = timing.Budget(warmup=1, min_rounds=3, max_rounds=20, seconds=0.2)


def _best_rate(fn, work, clock) -> float:
    return work / timing.measure(fn, clock, _PROBE).best


def _gemm_candidates(device, a, b):
    """(label, fn, clock) for each fast GEMM available on ``device``."""
    out = []
    if device == "cpu":
        if _registry.load("cpu") is not None:
            from .. import ops
            out.append(("metalnet cpu GEMM (C++)", lambda: ops.gemm(a, b), timing.HostClock()))
        out.append(("NumPy matmul (BLAS)", lambda: a @ b, timing.HostClock()))
        return out
    try:
        import cupy
        ca, cb = cupy.asarray(a), cupy.asarray(b)
        out.append(("cuBLAS via CuPy matmul", lambda: ca @ cb, timing.CupyClock()))
    except Exception:  # no CuPy: PyTorch below may still reach the GPU
        pass
    if impls.torch_cuda():
        torch = impls.load_torch()
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        out.append(("cuBLAS via PyTorch matmul (TF32 off)", lambda: ta @ tb, timing.TorchClock()))
    return out


def compute_ceiling(device: str, quick: bool, rng) -> dict:
    n = {"cpu": 1024 if quick else 2048, "cuda": 4096 if quick else 8192}[device]
    a, b = normal(rng, (n, n)), normal(rng, (n, n))
    rates = {label: _best_rate(fn, 2.0 * n ** 3, clock)
             for label, fn, clock in _gemm_candidates(device, a, b)}
    best = max(rates, key=rates.get)
    return {"flops_per_s": rates[best], "candidates": rates,
            "method": f"float32 GEMM {n}x{n}x{n} by {best}, the fastest of "
                      f"{len(rates)} tried; best of a few runs"}


def _copy_candidate(device, nbytes):
    """(fn, clock, label) copying ``nbytes`` of float32 on ``device``. The values do not matter
    to a copy, so the source is a cheap non-zero fill made where it lives."""
    n = nbytes // 4
    if device == "cpu":
        src = np.full(n, 1.5, dtype=np.float32)
        dst = np.empty_like(src)
        return (lambda: np.copyto(dst, src)), timing.HostClock(), "np.copyto"
    try:
        import cupy
        csrc = cupy.full(n, 1.5, dtype=cupy.float32)
        cdst = cupy.empty_like(csrc)
        return (lambda: cupy.copyto(cdst, csrc)), timing.CupyClock(), "cupy.copyto"
    except Exception:  # no CuPy: copy with PyTorch
        torch = impls.load_torch()
        tsrc = torch.full((n,), 1.5, dtype=torch.float32, device="cuda")
        tdst = torch.empty_like(tsrc)
        return (lambda: tdst.copy_(tsrc)), timing.TorchClock(), "torch.Tensor.copy_"


def bandwidth_ceiling(device: str, quick: bool) -> dict:
    mib = {"cpu": 64 if quick else 256, "cuda": 512 if quick else 2048}[device]
    fn, clock, label = _copy_candidate(device, mib << 20)
    fn()  # touch the destination's pages once: the probe measures copying, not page faults
    rate = _best_rate(fn, 2.0 * (mib << 20), clock)
    return {"bytes_per_s": rate,
            "method": f"{label} of {mib} MiB float32 into a touched destination, "
                      f"bytes read + written, best of a few runs"}


def measure_ceilings(devices, quick: bool, rng) -> dict:
    """{device: {"compute": {...}, "memory": {...}}} for each device benchmarked."""
    return {d: {"compute": compute_ceiling(d, quick, rng),
                "memory": bandwidth_ceiling(d, quick)} for d in devices}
