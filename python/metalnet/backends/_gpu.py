"""What the two GPU backends share: loading CuPy with a usable device, and the current stream."""
from __future__ import annotations

from .._memory import empty


def import_cupy():
    """CuPy, once it has shown it can reach a device; ImportError (with the reason) otherwise."""
    try:
        import cupy
    except Exception as exc:
        raise ImportError(f"CuPy is not installed or failed to import ({exc})") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise ImportError(f"CuPy cannot reach a CUDA device ({exc})") from exc
    if count < 1:
        raise ImportError("CuPy sees no CUDA device")
    return cupy


def stream_ptr(cupy) -> int:
    """CuPy's current stream as an integer handle for the CUDA module (0 = legacy default)."""
    return cupy.cuda.get_current_stream().ptr


def device_empty(cupy, shape, dtype):
    return empty(shape, dtype, cupy)


def missing(backend: str, name: str):
    """A stand-in for a primitive this backend does not have: calling it says so plainly."""
    def not_implemented(*args, **kwargs):
        raise NotImplementedError(
            f"{name} has no {backend} implementation yet; metalnet.info() lists what each "
            f"backend runs (copy the arrays to the host to use the cpu backend)"
        )
    not_implemented.__name__ = name
    return not_implemented
