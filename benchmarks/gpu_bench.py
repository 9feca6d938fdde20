"""GPU benchmarks in one run: metalnet's SGEMM against cuBLAS (through CuPy and, when a CUDA
build of PyTorch is installed, through PyTorch with TF32 off); the memory-bound kernels
(activations, pooling, softmax) in GB/s against a device-to-device copy; the implicit-GEMM
convolution (forward, forward + backward) and the LSTM sequence against cuDNN through PyTorch
(TF32 off); and LeNet-5 / ResNet-18 (CIFAR) training steps against PyTorch eager.

    python benchmarks/gpu_bench.py [--out FILE] [--sizes 1024 4096 8192] [--quick]
                                   [--skip gemm|memory|conv|lstm|train ...]

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
from metalnet.bench import torch_models

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


# ------------------------------------------------------------------------- convolution
# (name, x shape, K, kernel, padding); the layers. Batches shrink with --quick.
CONV_SHAPES = [
    ("LeNet conv1", (256, 1, 28, 28), 6, 5, 2),
    ("3x3 224 first", (64, 3, 224, 224), 64, 3, 1),
    ("3x3 56 res2", (64, 64, 56, 56), 64, 3, 1),
    ("3x3 14 res4", (64, 256, 14, 14), 256, 3, 1),
]
SECTIONS = ("gemm", "memory", "conv", "lstm", "train")


def bench_conv(repeat, quick, lines):
    torch, torch_note = _torch()
    cuda = _registry.load("cuda")
    lines += ["## conv2d (float32, NCHW) vs cuDNN through PyTorch", "",
              f"PyTorch: {torch_note}; cudnn.benchmark on (cuDNN picks its fastest algorithm). "
              "fwd+bwd = forward, then dx, dw (and db for metalnet's bias-free call: none). "
              "Target: >= 70% of cuDNN on the 3x3 shapes.", "",
              "| layer | x | K, kernel, pad | metalnet config (fwd / dgrad / wgrad) | fwd ms | "
              "cuDNN fwd ms | fwd % of cuDNN | fwd+bwd ms | cuDNN fwd+bwd ms | fwd+bwd % | "
              "TFLOP/s fwd | rel. err fwd / dx / dw |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if torch is None:
        lines += [f"(no PyTorch: {torch_note}; metalnet times only)", ""]
    else:
        torch.backends.cudnn.benchmark = True
    rng = cp.random.default_rng(3)
    for name, xs, k, r, pad in CONV_SHAPES:
        if quick:
            xs = (max(1, xs[0] // 8),) + xs[1:]
        x = rng.standard_normal(xs, dtype=cp.float32)
        w = rng.standard_normal((k, xs[1], r, r), dtype=cp.float32) / np.sqrt(xs[1] * r * r)
        w = cp.ascontiguousarray(w)
        y = ops.conv2d_forward(x, w, padding=pad)
        dy = rng.standard_normal(y.shape, dtype=cp.float32)
        flops = 2.0 * y.size * xs[1] * r * r
        configs = " / ".join(cuda.conv2d_config(p, xs, w.shape, padding=pad)
                             for p in ("forward", "backward_data", "backward_weight"))
        ours_f = time_ms(lambda: ops.conv2d_forward(x, w, padding=pad), repeat)
        ours_fb = time_ms(lambda: (ops.conv2d_forward(x, w, padding=pad),
                                   ops.conv2d_backward(dy, x, w, padding=pad)), repeat)
        theirs_f = theirs_fb = float("nan")
        errs = "n/a"
        if torch is not None:
            tf = torch.nn.functional
            tx = torch.as_tensor(x, device="cuda").requires_grad_(True)
            tw = torch.as_tensor(w, device="cuda").requires_grad_(True)
            tdy = torch.as_tensor(dy, device="cuda")

            def t_fwd():
                with torch.no_grad():
                    return tf.conv2d(tx, tw, padding=pad)

            def t_fwd_bwd():
                return torch.autograd.grad(tf.conv2d(tx, tw, padding=pad), (tx, tw), tdy)
            theirs_f = time_ms(t_fwd, repeat)
            theirs_fb = time_ms(t_fwd_bwd, repeat)
            ref_dx, ref_dw = t_fwd_bwd()
            dx, dw, _ = ops.conv2d_backward(dy, x, w, padding=pad)
            errs = (f"{rel_err(ops.conv2d_forward(x, w, padding=pad), cp.asarray(t_fwd())):.1e} / "
                    f"{rel_err(dx, cp.asarray(ref_dx)):.1e} / {rel_err(dw, cp.asarray(ref_dw)):.1e}")
        lines.append(f"| {name} | {xs} | {k}, {r}x{r}, {pad} | {configs} | {ours_f:.3f} | "
                     f"{theirs_f:.3f} | {theirs_f / ours_f:.0%} | {ours_fb:.3f} | {theirs_fb:.3f} | "
                     f"{theirs_fb / ours_fb:.0%} | {flops / ours_f / 1e9:.1f} | {errs} |")
        print(lines[-1], flush=True)
        del x, w, y, dy
        cp.get_default_memory_pool().free_all_blocks()
    # The fused epilogue: conv + bias + ReLU in one pass vs conv, bias, then ReLU.
    xs, k = ((8 if quick else 64), 64, 56, 56), 64
    x = rng.standard_normal(xs, dtype=cp.float32)
    w = cp.ascontiguousarray(rng.standard_normal((k, 64, 3, 3), dtype=cp.float32) / 24)
    b = rng.standard_normal(k, dtype=cp.float32)
    fused = time_ms(lambda: cuda.conv2d_bias_relu_forward(x, w, b, padding=1), repeat)
    unfused = time_ms(lambda: ops.relu_forward(ops.conv2d_forward(x, w, b, padding=1)), repeat)
    err = rel_err(cuda.conv2d_bias_relu_forward(x, w, b, padding=1),
                  ops.relu_forward(ops.conv2d_forward(x, w, b, padding=1)))
    lines += ["", f"Fused bias + ReLU epilogue on {xs} -> {k}@3x3: {fused:.3f} ms vs "
                  f"{unfused:.3f} ms as conv(+bias) then ReLU (rel. error {err:.1e}).", ""]
    print(lines[-2], flush=True)


# --------------------------------------------------------------------------------- LSTM
def bench_lstm(repeat, quick, lines):
    torch, torch_note = _torch()
    cuda = _registry.load("cuda")
    steps, batch, inputs, hidden = (20 if quick else 100), 64, 256, 512
    rng = cp.random.default_rng(4)
    scale = 1 / np.sqrt(hidden)
    x = rng.standard_normal((steps, batch, inputs), dtype=cp.float32)
    h0 = rng.standard_normal((batch, hidden), dtype=cp.float32)
    c0 = rng.standard_normal((batch, hidden), dtype=cp.float32)
    w_ih = cp.ascontiguousarray(rng.standard_normal((4 * hidden, inputs), dtype=cp.float32) * scale)
    w_hh = cp.ascontiguousarray(rng.standard_normal((4 * hidden, hidden), dtype=cp.float32) * scale)
    b = rng.standard_normal(4 * hidden, dtype=cp.float32) * scale
    dhs = rng.standard_normal((steps, batch, hidden), dtype=cp.float32)
    fwd = lambda: cuda.lstm_forward(x, h0, c0, w_ih, w_hh, b)  # noqa: E731

    def fwd_bwd():
        *_, cache = fwd()
        return cuda.lstm_backward(dhs, None, None, cache)
    ours_f, ours_fb = time_ms(fwd, repeat), time_ms(fwd_bwd, repeat)
    lines += [f"## LSTM sequence (float32) T={steps}, B={batch}, I={inputs}, H={hidden}", "",
              f"PyTorch: {torch_note} (torch.nn.LSTM: cuDNN). Target: within 1.5x of cuDNN.", "",
              "| | metalnet ms | cuDNN ms | metalnet / cuDNN time | rel. error (hs / dx / dw_hh) |",
              "|---|---|---|---|---|"]
    if torch is None:
        lines += [f"| forward | {ours_f:.3f} | n/a | | |", f"| fwd+bwd | {ours_fb:.3f} | n/a | | |", ""]
        return
    lstm = torch.nn.LSTM(inputs, hidden).cuda()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.as_tensor(w_ih, device="cuda"))
        lstm.weight_hh_l0.copy_(torch.as_tensor(w_hh, device="cuda"))
        lstm.bias_ih_l0.copy_(torch.as_tensor(b, device="cuda"))
        lstm.bias_hh_l0.zero_()
    tx = torch.as_tensor(x, device="cuda").requires_grad_(True)
    state = (torch.as_tensor(h0, device="cuda")[None], torch.as_tensor(c0, device="cuda")[None])
    tdhs = torch.as_tensor(dhs, device="cuda")

    def t_fwd():
        with torch.no_grad():
            return lstm(tx, state)

    def t_fwd_bwd():
        out, _ = lstm(tx, state)
        return torch.autograd.grad(out, (tx, lstm.weight_hh_l0), tdhs)
    theirs_f, theirs_fb = time_ms(t_fwd, repeat), time_ms(t_fwd_bwd, repeat)
    hs = fwd()[0]
    t_dx, t_dwhh = t_fwd_bwd()
    dx, _, _, _, dw_hh, _ = fwd_bwd()
    errs = (f"{rel_err(hs, cp.asarray(t_fwd()[0].detach())):.1e} / {rel_err(dx, cp.asarray(t_dx)):.1e} / "
            f"{rel_err(dw_hh, cp.asarray(t_dwhh)):.1e}")
    lines += [f"| forward | {ours_f:.3f} | {theirs_f:.3f} | {ours_f / theirs_f:.2f}x | {errs} |",
              f"| fwd+bwd | {ours_fb:.3f} | {theirs_fb:.3f} | {ours_fb / theirs_fb:.2f}x | |", ""]
    print("\n".join(lines[-3:]), flush=True)


# ----------------------------------------------------------------------- training steps
def _wall_ms(fn, repeat, warmup=3):
    """Median wall milliseconds of fn() including a device synchronisation (host overhead
    counts: a training step's Python work is part of its cost)."""
    import time
    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        cp.cuda.Device().synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_train(repeat, quick, lines):
    from metalnet import Tensor, models, nn, optim
    torch, torch_note = _torch()
    lines += ["## Training steps (float32): forward, cross-entropy, backward, SGD with momentum", "",
              f"PyTorch eager: {torch_note}, cudnn.benchmark on. Wall time per step "
              "(host work included), median. Target: LeNet-5 faster than PyTorch eager.", "",
              "| model | batch | metalnet ms | PyTorch ms | PyTorch / metalnet | first loss (ours, torch) |",
              "|---|---|---|---|---|---|"]
    rng = np.random.default_rng(5)
    cases = [("LeNet-5", lambda: models.lenet5(10, 1, input_size=28), (256, 1, 28, 28),
              torch_models.lenet5),
             ("ResNet-18 CIFAR", lambda: models.resnet18(10, stem="cifar"),
              ((32 if quick else 128), 3, 32, 32), torch_models.resnet18_cifar)]
    for name, build, shape, torch_build in cases:
        model = build().to("cuda")
        opt = optim.SGD(model.parameters(), 0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        x = cp.asarray(rng.standard_normal(shape).astype(np.float32))
        y = cp.asarray(rng.integers(0, 10, shape[0]))

        def step():
            opt.zero_grad()
            loss = loss_fn(model(Tensor(x)), y)
            loss.backward()
            opt.step()
            return loss
        first = float(step().item())
        ours = _wall_ms(step, max(3, repeat // 2))
        theirs, t_first = float("nan"), float("nan")
        if torch is not None:
            torch.backends.cudnn.benchmark = True
            tmodel = torch_build(torch).cuda()
            topt = torch.optim.SGD(tmodel.parameters(), 0.01, momentum=0.9)
            tx, ty = torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda")

            def t_step():
                topt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(tmodel(tx), ty)
                loss.backward()
                topt.step()
                return loss
            t_first = float(t_step().item())
            theirs = _wall_ms(t_step, max(3, repeat // 2))
        lines.append(f"| {name} | {shape[0]} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x | "
                     f"{first:.3f}, {t_first:.3f} |")
        print(lines[-1], flush=True)
        del model, opt
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
    parser.add_argument("--skip", choices=SECTIONS, action="append", default=[])
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else args.repeat
    lines = header()
    failures = []
    print("\n".join(lines), flush=True)
    with metalnet.backend("cuda"):
        if "gemm" not in args.skip:
            bench_gemm(args.sizes, repeat, lines)
        if "memory" not in args.skip:
            bench_memory_bound(repeat, args.quick, lines)
        for name, bench in (("conv", bench_conv), ("lstm", bench_lstm), ("train", bench_train)):
            if name in args.skip:
                continue
            try:  # one section failing must not lose the others' numbers
                bench(repeat, args.quick, lines)
            except Exception as exc:  # noqa: BLE001
                lines += [f"**{name} benchmark failed: {type(exc).__name__}: {exc}**", ""]
                print(lines[-2], flush=True)
                failures.append(name)
    report = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
