"""The implementations ``metalnet bench`` compares: metalnet's backends and its peers.

Each ``Impl`` knows its device, how to put a NumPy array there, which metalnet backend to force
while it runs, and which clock times it (wall clock on the host, events on the GPU)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backends import _registry
from . import timing

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Impl:
    """name: the row label ('metalnet cpu', 'numpy', 'torch cuda', ...); family: 'metalnet',
    'numpy' or 'torch'; backend: the metalnet backend forced while it runs (None: not forced)."""
    name: str
    family: str
    device: str
    backend: Optional[str] = None

    def asarray(self, x: np.ndarray):
        """``x`` on this implementation's device, in its array type."""
        if self.family == "torch":
            torch = load_torch()
            t = torch.from_numpy(x)
            return t.to("cuda") if self.device == "cuda" else t
        if self.device == "cuda":
            import cupy
            return cupy.asarray(x)
        return x

    def clock(self):
        if self.device == "cpu":
            return timing.HostClock()
        return timing.TorchClock() if self.family == "torch" else timing.CupyClock()

    def runs(self, primitives, numpy_label: str) -> str:
        """What actually executes: the backend's implementation of each primitive used."""
        if self.family == "torch":
            return f"PyTorch {load_torch().__version__}"
        if self.family == "numpy":
            return numpy_label
        table = _registry.load(self.backend).IMPLEMENTATIONS
        kinds = []
        for prim in primitives:
            kind = table.get(prim) or "-"
            if kind not in kinds:
                kinds.append(kind)
        return " + ".join(kinds)


_TORCH = {}


def load_torch():
    """PyTorch, or None; threads matched to metalnet's and TF32 off, so every peer computes
    full float32 with the same cores."""
    if "module" not in _TORCH:
        try:
            import torch
        except Exception as exc:  # any broken install just drops the PyTorch rows
            _TORCH.update(module=None, reason=f"PyTorch is not installed ({type(exc).__name__})")
        else:
            from .. import get_num_threads
            torch.set_num_threads(get_num_threads())
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            _TORCH.update(module=torch, reason=None)
    return _TORCH["module"]


def torch_cuda() -> bool:
    torch = load_torch()
    return bool(torch is not None and torch.cuda.is_available())


def for_device(device: str) -> list[Impl]:
    """Every implementation that can run here on ``device``, metalnet's first."""
    out = []
    if device == "cpu":
        if _registry.load("cpu") is not None:
            out.append(Impl("metalnet cpu", "metalnet", "cpu", "cpu"))
        out.append(Impl("numpy", "numpy", "cpu", "numpy"))
        if load_torch() is not None:
            out.append(Impl("torch cpu", "torch", "cpu"))
    elif device == "cuda":
        for backend in ("cuda", "cupy"):
            if _registry.load(backend) is not None:
                out.append(Impl(f"metalnet {backend}", "metalnet", "cuda", backend))
        if torch_cuda():
            out.append(Impl("torch cuda", "torch", "cuda"))
    else:
        raise ValueError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    return out


def unavailable_reason(device: str) -> str:
    """Why nothing runs on ``device`` (for the error message)."""
    if device == "cuda":
        torch_reason = None if torch_cuda() else (_TORCH.get("reason")
                                                  or "this PyTorch build sees no CUDA device")
        return (f"metalnet cuda: {_registry.reason('cuda')}; metalnet cupy: "
                f"{_registry.reason('cupy')}; torch: {torch_reason}")
    return "no CPU implementation loaded"


def parse_devices(text: Optional[str]) -> list[str]:
    """'cpu,cuda' -> ['cpu', 'cuda']; None -> cpu plus cuda when anything runs there."""
    if text is None:
        return [d for d in DEVICES if d == "cpu" or for_device(d)]
    devices = [d.strip().lower() for d in text.split(",") if d.strip()]
    for d in devices:
        if d not in DEVICES:
            raise ValueError(f"unknown device {d!r}: expected a comma-separated list of "
                             f"{', '.join(DEVICES)}")
        if not for_device(d):
            raise ValueError(f"nothing can run on {d!r} here ({unavailable_reason(d)})")
    if not devices:
        raise ValueError(f"--device is empty: expected a comma-separated list of "
                         f"{', '.join(DEVICES)}")
    return list(dict.fromkeys(devices))
