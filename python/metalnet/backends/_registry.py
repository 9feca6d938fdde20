"""Which backends exist, which can load here, and which one runs a given call.

A backend is a module in this package exposing every name in PRIMITIVES with the contract's
signature, plus NAME, DEVICE ("cpu" or "cuda") and IMPLEMENTATIONS (primitive -> "C++", "CUDA",
"NumPy", "CuPy" or None when it cannot run that primitive at all), and optionally the fused
forwards named in FUSED.
"""
from __future__ import annotations

import contextvars
import importlib

PRIMITIVES = (
    "gemm",
    "bias_add", "bias_add_backward",
    "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "softmax", "log_softmax", "softmax_cross_entropy",
    "lstm_cell_forward", "lstm_cell_backward",
    "lstm_forward", "lstm_backward",
)

# Optional backend-level fused functions, outside the primitive table: a backend may define them
# (cuda and cupy do the convolution's, cpu batch norm's and the SGD step), ops.has_fused says
# whether the one running an array does, and the layers (metalnet.functional) and optimizers use
# them there and compose the primitives or array ops elsewhere.
FUSED = ("conv2d_bias_relu_forward", "batch_norm_forward", "batch_norm_backward", "sgd_update")

# Preference order per device: the first available one is the default.
BACKENDS = {"cpu": ("cpu", "numpy"), "cuda": ("cuda", "cupy")}
ALL = ("numpy", "cpu", "cupy", "cuda")

_loaded: dict[str, object] = {}
_reasons: dict[str, str] = {}
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("metalnet_backend", default=None)


def load(name: str):
    """The backend module, or None (the reason is in ``reason(name)``)."""
    if name not in ALL:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(ALL)}")
    if name not in _loaded and name not in _reasons:
        try:
            _loaded[name] = importlib.import_module(f"{__package__}.{name}")
        except Exception as exc:  # ImportError, or a broken CUDA install: never fatal
            _reasons[name] = f"{type(exc).__name__}: {exc}"
    return _loaded.get(name)


def reason(name: str) -> str | None:
    """Why ``name`` is unavailable, or None when it loaded."""
    load(name)
    return _reasons.get(name)


def available() -> list[str]:
    return [name for name in ALL if load(name) is not None]


def forced() -> str | None:
    return _forced.get()


def set_forced(name: str | None):
    return _forced.set(name)


def reset_forced(token) -> None:
    _forced.reset(token)


def for_device(device: str):
    """The backend module that runs arrays living on ``device`` ('cpu' or 'cuda')."""
    name = forced()
    if name is not None:
        module = load(name)
        if module.DEVICE != device:
            where = "NumPy (host)" if device == "cpu" else "CuPy (GPU)"
            raise TypeError(
                f"backend {name!r} runs on {module.DEVICE!r} arrays but got {where} arrays; "
                f"move them (cupy.asarray / .get()) or choose another backend"
            )
        return module
    for candidate in BACKENDS[device]:
        module = load(candidate)
        if module is not None:
            return module
    raise RuntimeError(
        f"no backend can run {device} arrays: "
        + "; ".join(f"{n}: {reason(n)}" for n in BACKENDS[device])
    )
