"""``mlp``: a multi-layer perceptron classifier."""
from __future__ import annotations

from .. import nn
from ._layers import activation as make_activation
from ._layers import check_positive

__all__ = ["mlp"]


def mlp(in_features, hidden=(256, 128), num_classes=10, activation="relu", dropout=0.0,
        batch_norm=False) -> nn.Sequential:
    """Flatten -> [Linear -> (BatchNorm1d) -> activation -> (Dropout)] per hidden size -> Linear.

    Input (N, ...) with in_features elements per sample -> logits (N, num_classes).
    """
    check_positive(in_features, "in_features")
    check_positive(num_classes, "num_classes")
    layers = [nn.Flatten()]
    width = in_features
    for i, size in enumerate(hidden):
        layers.append(nn.Linear(width, check_positive(size, f"hidden[{i}]")))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(make_activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
