"""Loss layers: ``CrossEntropyLoss``, ``MSELoss``, ``BCEWithLogitsLoss``.

Each is called as ``loss(input, target)`` and reduces with 'mean' (default), 'sum' or 'none'.
"""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) or (N, C, d1, ...) and integer targets."""

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.reduction)


class MSELoss(_Loss):
    """Mean squared error between two tensors of one shape."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits and targets in [0, 1] (sigmoid folded in, stable)."""

    def __init__(self, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.reduction, self.pos_weight)
