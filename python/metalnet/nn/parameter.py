"""``Parameter``: a Tensor that a Module registers as trainable."""
from __future__ import annotations

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor, requires_grad=True by default, collected by ``Module.parameters()``."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data)
        if self.dtype.kind != "f":
            raise TypeError(f"a Parameter must hold floats, got {self.dtype}")
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
