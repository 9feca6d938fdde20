"""``metalnet.backend(name)``: run the primitives on one named backend inside a ``with`` block."""
from __future__ import annotations

from .backends import _registry


class backend:
    """Force a backend for the calls made inside ``with metalnet.backend(name):``.

    ``name`` is one of 'numpy', 'cpu', 'cupy', 'cuda'. The arrays passed in must live where the
    backend runs (NumPy arrays for numpy/cpu, CuPy arrays for cupy/cuda): nothing is copied.
    Blocks nest, and the choice is per thread and per asyncio task.
    """

    def __init__(self, name: str):
        module = _registry.load(name)  # ValueError for an unknown name
        if module is None:
            raise RuntimeError(f"backend {name!r} is not available: {_registry.reason(name)}")
        self.name = name
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_registry.set_forced(self.name))
        return self

    def __exit__(self, *exc):
        _registry.reset_forced(self._tokens.pop())
        return False

    def __repr__(self):
        return f"metalnet.backend({self.name!r})"


def backends() -> list[str]:
    """The backends that can run here, e.g. ['numpy', 'cpu'] on a machine without a GPU."""
    return _registry.available()
