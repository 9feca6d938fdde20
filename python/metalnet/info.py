"""``metalnet.info()``: what is installed, what runs where, and why something does not."""
from __future__ import annotations

import os
import platform
import sys

import numpy as np

from . import __version__
from . import _runtime
from .backends import _registry


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_info() -> dict:
    flags = _cpu_flags()
    cpu = _runtime._cpu
    return {
        "model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "avx2": "avx2" in flags and "fma" in flags,
        "avx512": {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= flags,
        "extension": cpu is not None,
        "extension_error": _runtime._CPU_ERROR,
        "best_isa": cpu.best_isa() if cpu else None,
        "active_isa": cpu.active_isa() if cpu else None,
        "threads": _runtime.get_num_threads(),
        "openmp": bool(cpu.openmp) if cpu else False,
        "compiler": cpu.compiler if cpu else None,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def _cuda_info() -> dict:
    out: dict = {"module": False, "reason": None, "devices": []}
    try:
        from . import _cuda
    except ImportError as exc:
        out["reason"] = ("metalnet._cuda was not built (nvcc was not found when the package was "
                         f"installed, or the CUDA configure failed): {exc}")
        return out
    out["module"] = True
    out["runtime_version"] = _cuda.runtime_version
    out["driver_version"] = _cuda.driver_version()
    count, message = _cuda.device_status()
    if count < 1:
        out["reason"] = f"no usable CUDA device: {message}"
    else:
        out["devices"] = [_cuda.device_properties(i) for i in range(count)]
    return out


def _cupy_info() -> dict:
    try:
        import cupy
    except Exception as exc:
        return {"version": None, "reason": f"CuPy is not installed ({type(exc).__name__})"}
    return {"version": cupy.__version__, "reason": _registry.reason("cupy")}


def info() -> dict:
    """A dict describing this installation (``metalnet info`` prints it)."""
    backends = {}
    for name in _registry.ALL:
        module = _registry.load(name)
        backends[name] = {
            "available": module is not None,
            "reason": _registry.reason(name),
            "device": module.DEVICE if module else None,
        }
    primitives = {
        prim: {name: _registry.load(name).IMPLEMENTATIONS[prim]
               for name in _registry.ALL if _registry.load(name) is not None}
        for prim in _registry.PRIMITIVES
    }
    # Optional fused functions (ops.has_fused): which available backends define each.
    fused = {
        name: {b: hasattr(_registry.load(b), name)
               for b in _registry.ALL if _registry.load(b) is not None}
        for name in _registry.FUSED
    }
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "backends": backends,
        "default_backend": {dev: next((n for n in order if backends[n]["available"]), None)
                            for dev, order in _registry.BACKENDS.items()},
        "primitives": primitives,
        "fused": fused,
        "cpu": _cpu_info(),
        "cuda": _cuda_info(),
        "cupy": _cupy_info(),
    }


def format_info(data: dict) -> str:
    """The human-readable report of ``info()``."""
    lines = [f"metalnet {data['version']}  (Python {data['python']}, NumPy {data['numpy']})",
             f"platform: {data['platform']}", ""]
    cpu = data["cpu"]
    isa = f"{cpu['active_isa']} (best {cpu['best_isa']})" if cpu["extension"] else "n/a"
    lines += [
        f"CPU:      {cpu['model']}, {cpu['logical_cores']} logical cores",
        f"          AVX2+FMA: {'yes' if cpu['avx2'] else 'no'}, "
        f"AVX-512: {'yes' if cpu['avx512'] else 'no'}; kernels use {isa}",
        f"          threads: {cpu['threads']} (OpenMP {'on' if cpu['openmp'] else 'off'}, "
        f"OMP_NUM_THREADS={cpu['OMP_NUM_THREADS'] or 'unset'})",
    ]
    if cpu["extension"]:
        lines.append(f"          built with {cpu['compiler']}")
    else:
        lines.append(f"          C++ extension missing: {cpu['extension_error']}")
    cuda = data["cuda"]
    if cuda["module"]:
        rt = cuda["runtime_version"]
        lines.append(f"CUDA:     module built (runtime {rt // 1000}.{rt % 1000 // 10}), "
                     f"driver {cuda['driver_version'] or 'none'}")
        for i, dev in enumerate(cuda["devices"]):
            cc = ".".join(map(str, dev["compute_capability"]))
            lines.append(f"          GPU {i}: {dev['name']} (sm_{cc.replace('.', '')}, "
                         f"{dev['multiprocessors']} SMs, {dev['total_memory'] / 2**30:.1f} GiB)")
    else:
        lines.append("CUDA:     module not built")
    if cuda["reason"]:
        lines.append(f"          {cuda['reason']}")
    cupy = data["cupy"]
    lines.append(f"CuPy:     {cupy['version'] or 'not installed'}"
                 + (f" ({cupy['reason']})" if cupy["version"] and cupy["reason"] else ""))
    lines.append("")
    lines.append("backends:")
    for name, b in data["backends"].items():
        state = f"available ({b['device']})" if b["available"] else f"unavailable: {b['reason']}"
        lines.append(f"  {name:6s} {state}")
    lines.append("  default: " + ", ".join(f"{dev} arrays -> {name or 'none'}"
                                           for dev, name in data["default_backend"].items()))
    lines.append("")
    names = [n for n, b in data["backends"].items() if b["available"]]
    width = max(len(p) for p in list(data["primitives"]) + list(data.get("fused", {})))
    lines.append("primitive".ljust(width) + "  " + "  ".join(n.ljust(6) for n in names))
    for prim, impls in data["primitives"].items():
        cells = [(impls.get(n) or "-").ljust(6) for n in names]
        lines.append(prim.ljust(width) + "  " + "  ".join(cells))
    lines.append("(C++ / CUDA: native kernel; NumPy / CuPy: array-library code; -: not available)")
    lines.append("")
    lines.append("fused".ljust(width) + "  " + "  ".join(n.ljust(6) for n in names))
    for name, has in data["fused"].items():
        lines.append(name.ljust(width) + "  " + "  ".join(
            ("yes" if has.get(n) else "-").ljust(6) for n in names))
    lines.append("(optional one-pass functions the layers use where a backend has them)")
    return "\n".join(lines)
