"""``Dropout``: inverted dropout, active in training mode only."""
from __future__ import annotations

from .. import functional as F
from . import _checks
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability p, scale the others by 1/(1-p); identity in eval().

    Masks come from the generator that ``metalnet.manual_seed`` seeds.
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = _checks.probability(p, "p")

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
