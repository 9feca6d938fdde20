"""Backends: numpy (the reference), cpu (C++), cupy (GPU fallback), cuda (CUDA kernels).

Every backend module offers the same primitive functions (see ``_registry.PRIMITIVES``);
``metalnet.ops`` validates the arguments and picks the module.
"""
from ._registry import ALL, PRIMITIVES, available, load, reason  # noqa: F401
