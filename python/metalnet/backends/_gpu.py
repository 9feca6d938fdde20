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


# ------------------------------------------------------------------- LSTM over a sequence
# Backend-level (not yet a primitive of the public contract): both GPU backends define
#   lstm_forward(x, h0, c0, w_ih, w_hh, b, *, keep_cache=True) -> (hs, h_last, c_last, cache)
#   lstm_backward(dhs, dh_last, dc_last, cache) -> (dx, dh0, dc0, dw_ih, dw_hh, db)
# with x (T, N, I), h0 and c0 (N, H), hs (T, N, H); dhs / dh_last / dc_last may be None (zero).

from ..reference import LSTMSequenceCache  # noqa: E402,F401  (one tuple for every backend)


def lstm_sequence_shape(x, h0, c0, w_ih, w_hh, b):
    """(T, N, I, H) of an LSTM sequence call; ValueError naming the argument when inconsistent
    (these functions are not behind metalnet.ops' validation yet)."""
    if x.ndim != 3:
        raise ValueError(f"x must be (T, N, I), got shape {tuple(x.shape)}")
    steps, n, inputs = (int(v) for v in x.shape)
    if steps < 1:
        raise ValueError("x must hold at least one step (T >= 1)")
    if h0.ndim != 2 or h0.shape[0] != n:
        raise ValueError(f"h0 must be (N, H) = ({n}, H), got shape {tuple(h0.shape)}")
    hidden = int(h0.shape[1])
    expected = {"c0": (c0, (n, hidden)), "w_ih": (w_ih, (4 * hidden, inputs)),
                "w_hh": (w_hh, (4 * hidden, hidden))}
    if b is not None:
        expected["b"] = (b, (4 * hidden,))
    for name, (array, shape) in expected.items():
        if tuple(array.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(array.shape)}")
    for name, array in (("h0", h0), ("c0", c0), ("w_ih", w_ih), ("w_hh", w_hh), ("b", b)):
        if array is not None and array.dtype != x.dtype:
            raise TypeError(f"{name} has dtype {array.dtype}, x has {x.dtype}")
        if array is not None and not array.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous")
    return steps, n, inputs, hidden


def conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """(geometry list for _cuda's conv2d functions, (Ho, Wo)); idempotent normalisation, so the
    backend-level functions outside ops (the fused forward) accept the user-facing forms too."""
    from .. import _args
    n, c, h, w = (int(v) for v in x_shape)
    k, _, r, s = (int(v) for v in w_shape)
    stride = _args.pair(stride, "stride")
    dilation = _args.pair(dilation, "dilation")
    top, bottom, left, right = _args.padding4(padding)
    ho, wo = _args.conv_out_hw(h, w, (r, s), stride, (top, bottom, left, right), dilation)
    return [n, c, h, w, k, r, s, ho, wo, stride[0], stride[1], top, left, dilation[0],
            dilation[1]], (ho, wo)
