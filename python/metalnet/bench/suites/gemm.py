"""GEMM: C = A @ B in float32 on every implementation (metalnet's GEMM, NumPy's BLAS, PyTorch)."""
from __future__ import annotations

from ... import ops
from .. import workloads as W
from ..cases import Case, normal


def _build(shape):
    m, n, k = shape

    def build(impl, rng):
        a = impl.asarray(normal(rng, (m, k)))
        b = impl.asarray(normal(rng, (k, n)))
        if impl.family == "metalnet":
            return lambda: ops.gemm(a, b)
        return lambda: a @ b   # NumPy BLAS, or PyTorch's matmul
    return build


def cases(quick: bool) -> list[Case]:
    shapes = W.GEMM_QUICK if quick else W.GEMM
    return [Case("gemm", f"gemm {W.gemm_id(s)}", W.gemm_flops(*s), W.gemm_bytes(*s), "flops",
                 ("gemm",), _build(s), numpy_label="NumPy matmul (BLAS)") for s in shapes]
