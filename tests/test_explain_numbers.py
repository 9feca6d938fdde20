"""The explainer's numbers (sizes, reads, counts) against the reference and independent counts."""
import numpy as np
import pytest

import metalnet
from metalnet import explain, reference
from metalnet.explain import conv2d_direct, conv2d_im2col

from test_explain_layers import count_windows, random_layer


def test_sizes_match_the_reference_and_a_window_count(rng, seed):
    for _ in range(10):
        x_shape, w_shape, geo = random_layer(rng)
        e = explain.conv2d(x_shape, w_shape, **geo)
        ref = reference.conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), **geo)
        top, bottom, left, right = geo["padding"]
        (sh, sw), (dh, dw) = geo["stride"], geo["dilation"]
        counted = (count_windows(x_shape[2], top, bottom, w_shape[2], sh, dh),
                   count_windows(x_shape[3], left, right, w_shape[3], sw, dw))
        assert e.geometry.y_shape == ref.shape == e.y.shape, (seed, x_shape, w_shape, geo)
        assert (e.geometry.rows.out, e.geometry.cols.out) == counted, (seed, geo)
        assert e.im2col.shape == (np.prod(w_shape[1:]), counted[0] * counted[1]), seed


def test_reads_are_the_cells_each_output_depends_on(rng, seed):
    # Push a 1 through each input cell in turn (one image per cell) with an all-ones kernel:
    # y[m, 0, p, q] is 1 exactly when output (p, q) reads cell m.
    for _ in range(5):
        x_shape, w_shape, geo = random_layer(rng)
        _, _, h, w = x_shape
        r, s = w_shape[2:]
        impulses = np.eye(h * w).reshape(h * w, 1, h, w)
        y = reference.conv2d_forward(impulses, np.ones((1, 1, r, s)), **geo)
        g = explain.conv2d((1, 1, h, w), (1, 1, r, s), **geo).geometry
        for p in range(g.rows.out):
            for q in range(g.cols.out):
                listed = {row * w + col for row, col in g.reads(p, q)
                          if 0 <= row < h and 0 <= col < w}
                touched = set(np.flatnonzero(y[:, 0, p, q]))
                assert listed == touched, (seed, geo, (p, q))


class Counted:
    """A number that counts the multiplications done with it."""
    products = 0

    def __init__(self, value):
        self.value = value

    def __mul__(self, other):
        Counted.products += 1
        return Counted(self.value * getattr(other, "value", other))

    __rmul__ = __mul__

    def __add__(self, other):
        return Counted(self.value + getattr(other, "value", other))

    __radd__ = __add__


def _count_products(algorithm, x_shape, w_shape, geo, rng):
    to_counted = np.vectorize(Counted, otypes=[object])
    x = to_counted(rng.integers(-3, 4, size=x_shape))
    w = to_counted(rng.integers(-3, 4, size=w_shape))
    Counted.products = 0
    algorithm(x, w, **geo)
    return Counted.products


def test_multiplication_counts_are_the_products_performed(rng, seed):
    x_shape, w_shape, geo = random_layer(rng, max_size=6)
    cost = explain.conv2d(x_shape, w_shape, **geo).cost
    # The GEMM multiplies every entry, padding zeros included; the loops skip padding cells.
    assert _count_products(conv2d_im2col, x_shape, w_shape, geo, rng) == cost.multiplications, \
        (seed, x_shape, w_shape, geo)
    assert _count_products(conv2d_direct, x_shape, w_shape, geo, rng) == \
        cost.real_multiplications, (seed, x_shape, w_shape, geo)


def test_parameter_and_flop_counts(rng, seed):
    e = explain.conv2d((1, 32, 32), (6, 1, 3, 3))
    assert e.cost.parameters == (3 * 3 * 1 + 1) * 6 == 60
    x_shape, w_shape, geo = random_layer(rng)
    for bias in (True, False):
        e = explain.conv2d(x_shape, w_shape, **geo, bias=bias)
        held = e.w.size + (e.b.size if bias else 0)
        assert e.cost.parameters == held, (seed, bias)
        outputs, taps = e.y.size, np.prod(w_shape[1:])
        assert e.cost.multiplications == outputs * taps, seed
        assert e.cost.flops == 2 * outputs * taps - (0 if bias else outputs), (seed, bias)


def test_byte_count_is_the_size_of_the_arrays(rng, seed):
    x_shape, w_shape, geo = random_layer(rng)
    for dtype in (np.float32, np.float64):
        e = explain.conv2d(x_shape, w_shape, **geo, dtype=dtype)
        arrays = [e.x, e.w, e.b, e.y]
        assert e.cost.bytes == sum(a.astype(dtype).nbytes for a in arrays), (seed, dtype)
        assert e.cost.im2col_elements == x_shape[0] * e.im2col.size, seed


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_numbers(mode, rng, seed):
    h, w = (int(v) for v in rng.integers(3, 9, size=2))
    kernel = (int(rng.integers(2, 4)), int(rng.integers(2, 4)))
    padding = (kernel[0] // 2, 0, 0, kernel[1] // 2)
    e = explain.pool2d((2, h, w), kernel, stride=(2, 1), padding=padding, mode=mode)
    if mode == "max":
        y, argmax = reference.max_pool2d_forward(e.x, kernel, stride=(2, 1), padding=padding)
        np.testing.assert_array_equal(e.argmax, argmax, err_msg=f"seed {seed}")
    else:
        y = reference.avg_pool2d_forward(e.x, kernel, stride=(2, 1), padding=padding)
    np.testing.assert_array_equal(e.y, y, err_msg=f"seed {seed}")
    assert e.geometry.y_shape == y.shape and e.cost.parameters == 0
    # Independent count: the real cells under every window, by brute force.
    g = e.geometry
    real = [sum(0 <= r < h and 0 <= c < w for r, c in g.reads(p, q))
            for p in range(g.rows.out) for q in range(g.cols.out)]
    per_image_channel = sum(n - 1 for n in real) if mode == "max" else len(real) * np.prod(kernel)
    assert e.cost.operations == 2 * per_image_channel, (seed, kernel, padding)


def test_text_writes_out_the_arithmetic():
    out = str(explain.conv2d((1, 5, 5), (1, 3, 3), stride=(2, 1), padding=1))
    assert "floor((5 + 1 + 1 - 1*(3 - 1) - 1) / 2) + 1" in out
    assert "= 2 + 1 = 3" in out and "= 4 + 1 = 5" in out
    assert "H_out=3  W_out=5" in out
    assert "(3*3*1 + 1)*1 = 10" in out


def test_text_of_the_lecture_example():
    out = str(explain.conv2d((3, 3), (2, 2)))
    assert "y[0,0] = (0*0 + 1*1 + 2*3 + 3*4) + 0 = 19" in out
    assert "19 25" in out and "37 43" in out
    assert "w[0,0,0]   0   1   3   4" in out        # first im2col row


def test_text_of_unequal_stride_asymmetric_padding_and_dilation():
    out = str(explain.conv2d((1, 7, 6), (1, 1, 3, 3), stride=(3, 2), padding=(1, 0, 2, 1),
                             dilation=(1, 2)))
    assert "floor((7 + 1 + 0 - 1*(3 - 1) - 1) / 3) + 1" in out           # rows: stride 3
    assert "floor((6 + 2 + 1 - 2*(3 - 1) - 1) / 2) + 1" in out           # cols: stride 2
    assert "The floor drops 2 padded rows at the end" in out
    assert "q=0: -2* 0 2" in out                                          # dilated taps


def test_large_layer_is_summarised():
    out = str(explain.conv2d((2, 3, 64, 64), (16, 3, 3, 3), padding=1))
    assert "(4,096 outputs in all)" in out and "9 rows x 10 columns of cols" in out
    assert len(out.splitlines()) < 120


def test_impossible_layers_are_refused():
    with pytest.raises(ValueError, match="does not fit along the rows"):
        explain.conv2d((1, 2, 9), (1, 1, 3, 3))
    with pytest.raises(ValueError, match="half"):
        explain.pool2d((4, 4), 2, padding=2)


def test_compare_algorithms_rows(capsys):
    results = explain.compare_algorithms((1, 2, 7, 7), (3, 2, 3, 3), repeat=1)
    by_name = {r.name: r for r in results}
    assert set(by_name) == {"direct", "im2col", "winograd", "fft", "reference", "ops"}
    for r in results:
        assert r.error is not None and r.error < 1e-5, r
    # Winograd does 16 products per 2x2 tile where the direct loops do 36.
    direct, wino = by_name["direct"].multiplications, by_name["winograd"].multiplications
    assert direct == 1 * 3 * 7 * 7 * 2 * 3 * 3 and wino == 1 * 3 * 2 * 16 * 16
    assert "Convolution algorithms compared" in capsys.readouterr().out


def test_compare_marks_winograd_not_applicable(capsys):
    results = explain.compare_algorithms((1, 1, 8, 8), (1, 1, 5, 5), stride=2, repeat=1)
    wino = next(r for r in results if r.name == "winograd")
    assert wino.seconds is None and "3x3" in wino.note


def _window_or_rows(k):
    """The cpu backend's choice for a stride-1 layer of k <= 16 output channels, 3 or 5 wide:
    the window kernel where k fills more than half of a float32 vector on the active ISA."""
    lanes = {"avx512": 16, "avx2": 8}.get(metalnet.cpu_isa(), 4)
    return "window" if lanes // 2 < k <= lanes else "rows"


@pytest.mark.parametrize("x, w, geo, forward, dx, dw", [
    ((256, 6, 14, 14), (16, 6, 5, 5), {}, _window_or_rows(16), "images",
     _window_or_rows(16)),                                                      # LeNet conv2
    ((16, 256, 14, 14), (256, 256, 3, 3), dict(padding=1), "winograd", "winograd", "winograd"),
    ((32, 64, 32, 32), (64, 64, 3, 3), dict(padding=1), "winograd4", "winograd4", "winograd4"),
    ((4, 16, 12, 12), (64, 16, 3, 3), dict(padding=1), "direct", _window_or_rows(16),
     "rows"),                                                                   # C*R*S <= 160
    ((8, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3), "direct", "col2im", "im2col"),
    ((32, 512, 4, 4), (512, 512, 3, 3), dict(padding=1), "taps", "taps", "taps"),  # 31% padding
    ((32, 64, 4, 4), (64, 64, 3, 3), dict(padding=1), "taps", "taps", "im2col"),  # dW: < 128
    ((2, 8, 20, 20), (300, 8, 5, 5), dict(padding=2), "im2col", _window_or_rows(8),
     "im2col"),                                                                 # dx: 8 out
])
def test_text_names_the_algorithms_the_cpu_backend_runs(x, w, geo, forward, dx, dw):
    """Section 6 reports the C++ backend's own choice (the decisions conv2d_backward makes)."""
    cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")
    e = explain.conv2d(x, w, **geo)
    n, k, ho, wo = e.geometry.y_shape
    g = e.geometry
    plan = cpu.conv2d_plan(list(x), list(w), ho, wo, g.rows.stride, g.cols.stride,
                           g.rows.pad_before, g.cols.pad_before, 1, 1)
    assert plan == dict(forward=forward, dx=dx, dw=dw)
    out = str(e)
    assert "6. How metalnet's cpu backend runs it" in out
    assert f"forward  {forward}:" in out and f"dW       {dw}:" in out
    assert f"dx       {dx}" in out


def test_plan_refuses_bad_geometry():
    cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")
    with pytest.raises(ValueError, match="disagree"):
        cpu.conv2d_plan([1, 3, 8, 8], [4, 2, 3, 3], 6, 6, 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="invalid stride"):
        cpu.conv2d_plan([1, 3, 8, 8], [4, 3, 3, 3], 6, 6, 0, 1, 0, 0, 1, 1)
