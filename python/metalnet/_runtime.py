"""Process-wide settings of the CPU kernels: threads and instruction set."""
from __future__ import annotations

import os
import warnings

try:
    from . import _cpu
    _CPU_ERROR = None
except ImportError as exc:  # a source checkout without a build, or a broken build
    _cpu = None
    _CPU_ERROR = f"{type(exc).__name__}: {exc}"

ISAS = ("avx512", "avx2", "generic")


def _warn_bad_isa_env() -> None:
    """The C++ side ignores a bad METALNET_CPU_ISA (import must not fail); say so here."""
    wanted = os.environ.get("METALNET_CPU_ISA")
    if wanted and _cpu is not None and wanted != _cpu.active_isa():
        warnings.warn(
            f"METALNET_CPU_ISA={wanted!r} ignored: expected one of {ISAS} supported by this CPU "
            f"(best: {_cpu.best_isa()!r}); using {_cpu.active_isa()!r}",
            RuntimeWarning, stacklevel=3,
        )


_warn_bad_isa_env()


def get_num_threads() -> int:
    """Threads the C++ kernels use (from OMP_NUM_THREADS or the core count at start)."""
    return _cpu.num_threads() if _cpu is not None else 1


def set_num_threads(n: int) -> None:
    """Use ``n`` >= 1 threads in the C++ kernels (small inputs still run on one)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if _cpu is None:
        raise RuntimeError(f"the C++ extension is not available ({_CPU_ERROR})")
    _cpu.set_num_threads(n)


def cpu_isa() -> str:
    """The instruction set the C++ kernels run with now: 'avx512', 'avx2' or 'generic'."""
    return _cpu.active_isa() if _cpu is not None else "none"


def set_cpu_isa(name: str) -> None:
    """Force the C++ kernels onto ``name`` ('avx512', 'avx2', 'generic'); this CPU must have it."""
    if name not in ISAS:
        raise ValueError(f"name must be one of {ISAS}, got {name!r}")
    if _cpu is None:
        raise RuntimeError(f"the C++ extension is not available ({_CPU_ERROR})")
    _cpu.set_isa(name)
