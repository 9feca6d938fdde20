"""The C++ convolution on every ISA path: shapes that cross column blocks, both threading
schedules (images per thread, threaded GEMM), every geometry option, forward and backward."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import metalnet
from metalnet import _args, ops, reference

from conftest import assert_close, num_threads

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")

SHAPES = [  # x shape, w shape, geometry
    ((1, 1, 28, 28), (6, 1, 5, 5), dict(padding=2)),                       # LeNet conv1, batch 1
    ((3, 6, 14, 14), (16, 6, 5, 5), {}),                                    # LeNet conv2
    ((2, 64, 33, 31), (7, 64, 3, 3), dict(padding=1)),                      # > 1 column block
    ((4, 3, 23, 29), (5, 3, 7, 7), dict(stride=2, padding=3)),
    ((2, 4, 17, 13), (3, 4, 3, 2), dict(stride=(3, 2), padding=(0, 1, 2, 1), dilation=(2, 1))),
    ((5, 2, 9, 9), (4, 2, 1, 1), {}),                                       # 1x1 kernel
    ((1, 3, 6, 5), (2, 3, 8, 7), dict(padding=1)),                          # kernel = padded input
    ((1, 64, 21, 20), (66, 64, 3, 3), dict(padding=1)),                     # Winograd fwd and dx
    ((1, 128, 8, 7), (128, 128, 3, 3), dict(padding=(2, 0, 1, 2))),        # Winograd, asymmetric
    ((2, 3, 12, 11), (5, 3, 3, 3), dict(padding=(1, 2, 0, 3), dilation=2)),  # rows kernel, dilated
    ((2, 130, 5, 6), (17, 130, 3, 3), dict(padding=1)),                     # dx by im2col
    ((2, 64, 7, 6), (40, 64, 3, 3), dict(padding=1)),                       # small: direct
    ((2, 5, 9, 8), (130, 5, 3, 3), dict(stride=2, padding=1)),              # im2col forward
    ((3, 256, 5, 4), (260, 256, 3, 3), dict(stride=2, padding=1)),          # weights > 2 MiB
    ((2, 16, 12, 11), (64, 16, 3, 3), dict(padding=1)),                     # dx by window
    ((2, 7, 10, 9), (40, 7, 3, 3), dict(padding=1)),                        # the same, 8 lanes
    ((34, 6, 14, 14), (16, 6, 5, 5), {}),                      # dx by images: 3 groups of 16
    ((3, 64, 4, 5), (66, 64, 3, 3), dict(padding=(1, 2, 1, 0))),    # taps: 4x4 on padding
    ((2, 128, 4, 3), (129, 128, 3, 3), dict(padding=1)),       # taps dW too (128+ channels)
    ((2, 32, 9, 8), (40, 32, 3, 3), dict(padding=1)),          # direct forward, Winograd dW
    ((1, 64, 16, 17), (65, 64, 3, 3), dict(padding=1)),        # F(4x4) forward and dx
    ((2, 64, 25, 27), (64, 64, 3, 3), dict(padding=(1, 0, 2, 1))),   # F(4x4) dW too
]

# Vector lanes per ISA for float32 (float64 has half): the window kernel's channel vector.
LANES = {"avx512": 16, "avx2": 8, "generic": 4}


def _window_applies(ws, geo, lanes):
    """conv2d.cpp's window_applies: stride and dilation 1 along rows, 3 or 5 taps wide, and
    output channels filling more than half of one vector."""
    stride = _args.pair(geo.get("stride", 1), "stride")
    dilation = _args.pair(geo.get("dilation", 1), "dilation")
    return (stride[1] == 1 and dilation[1] == 1 and ws[3] in (3, 5)
            and lanes // 2 < ws[0] <= lanes)


def test_shapes_reach_every_backward_path():
    """The shapes above run dx and dW by every algorithm conv2d_backward can pick (in float32
    or float64: the window kernel's reach depends on the vector width in elements)."""
    plans = []
    for (xs, ws, geo), dtype in itertools.product(SHAPES, ("float32", "float64")):
        stride = geo.get("stride", 1)
        stride = (stride, stride) if isinstance(stride, int) else stride
        dilation = geo.get("dilation", 1)
        dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
        pad = geo.get("padding", 0)
        if isinstance(pad, int):
            pad = (pad,) * 4
        elif len(pad) == 2:
            pad = (pad[0], pad[0], pad[1], pad[1])
        ho = (xs[2] + pad[0] + pad[1] - dilation[0] * (ws[2] - 1) - 1) // stride[0] + 1
        wo = (xs[3] + pad[2] + pad[3] - dilation[1] * (ws[3] - 1) - 1) // stride[1] + 1
        plans.append(cpu.conv2d_plan(list(xs), list(ws), ho, wo, *stride, pad[0], pad[2],
                                     *dilation, dtype=dtype))
    assert {p["dx"] for p in plans} == {"col2im", "direct", "im2col", "images", "rows", "taps",
                                        "window", "winograd", "winograd4"}
    assert {p["dw"] for p in plans} == {"im2col", "rows", "taps", "window", "winograd",
                                        "winograd4"}
    assert {p["forward"] for p in plans} == {"im2col", "direct", "rows", "taps", "window",
                                             "winograd", "winograd4"}


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("xs, ws, geo", SHAPES)
def test_conv_matches_reference(xs, ws, geo, dtype, isa, rng):
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    with metalnet.backend("cpu"):
        y = ops.conv2d_forward(x, w, b, **geo)
        # Weights scaled by 1/sqrt(C*R*S) give outputs of natural size ~1; a layer with two
        # outputs can land near 0 by cancellation, so the error is measured against RMS >= 1.
        assert_close(y, reference.conv2d_forward(x64, w64, b64, **geo), dtype, "cpu", chain=4,
                     floor_rms=1.0, what=f"conv forward[{isa}] {xs} {ws} {geo}")
        dy = rng.standard_normal(y.shape).astype(dtype)
        grads = ops.conv2d_backward(dy, x, w, **geo)
    refs = reference.conv2d_backward(dy.astype(np.float64), x64, w64, **geo)
    for name, got, ref in zip(("dx", "dw", "db"), grads, refs):
        assert_close(got, ref, dtype, "cpu", chain=5, what=f"conv {name}[{isa}] {xs} {ws} {geo}")


@pytest.mark.parametrize("threads", (1, 2))
def test_both_threading_schedules(threads, rng):
    """N >= threads spreads images over threads; N < threads threads each GEMM."""
    with num_threads(threads):
        for n in (1, 3):
            x = rng.standard_normal((n, 8, 20, 20))
            w = rng.standard_normal((12, 8, 3, 3))
            with metalnet.backend("cpu"):
                y = ops.conv2d_forward(x, w, padding=1)
                dy = rng.standard_normal(y.shape)
                grads = ops.conv2d_backward(dy, x, w, padding=1)
            assert_close(y, reference.conv2d_forward(x, w, padding=1), np.float64, "cpu")
            for got, ref in zip(grads, reference.conv2d_backward(dy, x, w, padding=1)):
                assert_close(got, ref, np.float64, "cpu")


def _forward_with(algorithm, x, w, b, geo):
    """The C++ forward with one algorithm forced, into a NaN-poisoned output."""
    from metalnet import _args
    stride = _args.pair(geo.get("stride", 1), "stride")
    dilation = _args.pair(geo.get("dilation", 1), "dilation")
    padding = _args.padding4(geo.get("padding", 0))
    ho, wo = _args.conv_out_hw(x.shape[2], x.shape[3], w.shape[2:], stride, padding, dilation)
    y = np.full((x.shape[0], w.shape[0], ho, wo), np.nan, x.dtype)
    cpu.conv2d_forward(x, w, b, y, *stride, padding[0], padding[2], *dilation, algorithm)
    return y


def _stride_one(geo):
    return geo.get("stride", 1) in (1, (1, 1))


@pytest.mark.parametrize("algorithm, xs, ws, geo", [
    (algorithm, *case)
    for case in SHAPES + [((2, 3, 9, 30), (40, 3, 3, 3), dict(padding=1))]
    for algorithm in ("im2col", "direct", "rows", "window", "images", "taps")
    if (algorithm != "rows" or _stride_one(case[2]))
    and (algorithm != "taps" or _args.pair(case[2].get("stride", 1), "stride")[1] == 1)
    and (algorithm != "images" or _window_applies(case[1], case[2], case[1][0]))
    and (algorithm != "window" or _window_applies(case[1], case[2], max(LANES.values())))])
def test_every_forward_algorithm(xs, ws, geo, algorithm, isa, rng):
    """ops picks one algorithm per layer; each must be right on every shape it accepts, every ISA
    (the rows kernel takes stride 1 only, the window and images kernels 3- and 5-wide kernels
    with stride 1 along rows, the window only channels filling a vector of the ISA; Winograd has
    its own tests below)."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    if algorithm == "window" and not _window_applies(ws, geo, LANES[isa]):
        with pytest.raises(ValueError, match="'window' needs .* filling one vector"):
            _forward_with(algorithm, x, w, b, geo)  # K channels do not fit this ISA's vector
        return
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    y = _forward_with(algorithm, x, w, b, geo)
    ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **geo)
    # Two outputs can cancel to near 0; with unit-variance x and w their natural size is
    # sqrt(C*R*S), the scale the error is measured against.
    assert_close(y, ref, np.float32, "cpu", floor_rms=float(np.sqrt(np.prod(ws[1:]))),
                 what=f"{algorithm}[{isa}] {xs} {ws} {geo}")


def _forced_forward_checked(algorithm, xs, ws, geo, dtype, rng, what):
    """A random layer (weights scaled to outputs of natural size ~1) run forward by `algorithm`
    into a NaN-poisoned output and checked against the reference; returns x, w, y."""
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = _forward_with(algorithm, x, w, b, geo)
    ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64),
                                   b.astype(np.float64), **geo)
    assert_close(y, ref, dtype, "cpu", chain=4, floor_rms=1.0, what=what)
    return x, w, y


def _window_cases(rng, lanes):
    """Random layers the window kernel takes with `lanes` lanes: K from just over half a vector
    to a full one, 3- and 5-wide kernels of any height, rows needing one tile or several with a
    part-filled last, stride and dilation across rows, asymmetric padding, batch 1 and batches
    of several L2 blocks (dW sums blocks and threads)."""
    cases = [((1, 1, 5, 3), (lanes, 1, 1, 3), {}),                        # one output per row
             ((60, 6, 14, 14), (lanes, 6, 5, 5), {})]                      # LeNet, many blocks
    for _ in range(4):
        s = int(rng.choice([3, 5]))
        r = int(rng.integers(1, 6))
        k = int(rng.integers(lanes // 2 + 1, lanes + 1))
        c = int(rng.choice([1, 2, 3, 7, 11]))
        pad = tuple(int(v) for v in rng.integers(0, 3, 4))
        geo = dict(padding=pad, stride=(int(rng.integers(1, 3)), 1),
                   dilation=(int(rng.integers(1, 3)), 1))
        h = int(rng.integers(r * geo["dilation"][0] + 1, 20))
        w = int(rng.integers(s, 62))
        cases.append(((int(rng.integers(1, 4)), c, h, w), (k, c, r, s), geo))
    return cases


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_window_matches_reference(dtype, threads, isa, rng):
    """The sliding-window kernel, forward and dW (dx too where the transposed layer takes it),
    against the reference; every case is planned to the window."""
    lanes = LANES[isa] // (np.dtype(dtype).itemsize // 4)
    with num_threads(threads):
        for xs, ws, geo in _window_cases(rng, lanes):
            padding = _args.padding4(geo.get("padding", 0))
            stride = _args.pair(geo.get("stride", 1), "stride")
            dilation = _args.pair(geo.get("dilation", 1), "dilation")
            ho, wo = _args.conv_out_hw(xs[2], xs[3], ws[2:], stride, padding, dilation)
            plan = cpu.conv2d_plan(list(xs), list(ws), ho, wo, *stride, padding[0], padding[2],
                                   *dilation, dtype=np.dtype(dtype).name)
            # Two output channels over two groups of images go to images (LeNet conv1's dx).
            many = ws[0] <= 2 and xs[0] >= 2 * lanes
            assert plan["forward"] == ("images" if many else "window"), (xs, ws, geo, plan)
            what = f"window[{isa}, {threads} threads] {xs} {ws} {geo}"
            x, w, y = _forced_forward_checked("window", xs, ws, geo, dtype, rng, what)
            x64, w64 = x.astype(np.float64), w.astype(np.float64)
            dy = rng.standard_normal(y.shape).astype(dtype)
            with metalnet.backend("cpu"):
                grads = ops.conv2d_backward(dy, x, w, **geo)
            refs = reference.conv2d_backward(dy.astype(np.float64), x64, w64, **geo)
            for name, got, ref in zip(("dx", "dw", "db"), grads, refs):
                assert_close(got, ref, dtype, "cpu", chain=5, what=f"{name} {what} {plan}")


def test_dw_plans_for_small_direct_and_padded_layers():
    """dW by Winograd for a 3x3 layer whose forward is direct (32+ channels, 8x8+ outputs), and
    by rows for a layer the images kernel takes (im2col would unroll all its padding)."""
    plan = cpu.conv2d_plan([2, 32, 9, 8], [40, 32, 3, 3], 9, 8, 1, 1, 1, 1, 1, 1)
    assert plan["forward"] == "direct" and plan["dw"] == "winograd"
    lanes = LANES[metalnet.cpu_isa()]
    plan = cpu.conv2d_plan([2 * lanes, 16, 10, 10], [6, 16, 5, 5], 14, 14, 1, 1, 4, 4, 1, 1)
    assert plan["forward"] == "images" and plan["dw"] in ("rows", "window")


def test_window_dw_is_planned_for_its_layers():
    """dW by the window on 5-wide kernels, many channels or strided rows; by rows' dot
    products on 3x3 kernels over few channels (conv2d.cpp's dw_algorithm)."""
    k = LANES[metalnet.cpu_isa()] // 2  # a full float64 vector
    def dw(xs, ws, stride=1):
        ws = (k,) + ws[1:]
        ho = (xs[2] + 2 - ws[2]) // stride + 1
        return cpu.conv2d_plan(list(xs), list(ws), ho, xs[3] + 2 - ws[3] + 1, stride, 1, 1, 1,
                               1, 1, dtype="float64")["dw"]
    assert dw((2, 6, 14, 14), (8, 6, 5, 5)) == "window"
    assert dw((2, 32, 14, 14), (8, 32, 3, 3)) == "window"
    assert dw((2, 6, 14, 14), (8, 6, 3, 3), stride=2) == "window"
    assert dw((2, 6, 14, 14), (8, 6, 3, 3)) == "rows"


def test_window_refuses_other_layers(rng):
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    for ws, geo in (((16, 2, 3, 3), dict(stride=(1, 2))), ((16, 2, 3, 3), dict(dilation=(1, 2))),
                    ((16, 2, 3, 4), {}), ((40, 2, 3, 3), {}), ((1, 2, 3, 3), {})):
        w = rng.standard_normal(ws).astype(np.float32)
        with pytest.raises(ValueError, match="'window' needs stride and dilation 1 along rows"):
            _forward_with("window", x, w, None, geo)


def _images_cases(rng):
    """Random layers for the kernel vectorised across images: batches of one image, of part of a
    group and of several groups with a part-filled last; padding up to and past the kernel's
    reach on each side (the bounds skip taps), stride and dilation across rows."""
    cases = [((34, 16, 10, 10), (6, 16, 5, 5), dict(padding=4)),           # LeNet conv2's dx
             ((1, 2, 5, 3), (1, 2, 1, 3), {})]
    for n in (3, 17, 40):
        s = int(rng.choice([3, 5]))
        r = int(rng.integers(1, 6))
        geo = dict(padding=tuple(int(v) for v in rng.integers(0, s + 1, 4)),
                   stride=(int(rng.integers(1, 3)), 1), dilation=(int(rng.integers(1, 3)), 1))
        h = int(rng.integers(r * geo["dilation"][0], 16))
        w = int(rng.integers(max(1, s - geo["padding"][2] - geo["padding"][3]), 40))
        k, c = (int(v) for v in rng.choice([1, 2, 5, 13], 2))
        cases.append(((n, c, h, w), (k, c, r, s), geo))
    return cases


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_images_matches_reference(dtype, threads, isa, rng):
    """Forward vectorised across images against the reference, into a NaN-poisoned output."""
    with num_threads(threads):
        for xs, ws, geo in _images_cases(rng):
            _forced_forward_checked("images", xs, ws, geo, dtype, rng,
                                    f"images[{isa}, {threads} threads] {xs} {ws} {geo}")


def test_images_is_planned_for_padded_dx():
    """dx of LeNet conv2 (dy 10x10 padded by 4: half the taps on padding) and of LeNet conv1
    (one output channel) by images from two groups of images on; not with one group."""
    lanes = LANES[metalnet.cpu_isa()]
    def dx(n, ws, pad):
        xs = (n, ws[1], 14 if ws[1] == 6 else 28, 14 if ws[1] == 6 else 28)
        ho = xs[2] + 2 * pad - ws[2] + 1
        return cpu.conv2d_plan(list(xs), list(ws), ho, ho, 1, 1, pad, pad, 1, 1)["dx"]
    assert dx(2 * lanes, (16, 6, 5, 5), 0) == "images"
    assert dx(2 * lanes, (6, 1, 5, 5), 2) == "images"
    assert dx(2 * lanes - 1, (16, 6, 5, 5), 0) != "images"


def test_images_refuses_other_layers(rng):
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    for ws, geo in (((3, 2, 3, 3), dict(stride=(1, 2))), ((3, 2, 3, 3), dict(dilation=(1, 2))),
                    ((3, 2, 3, 4), {})):
        w = rng.standard_normal(ws).astype(np.float32)
        with pytest.raises(ValueError, match="'images' needs stride and dilation 1 along rows"):
            _forward_with("images", x, w, None, geo)


def _taps_cases(rng):
    """Random layers for one GEMM per tap: padding from none to past the kernel's reach (taps
    with no real input at all), stride and dilation across rows, dilation along them, channel
    counts that leave GEMM panels part-filled, whole-row runs that merge and runs that do not."""
    cases = [((2, 70, 4, 4), (67, 70, 3, 3), dict(padding=1)),            # ResNet's last, small
             ((1, 3, 2, 2), (5, 3, 3, 3), dict(padding=2))]                # a tap row on padding
    for _ in range(4):
        r, s = (int(v) for v in rng.integers(1, 6, 2))
        geo = dict(padding=tuple(int(v) for v in rng.integers(0, 4, 4)),
                   stride=(int(rng.integers(1, 3)), 1), dilation=tuple(int(v) for v in rng.integers(1, 3, 2)))
        pad, dil = geo["padding"], geo["dilation"]
        h0 = max(1, (r - 1) * dil[0] + 1 - pad[0] - pad[1])  # the least input with an output
        w0 = max(1, (s - 1) * dil[1] + 1 - pad[2] - pad[3])
        h, w = int(rng.integers(h0, h0 + 8)), int(rng.integers(w0, w0 + 8))
        n, c, k = int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 40))
        cases.append(((n, c, h, w), (k, c, r, s), geo))
    return cases


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_taps_matches_reference(dtype, threads, isa, rng):
    """The forward by one GEMM per tap against the reference, into a NaN-poisoned output (dx:
    the next test, through the layers the rule gives taps)."""
    with num_threads(threads):
        for xs, ws, geo in _taps_cases(rng):
            _forced_forward_checked("taps", xs, ws, geo, dtype, rng,
                                    f"taps[{isa}, {threads} threads] {xs} {ws} {geo}")


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("threads", (1, 2))
def test_taps_backward_matches_reference(dtype, threads, isa, rng):
    """dx by taps (64+ channels, a quarter of the taps on padding), straight from the weights,
    and dW by taps from 128 channels each way (below that im2col's): 4x4 and 2x2 images,
    asymmetric padding, stride 2 down the rows, and a 1x1 image whose corner taps meet only
    padding (their dW block is zero, written by no GEMM)."""
    cases = [((3, 64, 4, 4), (65, 64, 3, 3), dict(padding=1), "im2col"),
             ((2, 67, 2, 2), (64, 67, 3, 3), dict(padding=1), "im2col"),
             ((2, 64, 5, 4), (64, 64, 3, 2), dict(padding=(2, 0, 1, 1), stride=(2, 1)), "im2col"),
             ((3, 128, 4, 4), (130, 128, 3, 3), dict(padding=1), "taps"),
             ((2, 131, 2, 2), (128, 131, 3, 3), dict(padding=1), "taps"),
             ((2, 128, 5, 4), (129, 128, 3, 2), dict(padding=(2, 0, 1, 1), stride=(2, 1)), "taps"),
             ((2, 128, 1, 1), (128, 128, 3, 3), dict(padding=1), "taps")]
    for xs, ws, geo, dw_plan in cases:
        padding = _args.padding4(geo.get("padding", 0))
        stride = _args.pair(geo.get("stride", 1), "stride")
        ho, wo = _args.conv_out_hw(xs[2], xs[3], ws[2:], stride, padding, (1, 1))
        plan = cpu.conv2d_plan(list(xs), list(ws), ho, wo, *stride, padding[0], padding[2], 1, 1)
        assert (plan["forward"], plan["dx"], plan["dw"]) == ("taps", "taps", dw_plan), (xs, ws, geo, plan)
        x = rng.standard_normal(xs).astype(dtype)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
        dy = rng.standard_normal((xs[0], ws[0], ho, wo)).astype(dtype)
        with num_threads(threads), metalnet.backend("cpu"):
            dx, dw, db = ops.conv2d_backward(dy, x, w, **geo)
        refs = reference.conv2d_backward(dy.astype(np.float64), x.astype(np.float64),
                                         w.astype(np.float64), **geo)
        for name, got, ref in zip(("dx", "dw", "db"), (dx, dw, db), refs):
            assert_close(got, ref, dtype, "cpu", chain=5,
                         what=f"taps {name}[{isa}, {threads} threads] {xs} {ws} {geo}")


def test_taps_refuses_strided_rows(rng):
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="'taps' needs stride 1 along rows"):
        _forward_with("taps", x, w, None, dict(stride=(1, 2)))


def _winograd_cases(seed):
    """Random 3x3 stride-1 layers: odd and even output sizes, every padding kind, channel counts
    that leave GEMM panels part-filled, batches whose tile rows span several blocks."""
    r = np.random.default_rng(seed)
    cases = [((1, 1, 3, 3), (1, 1, 3, 3), {}),                         # one output
             ((1, 2, 1, 1), (3, 2, 3, 3), dict(padding=1)),            # 1x1 image
             ((7, 5, 2, 13), (13, 5, 3, 3), dict(padding=(2, 3, 0, 1))),  # outputs past the input
             ((2, 3, 9, 75), (5, 3, 3, 3), dict(padding=(1, 0, 2, 1))),  # rows of whole vectors
             ((1, 2, 6, 203), (3, 2, 3, 3), dict(padding=(1, 1, 1, 0)))]  # a row over a panel
    for _ in range(5):
        n, c, k = (int(v) for v in r.choice([1, 2, 3, 5, 7, 11, 13, 17, 31, 37], 3))
        h, w = (int(v) for v in r.integers(3, 40, 2))
        pad = tuple(int(v) for v in r.integers(0, 3, 4))
        cases.append(((n, c, h, w), (k, c, 3, 3), dict(padding=pad)))
    return cases


@pytest.mark.parametrize("algorithm", ("winograd", "winograd4"))
@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_winograd_forward(algorithm, dtype, threads, isa, rng, seed):
    with num_threads(threads):
        for xs, ws, geo in _winograd_cases(seed):
            x = rng.standard_normal(xs).astype(dtype)
            w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
            b = rng.standard_normal(ws[0]).astype(dtype)
            y = _forward_with(algorithm, x, w, b, geo)
            ref = reference.conv2d_forward(*(a.astype(np.float64) for a in (x, w, b)), **geo)
            # The same tolerance for both tile sizes: F(4x4)'s transforms round about 6x more
            # (float32 worst case over 40 seeds 1.3e-6 against 2e-7), within the 4e-6 allowed.
            assert_close(y, ref, dtype, "cpu", chain=4, floor_rms=1.0,  # one output can cancel
                         what=f"{algorithm}[{isa}, {threads} threads] {xs} {ws} {geo}")


@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_winograd_backward(dtype, threads, isa, rng, seed):
    """3x3 stride-1 layers the rule gives Winograd (>= 20x20 outputs with >= 32 channels each
    way, or 128-256 channels and >= 6x6 outputs): dx by the Winograd forward of dy, dW by the
    transposed Winograd transforms."""
    r = np.random.default_rng(seed)
    cases = [((1, 128, 8, 8), (128, 128, 3, 3), {}), ((2, 128, 9, 8), (128, 128, 3, 3), dict(padding=1)),
             ((1, 37, 21, 20), (33, 37, 3, 3), dict(padding=(1, 2, 0, 1)))]
    for _ in range(3):
        n = int(r.choice([1, 2]))
        c, k = (int(v) for v in r.choice([128, 131, 144], 2))
        h, w = (int(v) for v in r.integers(8, 13, 2))
        cases.append(((n, c, h, w), (k, c, 3, 3), dict(padding=tuple(int(v) for v in r.integers(0, 3, 4)))))
    with num_threads(threads):
        for xs, ws, geo in cases:
            pad = geo.get("padding", 0)
            pad = (pad,) * 4 if isinstance(pad, int) else pad
            ho, wo = xs[2] + pad[0] + pad[1] - 2, xs[3] + pad[2] + pad[3] - 2
            plan = cpu.conv2d_plan(list(xs), list(ws), ho, wo, 1, 1, pad[0], pad[2], 1, 1)
            assert plan == {"forward": "winograd", "dx": "winograd", "dw": "winograd"}, (xs, ws, geo)
            x = rng.standard_normal(xs).astype(dtype)
            w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
            with metalnet.backend("cpu"):
                dy = rng.standard_normal(ops.conv2d_forward(x, w, **geo).shape).astype(dtype)
                grads = ops.conv2d_backward(dy, x, w, **geo)
            refs = reference.conv2d_backward(dy.astype(np.float64), x.astype(np.float64),
                                             w.astype(np.float64), **geo)
            for name, got, ref in zip(("dx", "dw", "db"), grads, refs):
                assert_close(got, ref, dtype, "cpu", chain=5, floor_rms=1.0,
                             what=f"winograd {name}[{isa}, {threads} threads] {xs} {ws} {geo}")


@pytest.mark.parametrize("size, tile", [(22, "winograd"), (24, "winograd4")])
def test_winograd_weight_grad_over_many_blocks(size, tile, rng):
    """dW summed over many L2-sized blocks and both threads: 16 images of 128 channels, 2,112
    F(2x2) tiles of 16 KiB (22x22 outputs) or 672 F(4x4) tiles of 36 KiB (24x24)."""
    x = rng.standard_normal((16, 128, size, size)).astype(np.float32)
    w = (rng.standard_normal((128, 128, 3, 3)) / 34).astype(np.float32)
    dy = rng.standard_normal((16, 128, size, size)).astype(np.float32)
    plan = cpu.conv2d_plan(list(x.shape), list(w.shape), size, size, 1, 1, 1, 1, 1, 1)
    assert plan["dw"] == tile
    with metalnet.backend("cpu"):
        _, dw, _ = ops.conv2d_backward(dy, x, w, padding=1)
    ref = reference.conv2d_backward(dy.astype(np.float64), x.astype(np.float64),
                                    w.astype(np.float64), padding=1)[1]
    assert_close(dw, ref, np.float32, "cpu", chain=5, what=f"{tile} dW over many blocks")


def test_rows_refuses_strides(rng):
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="'rows' needs stride 1"):
        _forward_with("rows", x, w, None, dict(stride=(1, 2)))


@pytest.mark.parametrize("geo", [dict(stride=2), dict(dilation=2), dict()])
def test_winograd_refuses_other_layers(geo, rng):
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    w = rng.standard_normal((2, 2, 5, 5) if not geo else (2, 2, 3, 3)).astype(np.float32)
    for algorithm in ("winograd", "winograd4"):
        with pytest.raises(ValueError, match=f"'{algorithm}' needs a 3x3 kernel, stride 1 and "
                                             "dilation 1"):
            _forward_with(algorithm, x, w, None, geo)
