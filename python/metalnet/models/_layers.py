"""Small helpers the model builders share."""
from __future__ import annotations

from .. import nn

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh,
                "sigmoid": nn.Sigmoid}


def activation(name: str) -> nn.Module:
    """A fresh activation layer by name: 'relu', 'leaky_relu', 'tanh' or 'sigmoid'."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


def scaled(channels: int, width: int) -> int:
    """Channel count of a layer designed for width 64, at another base width (at least 1)."""
    return max(1, channels * width // 64)


def check_positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
