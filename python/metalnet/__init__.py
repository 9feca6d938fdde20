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

# The layer/model API: tensors with autograd, layers, optimizers, the course model zoo.
from .autograd import enable_grad, is_grad_enabled, no_grad  # noqa: E402
from .tensor import Tensor, cat, ones, stack, tensor, unbind, zeros  # noqa: E402
from . import functional, nn, optim, models, cs231n  # noqa: E402
from .nn import manual_seed  # noqa: E402
from .serialization import load, save  # noqa: E402
from .summary import summary  # noqa: E402

__all__ += [
    "Tensor", "tensor", "cat", "stack", "unbind", "zeros", "ones",
    "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
    "functional", "nn", "optim", "models", "cs231n", "summary", "save", "load",
]

# Training: offline datasets and batching, the training loop (``metalnet train`` on the CLI).
from . import data, train  # noqa: E402

__all__ += ["data", "train"]
