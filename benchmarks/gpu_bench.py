"""GPU benchmarks in one run: metalnet's SGEMM against cuBLAS (through CuPy and, when a CUDA
build of PyTorch is installed, through PyTorch with TF32 off), and the memory-bound kernels
(activations, pooling, softmax) in GB/s against a device-to-device copy.

    python benchmarks/gpu_bench.py [--out FILE] [--sizes 1024 4096 8192] [--quick]

Times are CUDA-event medians over repeated launches on CuPy's current stream after a warm-up.
Every metalnet result is also checked against the library it is compared with, so a fast wrong
kernel cannot pass. The report (Markdown) starts with the device name and the date.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys

import numpy as np


def _die(message):
    print(f"gpu_bench: {message}", file=sys.stderr)
    sys.exit(2)


try:
    import cupy as cp
except Exception as exc:  # pragma: no cover - only on a machine without CuPy
    _die(f"CuPy is required ({exc})")

import metalnet
from metalnet import ops
from metalnet.backends import _registry

if _registry.load("cuda") is None:
    _die(f"the cuda backend is unavailable: {_registry.reason('cuda')}")


def _torch():
    """PyTorch with CUDA and TF32 off, or (None, reason)."""
    try:
        import torch
    except Exception as exc:
        return None, f"not installed ({exc.__class__.__name__})"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} has no CUDA device"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch, f"torch {torch.__version__} (CUDA {torch.version.cuda}), TF32 off"


def time_ms(fn, repeat, warmup=3):
    """Median milliseconds of ``fn()`` on the current stream, by CUDA events."""
    for _ in range(warmup):
        fn()
    stream = cp.cuda.get_current_stream()
    stream.synchronize()
    times = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record(stream)
        fn()
        stop.record(stream)
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)


def rel_err(out, ref):
    out = cp.asarray(out, dtype=cp.float64)
    ref = cp.asarray(ref, dtype=cp.float64)
    denom = float(cp.linalg.norm(ref)) or 1.0
    return float(cp.linalg.norm(out - ref)) / denom


# ------------------------------------------------------------------------------------ SGEMM
def bench_gemm(sizes, repeat, lines):
    from metalnet import _cuda
    torch, torch_note = _torch()
    lines += ["## SGEMM (float32, C = A @ B, square n)", "",
              f"cuBLAS through CuPy {cp.__version__}; PyTorch: {torch_note}.", "",
              "| n | transposes | metalnet config | metalnet GFLOP/s | cuBLAS (CuPy) GFLOP/s | "
              "PyTorch GFLOP/s | metalnet / cuBLAS | rel. error vs cuBLAS |",
              "|---|---|---|---|---|---|---|---|"]
    rng = cp.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=cp.float32)
        b = rng.standard_normal((n, n), dtype=cp.float32)
        flops = 2.0 * n ** 3
        rep = max(3, repeat if n <= 4096 else repeat // 3)
        for trans_a, trans_b in ((False, False), (True, False), (False, True)):
            if (trans_a or trans_b) and n != 4096:
                continue
            op_a = a.T if trans_a else a
            op_b = b.T if trans_b else b
            ours = time_ms(lambda: ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b), rep)
            cublas = time_ms(lambda: cp.matmul(op_a, op_b), rep)
            err = rel_err(ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b), cp.matmul(op_a, op_b))
            torch_gflops = "n/a"
            if torch is not None:
                ta = torch.as_tensor(a, device="cuda")
                tb = torch.as_tensor(b, device="cuda")
                tt = (ta.T if trans_a else ta, tb.T if trans_b else tb)
                # Both libraries use the legacy default stream here, so CuPy's events time it.
                t_ms = time_ms(lambda: torch.matmul(*tt), rep)
                torch_gflops = f"{flops / t_ms / 1e6:.0f}"
            config = _cuda.sgemm_config(n, n, n, True)
            lines.append(f"| {n} | {'T' if trans_a else 'N'}{'T' if trans_b else 'N'} | {config} | "
                         f"{flops / ours / 1e6:.0f} | {flops / cublas / 1e6:.0f} | {torch_gflops} | "
                         f"{cublas / ours:.1%} | {err:.1e} |")
            print(lines[-1], flush=True)
        del a, b
        cp.get_default_memory_pool().free_all_blocks()
    lines.append("")


# ------------------------------------------------------------------------------ bandwidth
def copy_gbps(nbytes, repeat):
    src = cp.empty(nbytes // 4, dtype=cp.float32)
    src.fill(1.0)
    dst = cp.empty_like(src)
    ms = time_ms(lambda: dst.data.copy_from_device_async(src.data, nbytes), repeat)
    return 2 * nbytes / ms / 1e6  # read + write


def bench_memory_bound(repeat, quick, lines):
    elems = (1 << 24) if quick else (1 << 26)  # 64 Mi floats = 256 MiB per array
    copy = copy_gbps(elems * 4, repeat)
    lines += ["## Memory-bound kernels (float32), GB/s of compulsory traffic", "",
              f"Device-to-device copy: **{copy:.0f} GB/s** (read + write of {elems * 4 >> 20} MiB). "
              f"Percentages are of that copy.", "",
              "| kernel | shape | bytes moved | metalnet GB/s | % of copy | CuPy GB/s | rel. error |",
              "|---|---|---|---|---|---|---|"]
    from metalnet.backends import cupy as fallback
    rng = cp.random.default_rng(1)

    def row(name, shape, nbytes, ours_fn, cupy_fn, check=None):
        ours = time_ms(ours_fn, repeat)
        theirs = time_ms(cupy_fn, repeat) if cupy_fn is not None else None
        err = check() if check is not None else float("nan")
        gb = nbytes / ours / 1e6
        lines.append(f"| {name} | {shape} | {nbytes / 2**20:.0f} MiB | {gb:.0f} | {gb / copy:.0%} | "
                     f"{'' if theirs is None else f'{nbytes / theirs / 1e6:.0f}'} | {err:.1e} |")
        print(lines[-1], flush=True)

    x = rng.standard_normal(elems, dtype=cp.float32)
    dy = rng.standard_normal(elems, dtype=cp.float32)
    y = cp.tanh(x)
    n4 = elems * 4
    for name, fwd, ref in (("relu_forward", ops.relu_forward, fallback.relu_forward),
                           ("sigmoid_forward", ops.sigmoid_forward, fallback.sigmoid_forward),
                           ("tanh_forward", ops.tanh_forward, fallback.tanh_forward)):
        row(name, (elems,), 2 * n4, lambda: fwd(x), lambda: ref(x),
            lambda: rel_err(fwd(x), ref(x)))
    row("relu_backward", (elems,), 3 * n4, lambda: ops.relu_backward(dy, x),
        lambda: fallback.relu_backward(dy, x),
        lambda: rel_err(ops.relu_backward(dy, x), fallback.relu_backward(dy, x)))
    row("tanh_backward", (elems,), 3 * n4, lambda: ops.tanh_backward(dy, y),
        lambda: fallback.tanh_backward(dy, y),
        lambda: rel_err(ops.tanh_backward(dy, y), fallback.tanh_backward(dy, y)))
    del x, dy, y

    # Pooling on an ImageNet-like activation: (N, 64, 112, 112).
    n = 8 if quick else 32
    xp = rng.standard_normal((n, 64, 112, 112), dtype=cp.float32)
    xb = xp.size * 4
    for kernel, stride, padding in (((2, 2), (2, 2), 0), ((3, 3), (2, 2), 1)):
        ho, wo = ((112 + 2 * padding - kernel[0]) // stride[0] + 1,) * 2
        out_elems = n * 64 * ho * wo
        geo = dict(stride=stride, padding=padding)
        tag = f"{kernel[0]}x{kernel[1]}/s{stride[0]}/p{padding}"
        row(f"max_pool2d_forward {tag}", xp.shape, xb + out_elems * 12,
            lambda: ops.max_pool2d_forward(xp, kernel, **geo),
            lambda: fallback.max_pool2d_forward(xp, kernel, stride=stride,
                                                padding=(padding,) * 4),
            lambda: rel_err(ops.max_pool2d_forward(xp, kernel, **geo)[0],
                            fallback.max_pool2d_forward(xp, kernel, stride=stride,
                                                        padding=(padding,) * 4)[0]))
        yk, am = ops.max_pool2d_forward(xp, kernel, **geo)
        g = rng.standard_normal(yk.shape, dtype=cp.float32)
        # dx is written twice (zeroing, then the scattered adds land in cache or memory).
        row(f"max_pool2d_backward {tag}", xp.shape, out_elems * 12 + xb,
            lambda: ops.max_pool2d_backward(g, am, xp.shape),
            lambda: fallback.max_pool2d_backward(g, am, xp.shape),
            lambda: rel_err(ops.max_pool2d_backward(g, am, xp.shape),
                            fallback.max_pool2d_backward(g, am, xp.shape)))
        row(f"avg_pool2d_forward {tag}", xp.shape, xb + out_elems * 4,
            lambda: ops.avg_pool2d_forward(xp, kernel, **geo),
            lambda: fallback.avg_pool2d_forward(xp, kernel, stride=stride, padding=(padding,) * 4),
            lambda: rel_err(ops.avg_pool2d_forward(xp, kernel, **geo),
                            fallback.avg_pool2d_forward(xp, kernel, stride=stride,
                                                        padding=(padding,) * 4)))
        row(f"avg_pool2d_backward {tag}", xp.shape, xb + out_elems * 4,
            lambda: ops.avg_pool2d_backward(g, xp.shape, kernel, **geo),
            lambda: fallback.avg_pool2d_backward(g, xp.shape, kernel, stride=stride,
                                                 padding=(padding,) * 4),
            lambda: rel_err(ops.avg_pool2d_backward(g, xp.shape, kernel, **geo),
                            fallback.avg_pool2d_backward(g, xp.shape, kernel, stride=stride,
                                                         padding=(padding,) * 4)))
        del yk, am, g
    del xp

    # Softmax family: classifier heads (1000 classes), a vocabulary (32000) and tiny rows (10).
    for rows, cols in ((65536, 1000), (2048, 32000), (1 << 20, 10)):
        if quick:
            rows //= 8
        logits = rng.standard_normal((rows, cols), dtype=cp.float32)
        labels = cp.asarray(np.random.default_rng(2).integers(0, cols, rows))
        nb = 2 * logits.size * 4
        row("softmax", (rows, cols), nb, lambda: ops.softmax(logits),
            lambda: fallback.softmax(logits),
            lambda: rel_err(ops.softmax(logits), fallback.softmax(logits)))
        row("log_softmax", (rows, cols), nb, lambda: ops.log_softmax(logits),
            lambda: fallback.log_softmax(logits),
            lambda: rel_err(ops.log_softmax(logits), fallback.log_softmax(logits)))
        row("softmax_cross_entropy", (rows, cols), nb + rows * 8,
            lambda: ops.softmax_cross_entropy(logits, labels),
            lambda: fallback.softmax_cross_entropy(logits, labels),
            lambda: rel_err(ops.softmax_cross_entropy(logits, labels)[1],
                            fallback.softmax_cross_entropy(logits, labels)[1]))
        del logits, labels
    cp.get_default_memory_pool().free_all_blocks()
    lines.append("")


def header():
    from metalnet import _cuda
    props = _cuda.device_properties(cp.cuda.runtime.getDevice())
    return [f"# metalnet GPU benchmarks — {props['name']}", "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
            f"- device: {props['name']}, compute capability "
            f"{'.'.join(map(str, props['compute_capability']))}, {props['multiprocessors']} SMs, "
            f"{props['total_memory'] / 2**30:.0f} GiB",
            f"- CUDA runtime {_cuda.runtime_version}, driver {_cuda.driver_version()}; "
            f"CuPy {cp.__version__}; NumPy {np.__version__}; Python {platform.python_version()}",
            f"- metalnet {getattr(metalnet, '__version__', '?')}; cuda backend implementations: "
            + ", ".join(f"{k}={v}" for k, v in _registry.load('cuda').IMPLEMENTATIONS.items()),
            ""]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="also write the Markdown report here")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smaller arrays, fewer repeats")
    parser.add_argument("--skip", choices=("gemm", "memory"), action="append", default=[])
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else args.repeat
    lines = header()
    print("\n".join(lines), flush=True)
    with metalnet.backend("cuda"):
        if "gemm" not in args.skip:
            bench_gemm(args.sizes, repeat, lines)
        if "memory" not in args.skip:
            bench_memory_bound(repeat, args.quick, lines)
    report = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
