"""``clip_grad_norm``: rescale gradients whose joint norm is too large."""
from __future__ import annotations

import math

from ..autograd import array_module

__all__ = ["clip_grad_norm"]


def clip_grad_norm(parameters, max_norm: float) -> float:
    """Scale every gradient by ``max_norm / total_norm`` when the L2 norm over all of them
    exceeds ``max_norm`` (as PyTorch's ``clip_grad_norm_``); returns the norm before clipping.

    Recurrent networks need this: one step with an exploding gradient can undo an epoch.
    """
    grads = [p.grad.data for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float(array_module(g).vdot(g.ravel(), g.ravel())) for g in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= scale
    return total
