"""metalnet: hand-written C++ and CUDA kernels for the networks of deep learning courses.

- ``metalnet.reference``: the readable NumPy definition of every primitive (the oracle).
- ``metalnet.ops``: the same primitives, validated and run on the fastest backend available.
- ``metalnet.backend(name)``: force 'numpy', 'cpu', 'cupy' or 'cuda' inside a ``with`` block.
- ``metalnet.info()``: what runs where on this machine (``metalnet info`` on the command line).
"""
__version__ = "0.1.0"

from . import ops, reference  # noqa: E402
from ._backend_choice import backend, backends  # noqa: E402
from ._runtime import cpu_isa, get_num_threads, set_cpu_isa, set_num_threads  # noqa: E402
from .info import info  # noqa: E402

__all__ = [
    "ops", "reference", "backend", "backends", "info",
    "get_num_threads", "set_num_threads", "cpu_isa", "set_cpu_isa",
]
