"""``compare_algorithms``: every algorithm on one layer — multiplications, time, error.

The multiplication counts come from formulas (see each algorithm's module); the times are
wall-clock on this machine, best of a few runs, and say more about Python and NumPy than about
the algorithms: the pure-Python direct loops are thousands of times slower than the same
arithmetic in C++. Errors are relative to the float64 reference, ||y - ref|| / ||ref||.
"""
from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from .. import ops, reference
from ..backends import _registry
from . import text
from .algorithms import ALGORITHMS
from .geometry import ConvGeometry, parse_input_shape, parse_kernel_shape


@dataclasses.dataclass(frozen=True)
class Result:
    name: str
    multiplications: int | None     # None: not counted (a library or native kernel)
    seconds: float | None           # None: not run
    error: float | None
    note: str = ""


def _best_time(fn, repeat: int):
    """(output, best seconds) over ``repeat`` calls."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def _rel_error(y, ref) -> float:
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(y - ref) / scale) if scale else float(np.linalg.norm(y))


def _native_label() -> str:
    """Which implementation ops.conv2d_forward runs for NumPy arrays here, e.g. 'cpu: C++'."""
    backend = _registry.for_device("cpu")
    return f"{backend.NAME}: {backend.IMPLEMENTATIONS['conv2d_forward']}"


def compare_algorithms(input_shape=(1, 16, 32, 32), kernel_shape=(3, 3), *, out_channels=32,
                       stride=1, padding=1, dilation=1, dtype=np.float32, repeat=3,
                       direct_limit=2_000_000, seed=0, file=None) -> list[Result]:
    """Run every algorithm and ``metalnet.ops.conv2d_forward`` on one layer and print a table.

    input_shape: (H, W), (C, H, W) or (N, C, H, W); kernel_shape: (R, S), (C, R, S) or
    (K, C, R, S), with ``out_channels`` filters when K is left out (the default: 32 filters of
    3x3 over all input channels). The pure-Python direct loops are skipped when they would do
    more than ``direct_limit`` multiply-adds. Prints to ``file`` (default stdout) and returns
    one ``Result`` per row.
    """
    x_shape = parse_input_shape(input_shape)
    w_shape = parse_kernel_shape(kernel_shape, x_shape[1], out_channels)
    g = ConvGeometry.from_shapes(x_shape, w_shape, stride, padding, dilation)
    geometry = dict(stride=g.stride, padding=g.padding, dilation=g.dilation)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(g.k).astype(dtype)
    ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64),
                                   b.astype(np.float64), **geometry)

    results = []
    for algo in ALGORITHMS.values():
        count = algo.multiplications(g)
        why_not = algo.applicable(g)
        if why_not is None and algo.name == "direct" and count > direct_limit:
            why_not = f"skipped: {text.thousands(count)} > direct_limit multiply-adds in Python"
        if why_not is not None:
            # A count for an algorithm that cannot run this layer would mean nothing.
            shown = count if algo.name == "direct" else None
            results.append(Result(algo.name, shown, None, None, why_not))
            continue
        y, seconds = _best_time(lambda: algo.forward(x, w, b, **geometry),
                                1 if algo.name == "direct" else repeat)
        results.append(Result(algo.name, count, seconds, _rel_error(y, ref),
                              "" if algo.exact_count else "count is an estimate"))

    y, seconds = _best_time(lambda: reference.conv2d_forward(x, w, b, **geometry), repeat)
    results.append(Result("reference", ALGORITHMS["im2col"].multiplications(g), seconds,
                          _rel_error(y, ref), "metalnet.reference: im2col + tensordot"))
    y, seconds = _best_time(lambda: ops.conv2d_forward(x, w, b, **geometry), repeat)
    results.append(Result("ops", None, seconds, _rel_error(y, ref),
                          f"metalnet.ops.conv2d_forward ({_native_label()})"))

    print(format_results(results, g, np.dtype(dtype), repeat), file=file or sys.stdout)
    return results


def format_results(results: list[Result], g: ConvGeometry, dtype: np.dtype, repeat: int) -> str:
    direct = results[0].multiplications
    lines = text.heading("Convolution algorithms compared")
    lines.append(f"  x {g.x_shape}, w {g.w_shape}, stride {g.stride}, padding {g.padding}, "
                 f"dilation {g.dilation}, {dtype.name} -> y {g.y_shape}")
    header = (f"  {'algorithm':<10} {'multiplications':>16} {'vs direct':>10} "
              f"{f'time (best of {repeat})':>20} {'rel. error':>11}  note")
    lines += [header, "  " + "-" * (len(header) + 10)]
    for r in results:
        count = "-" if r.multiplications is None else text.thousands(r.multiplications)
        ratio = "-" if r.multiplications is None else f"{r.multiplications / direct:.2f}x"
        seconds = "-" if r.seconds is None else _duration(r.seconds)
        error = "-" if r.error is None else f"{r.error:.1e}"
        lines.append(f"  {r.name:<10} {count:>16} {ratio:>10} {seconds:>20} {error:>11}  "
                     f"{r.note}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
