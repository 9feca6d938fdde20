"""Tests of metalnet.reference, the NumPy oracle, against first principles.

Forward passes are compared with plain nested-loop definitions written here, output sizes with
a count of window positions, and every backward pass with central finite differences in
float64. Every test draws a fresh seed, which appears in the assertion messages.
"""
import itertools

import numpy as np
import pytest

from metalnet import reference

DTYPES = [np.float32, np.float64]


@pytest.fixture
def seed():
    """A fresh seed per test, printed so a failure can be replayed."""
    value = np.random.SeedSequence().entropy
    print(f"seed = {value}")
    return value


def rel_err(out, ref):
    """||out - ref|| / ||ref|| in float64 (absolute error when ref is zero)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.linalg.norm(ref)
    diff = np.linalg.norm(out - ref)
    return diff / scale if scale > 0 else diff


def tol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


def close(out, ref, dtype):
    """rel_err within tol(dtype); for float32, measured against at least an RMS of 0.1 per
    element: sums of N(0, 1) terms can cancel to ~0 in one element (a 1x1x1 gemm with
    beta * c = -alpha * a * b), and a relative error would then measure the cancellation."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.linalg.norm(ref)
    if dtype == np.float32:
        scale = max(scale, 0.1 * np.sqrt(ref.size))
    diff = np.linalg.norm(out - ref)
    return (diff / scale if scale > 0 else diff) < tol(dtype)


# --------------------------------------------------------------------------------------------
# Independent geometry helpers and nested-loop definitions
# --------------------------------------------------------------------------------------------

def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def as_pad4(p):
    if isinstance(p, int):
        return (p, p, p, p)
    if len(p) == 2:
        return (p[0], p[0], p[1], p[1])
    return tuple(p)


def count_windows(size, pad_before, pad_after, kernel, stride, dilation=1):
    """How many window positions fit: start at 0, stride along, stop when the window leaves."""
    padded = size + pad_before + pad_after
    count, start = 0, 0
    while start + dilation * (kernel - 1) <= padded - 1:
        count += 1
        start += stride
    return count


def conv_loops(x, w, b, stride, padding, dilation):
    """y[n,k,p,q] = b[k] + sum_{c,i,j} w[k,c,i,j] * x[n,c,p*sh-top+i*dh, q*sw-left+j*dw]."""
    (sh, sw), (dh, dw), (top, bottom, left, right) = as_pair(stride), as_pair(dilation), \
        as_pad4(padding)
    n_, c_, h_, w_ = x.shape
    k_, _, r_, s_ = w.shape
    ho = count_windows(h_, top, bottom, r_, sh, dh)
    wo = count_windows(w_, left, right, s_, sw, dw)
    y = np.zeros((n_, k_, ho, wo))
    for n in range(n_):
        for k in range(k_):
            for p in range(ho):
                for q in range(wo):
                    acc = 0.0 if b is None else float(b[k])
                    for c in range(c_):
                        for i in range(r_):
                            for j in range(s_):
                                row = p * sh - top + i * dh
                                col = q * sw - left + j * dw
                                if 0 <= row < h_ and 0 <= col < w_:
                                    acc += float(w[k, c, i, j]) * float(x[n, c, row, col])
                    y[n, k, p, q] = acc
    return y


def pool_windows(h_, w_, kernel, stride, padding):
    """Yield (p, q, [(row, col), ...] real cells in row-major window order)."""
    (kh, kw), (top, bottom, left, right) = as_pair(kernel), as_pad4(padding)
    sh, sw = as_pair(kernel if stride is None else stride)
    ho = count_windows(h_, top, bottom, kh, sh)
    wo = count_windows(w_, left, right, kw, sw)
    for p in range(ho):
        for q in range(wo):
            cells = []
            for i in range(kh):
                for j in range(kw):
                    row, col = p * sh - top + i, q * sw - left + j
                    if 0 <= row < h_ and 0 <= col < w_:
                        cells.append((row, col))
            yield p, q, cells, (ho, wo)


def max_pool_loops(x, kernel, stride, padding):
    n_, c_, h_, w_ = x.shape
    windows = list(pool_windows(h_, w_, kernel, stride, padding))
    ho, wo = windows[0][3]
    y = np.zeros((n_, c_, ho, wo))
    arg = np.zeros((n_, c_, ho, wo), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for p, q, cells, _ in windows:
                best_val, best_idx = None, None
                for row, col in cells:
                    if best_val is None or x[n, c, row, col] > best_val:
                        best_val, best_idx = x[n, c, row, col], row * w_ + col
                y[n, c, p, q] = best_val
                arg[n, c, p, q] = best_idx
    return y, arg


def avg_pool_loops(x, kernel, stride, padding, count_include_pad):
    n_, c_, h_, w_ = x.shape
    kh, kw = as_pair(kernel)
    windows = list(pool_windows(h_, w_, kernel, stride, padding))
    ho, wo = windows[0][3]
    y = np.zeros((n_, c_, ho, wo))
    for n in range(n_):
        for c in range(c_):
            for p, q, cells, _ in windows:
                total = sum(float(x[n, c, row, col]) for row, col in cells)
                y[n, c, p, q] = total / (kh * kw if count_include_pad else len(cells))
    return y


def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every element of x (in place)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        f_plus = f()
        x[idx] = orig - eps
        f_minus = f()
        x[idx] = orig
        g[idx] = (f_plus - f_minus) / (2 * eps)
    return g


def assert_grad(analytic, f, x, seed, what, bound=1e-6):
    numeric = numerical_grad(f, x)
    assert numeric.shape == analytic.shape, what
    assert np.linalg.norm(numeric) > 0, f"{what}: degenerate check (zero gradient), seed={seed}"
    err = rel_err(analytic, numeric)
    assert err < bound, f"{what}: relative error {err:.3g}, seed={seed}"


# --------------------------------------------------------------------------------------------
# GEMM
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
def test_gemm_matches_matmul(seed, dtype, trans_a, trans_b):
    rng = np.random.default_rng(seed)
    for m, n, k in [(1, 1, 1), (7, 5, 3), (13, 1, 11), (1, 17, 2), (0, 3, 5), (3, 0, 5),
                    (4, 6, 0), (0, 0, 0)]:
        for alpha, beta, with_c in [(1.0, 0.0, False), (0.5, 0.0, False), (1.0, 1.0, True),
                                    (-1.5, 0.25, True), (2.0, 3.0, False)]:
            A = rng.standard_normal((m, k))
            B = rng.standard_normal((k, n))
            C = rng.standard_normal((m, n))
            a = (A.T.copy() if trans_a else A).astype(dtype)
            b = (B.T.copy() if trans_b else B).astype(dtype)
            c = C.astype(dtype) if with_c else None
            c_before = None if c is None else c.copy()
            out = reference.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a,
                                 trans_b=trans_b)
            A64, B64, C64 = (v.astype(np.float64) for v in (A.astype(dtype), B.astype(dtype),
                                                             C.astype(dtype)))
            expected = alpha * (A64 @ B64) + (beta * C64 if with_c else 0)
            case = f"m,n,k={m, n, k} alpha={alpha} beta={beta} c={with_c} seed={seed}"
            assert out.shape == (m, n), case
            assert out.dtype == dtype, case
            assert close(out, expected, dtype), case
            if c is not None:
                assert np.array_equal(c, c_before), f"c was modified: {case}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_k0_and_ignored_c(seed, dtype):
    rng = np.random.default_rng(seed)
    a = np.zeros((3, 0), dtype=dtype)
    b = np.zeros((0, 4), dtype=dtype)
    c = rng.standard_normal((3, 4)).astype(dtype)
    # K = 0: the product is zero, so the result is beta * c, or zeros without c.
    assert np.array_equal(reference.gemm(a, b, c, beta=2.0), 2 * c), f"seed={seed}"
    out = reference.gemm(a, b, alpha=3.0, beta=5.0)          # beta ignored without c
    assert out.shape == (3, 4) and out.dtype == dtype and not out.any(), f"seed={seed}"
    # beta = 0: c is not read (BLAS convention), so NaN in c does not leak out.
    a = rng.standard_normal((3, 2)).astype(dtype)
    b = rng.standard_normal((2, 4)).astype(dtype)
    nan_c = np.full((3, 4), np.nan, dtype=dtype)
    out = reference.gemm(a, b, nan_c, beta=0.0)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    assert close(out, expected, dtype), f"seed={seed}"


def test_gemm_rejects_mismatch():
    with pytest.raises(ValueError):
        reference.gemm(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError):
        reference.gemm(np.ones((2, 3)), np.ones((3, 2), dtype=np.float32))


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------

def test_conv_lecture_example():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    w = np.array([[0, 1], [2, 3]], dtype=np.float64).reshape(1, 1, 2, 2)
    y = reference.conv2d_forward(x, w)
    assert np.array_equal(y, np.array([[[[19, 25], [37, 43]]]], dtype=np.float64))
    y32 = reference.conv2d_forward(x.astype(np.float32), w.astype(np.float32))
    assert y32.dtype == np.float32
    assert np.array_equal(y32, np.array([[[[19, 25], [37, 43]]]], dtype=np.float32))


def kernel_sizes(padded_h, padded_w, dh, dw):
    """1x1, a middle size and the largest (dilated) kernel that fits the padded input."""
    r_max = (padded_h - 1) // dh + 1
    s_max = (padded_w - 1) // dw + 1
    return sorted({(1, 1), (min(2, r_max), min(3, s_max)), (r_max, s_max), (r_max, 1),
                   (1, s_max)})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dilation", [1, 2, (2, 1)])
@pytest.mark.parametrize("padding", [0, 1, (1, 0), (0, 1, 2, 1)])
@pytest.mark.parametrize("stride", [1, (3, 2)])
def test_conv_forward_matches_loops(seed, dtype, stride, padding, dilation):
    rng = np.random.default_rng(seed)
    n, c, h, w, k = 1, 3, 5, 7, 2
    top, bottom, left, right = as_pad4(padding)
    dh, dw = as_pair(dilation)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    for r, s in kernel_sizes(h + top + bottom, w + left + right, dh, dw):
        wt = rng.standard_normal((k, c, r, s)).astype(dtype)
        for b in (None, rng.standard_normal(k).astype(dtype)):
            y = reference.conv2d_forward(x, wt, b, stride=stride, padding=padding,
                                         dilation=dilation)
            expected = conv_loops(x, wt, b, stride, padding, dilation)
            case = f"kernel={(r, s)} bias={b is not None} seed={seed}"
            assert y.shape == expected.shape, case
            assert y.dtype == dtype and y.flags.c_contiguous, case
            assert close(y, expected, dtype), case


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_forward_batch_and_channels(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 2, 7, 5)).astype(dtype)
    w = rng.standard_normal((5, 2, 3, 2)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    y = reference.conv2d_forward(x, w, b, stride=(2, 1), padding=(1, 0, 0, 1), dilation=(1, 2))
    expected = conv_loops(x, w, b, (2, 1), (1, 0, 0, 1), (1, 2))
    assert close(y, expected, dtype), f"seed={seed}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_zero_sizes(seed, dtype):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3, 2, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    # N = 0: empty output, zero weight and bias gradients, empty dx.
    x0 = np.zeros((0, 3, 5, 5), dtype=dtype)
    y = reference.conv2d_forward(x0, w, b, padding=1)
    assert y.shape == (0, 4, 6, 6) and y.dtype == dtype
    dx, dw, db = reference.conv2d_backward(y, x0, w, padding=1)
    assert dx.shape == x0.shape and dw.shape == w.shape and db.shape == (4,)
    assert not dw.any() and not db.any()
    # C = 0: the output is the bias everywhere.
    xc = np.zeros((2, 0, 5, 5), dtype=dtype)
    wc = np.zeros((4, 0, 2, 2), dtype=dtype)
    y = reference.conv2d_forward(xc, wc, b)
    assert y.shape == (2, 4, 4, 4)
    assert np.array_equal(y, np.broadcast_to(b.reshape(1, 4, 1, 1), y.shape)), f"seed={seed}"
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = reference.conv2d_backward(dy, xc, wc)
    assert dx.shape == xc.shape and dw.shape == wc.shape
    assert close(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), dtype), f"seed={seed}"


def test_conv_rejects_kernel_larger_than_padded_input():
    with pytest.raises(ValueError):
        reference.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 4, 1)))
    with pytest.raises(ValueError):
        reference.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), dilation=3)


@pytest.mark.parametrize("h,w,kernel,stride,padding,dilation", [
    (11, 13, (2, 3), (3, 2), (0, 1, 2, 1), (2, 1)),
    (7, 5, (3, 3), (3, 2), (2, 0, 0, 3), (1, 2)),
    (17, 19, (4, 2), (3, 2), (1, 2, 3, 0), (3, 5)),
    (5, 5, (1, 1), (3, 2), (0, 0, 1, 0), 1),
    (2, 3, (3, 4), (3, 2), (1, 1, 1, 0), (1, 1)),
])
def test_output_sizes(h, w, kernel, stride, padding, dilation):
    top, bottom, left, right = padding
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, as_pair(dilation)
    expected = (count_windows(h, top, bottom, kh, sh, dh),
                count_windows(w, left, right, kw, sw, dw))
    x = np.zeros((1, 1, h, w))
    y = reference.conv2d_forward(x, np.zeros((1, 1) + kernel), stride=stride, padding=padding,
                                 dilation=dilation)
    assert y.shape[2:] == expected
    # Pooling has dilation 1 and needs padding <= half the kernel: check with a padding-free case.
    pooled_expected = (count_windows(h, 0, 0, kh, sh), count_windows(w, 0, 0, kw, sw))
    if min(pooled_expected) > 0:
        y, arg = reference.max_pool2d_forward(x, kernel, stride=stride)
        assert y.shape[2:] == pooled_expected and arg.shape == y.shape
        y = reference.avg_pool2d_forward(x, kernel, stride=stride)
        assert y.shape[2:] == pooled_expected


@pytest.mark.parametrize("stride,padding,dilation", [
    (1, 0, 1), ((3, 2), (0, 1, 2, 1), (2, 1)), (2, 1, 2), ((1, 2), (1, 0), 1),
])
def test_conv_backward_finite_differences(seed, stride, padding, dilation):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 7, 5))
    w = rng.standard_normal((2, 3, 2, 3))
    b = rng.standard_normal(2)
    geom = dict(stride=stride, padding=padding, dilation=dilation)
    y = reference.conv2d_forward(x, w, b, **geom)
    u = rng.standard_normal(y.shape)
    dx, dw, db = reference.conv2d_backward(u, x, w, **geom)

    def loss():
        return float(np.sum(u * reference.conv2d_forward(x, w, b, **geom)))

    assert_grad(dx, loss, x, seed, "conv dx")
    assert_grad(dw, loss, w, seed, "conv dw")
    assert_grad(db, loss, b, seed, "conv db")


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_backward_dtype(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    dy = rng.standard_normal((2, 4, 3, 4))
    geom = dict(stride=(2, 1), padding=(1, 0), dilation=1)
    ref = reference.conv2d_backward(dy, x, w, **geom)
    out = reference.conv2d_backward(dy.astype(dtype), x.astype(dtype), w.astype(dtype), **geom)
    for name, o, r in zip(("dx", "dw", "db"), out, ref):
        assert o.dtype == dtype and o.shape == r.shape, name
        assert rel_err(o, r) < 1e-5, f"{name} seed={seed}"


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------

def pool_kernels(h, w, padding):
    """Kernels from the smallest the padding allows (padding <= kernel/2) to the padded input."""
    top, bottom, left, right = as_pad4(padding)
    kh_min, kw_min = max(1, 2 * max(top, bottom)), max(1, 2 * max(left, right))
    kh_max, kw_max = h + top + bottom, w + left + right
    return sorted({(kh_min, kw_min), (kh_max, kw_max), (min(kh_min + 1, kh_max), kw_max),
                   (kh_max, min(kw_min + 2, kw_max)),
                   (min(3, kh_max), min(max(kw_min, 2), kw_max))})


POOL_GRID = list(itertools.product([None, 1, (3, 2)], [0, 1, (1, 0), (0, 1, 2, 1)]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride,padding", POOL_GRID)
def test_max_pool_forward_matches_loops(seed, dtype, stride, padding):
    rng = np.random.default_rng(seed)
    h, w = 5, 7
    # Small integers make ties frequent, exercising the first-index rule.
    x = rng.integers(-3, 4, size=(1, 2, h, w)).astype(dtype)
    for kernel in pool_kernels(h, w, padding):
        y, arg = reference.max_pool2d_forward(x, kernel, stride=stride, padding=padding)
        ey, earg = max_pool_loops(x, kernel, stride, padding)
        case = f"kernel={kernel} seed={seed}"
        assert y.dtype == dtype and arg.dtype == np.int64, case
        assert np.array_equal(y, ey), case
        assert np.array_equal(arg, earg), case


def test_max_pool_negative_inputs_and_padding():
    # All-negative input: zero padding must never win.
    x = -np.arange(1, 10, dtype=np.float64).reshape(1, 1, 3, 3)
    y, arg = reference.max_pool2d_forward(x, 2, stride=1, padding=1)
    assert (y < 0).all()
    assert np.array_equal(arg[0, 0], [[0, 0, 1, 2], [0, 0, 1, 2], [3, 3, 4, 5], [6, 6, 7, 8]])
    # Ties: the first cell in row-major window order wins.
    x = np.ones((1, 1, 2, 2))
    y, arg = reference.max_pool2d_forward(x, 2)
    assert arg[0, 0, 0, 0] == 0 and y[0, 0, 0, 0] == 1


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride,padding", POOL_GRID)
def test_avg_pool_forward_matches_loops(seed, dtype, stride, padding, count_include_pad):
    rng = np.random.default_rng(seed)
    h, w = 5, 7
    x = rng.standard_normal((1, 2, h, w)).astype(dtype)
    for kernel in pool_kernels(h, w, padding):
        y = reference.avg_pool2d_forward(x, kernel, stride=stride, padding=padding,
                                         count_include_pad=count_include_pad)
        expected = avg_pool_loops(x, kernel, stride, padding, count_include_pad)
        case = f"kernel={kernel} seed={seed}"
        assert y.dtype == dtype and y.shape == expected.shape, case
        # A mean of up to 63 N(0, 1) cells can cancel to ~1e-4; measure the error against the
        # means' natural size (>= 1/8) rather than against that cancellation.
        scale = max(np.linalg.norm(expected), 0.125 * np.sqrt(expected.size))
        assert np.linalg.norm(y.astype(np.float64) - expected) / scale < tol(dtype), case


def test_pool_rejects_padding_over_half_kernel():
    x = np.ones((1, 1, 5, 5))
    with pytest.raises(ValueError):
        reference.max_pool2d_forward(x, 2, padding=2)
    with pytest.raises(ValueError):
        reference.avg_pool2d_forward(x, 3, padding=(0, 2, 0, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_zero_batch(dtype):
    x = np.zeros((0, 3, 5, 5), dtype=dtype)
    y, arg = reference.max_pool2d_forward(x, 2)
    assert y.shape == (0, 3, 2, 2) and arg.shape == y.shape and y.dtype == dtype
    dx = reference.max_pool2d_backward(y, arg, x.shape)
    assert dx.shape == x.shape and dx.dtype == dtype
    y = reference.avg_pool2d_forward(x, 3, stride=1, padding=1)
    assert y.shape == (0, 3, 5, 5)
    dx = reference.avg_pool2d_backward(y, x.shape, 3, stride=1, padding=1)
    assert dx.shape == x.shape and dx.dtype == dtype


@pytest.mark.parametrize("kernel,stride,padding", [
    (2, None, 0), (3, 1, 1), ((3, 2), (3, 2), (0, 1, 1, 0)), ((2, 4), (1, 2), (1, 0, 2, 1)),
])
def test_max_pool_backward_finite_differences(seed, kernel, stride, padding):
    rng = np.random.default_rng(seed)
    shape = (2, 2, 5, 7)
    # Distinct values spaced 1 apart (>> the finite-difference step): no tie can flip.
    x = (rng.permutation(np.prod(shape)) - 30).astype(np.float64).reshape(shape)
    y, arg = reference.max_pool2d_forward(x, kernel, stride=stride, padding=padding)
    u = rng.standard_normal(y.shape)
    dx = reference.max_pool2d_backward(u, arg, x.shape)

    def loss():
        return float(np.sum(u * reference.max_pool2d_forward(x, kernel, stride=stride,
                                                              padding=padding)[0]))

    assert_grad(dx, loss, x, seed, f"max pool dx kernel={kernel}")


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel,stride,padding", [
    (2, None, 0), (3, 1, 1), ((3, 2), (3, 2), (0, 1, 1, 0)), ((2, 4), (1, 2), (1, 0, 2, 1)),
])
def test_avg_pool_backward_finite_differences(seed, kernel, stride, padding, count_include_pad):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 5, 7))
    geom = dict(stride=stride, padding=padding, count_include_pad=count_include_pad)
    y = reference.avg_pool2d_forward(x, kernel, **geom)
    u = rng.standard_normal(y.shape)
    dx = reference.avg_pool2d_backward(u, x.shape, kernel, **geom)

    def loss():
        return float(np.sum(u * reference.avg_pool2d_forward(x, kernel, **geom)))

    assert_grad(dx, loss, x, seed, f"avg pool dx kernel={kernel}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_backward_dtype(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    y, arg = reference.max_pool2d_forward(x, 3, stride=2, padding=1)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = reference.max_pool2d_backward(dy, arg, x.shape)
    assert dx.dtype == dtype
    # Every upstream value lands somewhere: the totals agree.
    assert abs(float(dx.sum()) - float(dy.sum())) < 1e-4, f"seed={seed}"
    dx = reference.avg_pool2d_backward(dy, x.shape, 3, stride=2, padding=1)
    assert dx.dtype == dtype


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------

def away_from_zero(rng, shape):
    """Normal samples pushed at least 0.1 away from 0, where relu's derivative jumps."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x) + (x == 0) * 0.1


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward_values(seed, dtype):
    rng = np.random.default_rng(seed)
    x64 = rng.standard_normal((3, 7)) * 4
    x = x64.astype(dtype)
    xs = x.astype(np.float64)
    cases = {
        "relu": (reference.relu_forward(x), np.where(xs > 0, xs, 0.0)),
        "leaky": (reference.leaky_relu_forward(x, 0.2), np.where(xs > 0, xs, 0.2 * xs)),
        "leaky default": (reference.leaky_relu_forward(x), np.where(xs > 0, xs, 0.01 * xs)),
        "sigmoid": (reference.sigmoid_forward(x), 1 / (1 + np.exp(-xs))),
        "tanh": (reference.tanh_forward(x), np.tanh(xs)),
    }
    for name, (out, expected) in cases.items():
        assert out.dtype == dtype and out.shape == x.shape, name
        assert close(out, expected, dtype), f"{name} seed={seed}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_extremes(dtype):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = reference.sigmoid_forward(x)
    assert np.all(np.isfinite(y)) and y[2] == 0.5 and y[-1] == 1 and y[0] == 0
    assert np.all(np.diff(y) >= 0)


def test_activation_backward_finite_differences(seed):
    rng = np.random.default_rng(seed)
    shape = (3, 5)
    u = rng.standard_normal(shape)

    x = away_from_zero(rng, shape)
    assert_grad(reference.relu_backward(u, x),
                lambda: float(np.sum(u * reference.relu_forward(x))), x, seed, "relu")
    x = away_from_zero(rng, shape)
    assert_grad(reference.leaky_relu_backward(u, x, 0.3),
                lambda: float(np.sum(u * reference.leaky_relu_forward(x, 0.3))), x, seed,
                "leaky relu")
    x = away_from_zero(rng, shape)
    assert_grad(reference.leaky_relu_backward(u, x),
                lambda: float(np.sum(u * reference.leaky_relu_forward(x))), x, seed,
                "leaky relu default slope")
    x = rng.standard_normal(shape) * 3
    assert_grad(reference.sigmoid_backward(u, reference.sigmoid_forward(x)),
                lambda: float(np.sum(u * reference.sigmoid_forward(x))), x, seed, "sigmoid")
    x = rng.standard_normal(shape) * 2
    assert_grad(reference.tanh_backward(u, reference.tanh_forward(x)),
                lambda: float(np.sum(u * reference.tanh_forward(x))), x, seed, "tanh")


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward_dtype(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 3)).astype(dtype)
    dy = rng.standard_normal((4, 3)).astype(dtype)
    outs = [reference.relu_backward(dy, x), reference.leaky_relu_backward(dy, x),
            reference.sigmoid_backward(dy, reference.sigmoid_forward(x)),
            reference.tanh_backward(dy, reference.tanh_forward(x))]
    assert all(o.dtype == dtype and o.shape == x.shape for o in outs)
    # relu passes dy exactly where x > 0 and blocks it elsewhere.
    assert np.array_equal(outs[0], np.where(x > 0, dy, 0)), f"seed={seed}"


# --------------------------------------------------------------------------------------------
# Softmax and cross-entropy
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_values(seed, dtype):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    xs = x.astype(np.float64)
    expected = np.exp(xs) / np.exp(xs).sum(axis=1, keepdims=True)
    p = reference.softmax(x)
    lp = reference.log_softmax(x)
    assert p.dtype == dtype and lp.dtype == dtype
    assert close(p, expected, dtype), f"seed={seed}"
    assert close(lp, np.log(expected), dtype), f"seed={seed}"
    # Stability: huge logits neither overflow nor lose the answer.
    big = np.array([[1000.0, 1000.0, 0.0], [-1000.0, -1001.0, -1000.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        p = reference.softmax(big)
        lp = reference.log_softmax(big)
    assert np.allclose(p[0], [0.5, 0.5, 0.0]) and np.allclose(p.sum(axis=1), 1)
    assert np.isclose(lp[0, 0], -np.log(2)) and np.all(np.isfinite(lp))
    # Empty batch and single class.
    assert reference.softmax(np.zeros((0, 4), dtype=dtype)).shape == (0, 4)
    assert np.array_equal(reference.softmax(x[:, :1]), np.ones((5, 1)))


def test_softmax_backward_finite_differences(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 6)) * 2
    u = rng.standard_normal((4, 6))
    assert_grad(reference.softmax_backward(u, reference.softmax(x)),
                lambda: float(np.sum(u * reference.softmax(x))), x, seed, "softmax")
    assert_grad(reference.log_softmax_backward(u, reference.log_softmax(x)),
                lambda: float(np.sum(u * reference.log_softmax(x))), x, seed, "log_softmax")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_value(seed, dtype):
    rng = np.random.default_rng(seed)
    n, c = 7, 5
    logits = rng.standard_normal((n, c)).astype(dtype)
    labels = rng.integers(0, c, size=n).astype(np.int64)
    loss, dlogits = reference.softmax_cross_entropy(logits, labels)
    z = logits.astype(np.float64)
    expected = np.mean([np.log(np.exp(z[i]).sum()) - z[i, labels[i]] for i in range(n)])
    assert np.asarray(loss).dtype == dtype and np.ndim(loss) == 0
    assert abs(float(loss) - expected) <= 10 * tol(dtype) * abs(expected), f"seed={seed}"
    assert dlogits.dtype == dtype and dlogits.shape == (n, c)
    # Each row of the gradient sums to zero (softmax sums to 1, minus the one-hot).
    assert np.allclose(dlogits.astype(np.float64).sum(axis=1), 0, atol=10 * tol(dtype))
    # Uniform logits: the loss is log(C).
    loss, _ = reference.softmax_cross_entropy(np.zeros((3, c), dtype=dtype),
                                              np.array([0, 4, 2], dtype=np.int64))
    assert abs(float(loss) - np.log(c)) < 10 * tol(dtype)


def test_cross_entropy_finite_differences(seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((6, 4)) * 2
    labels = rng.integers(0, 4, size=6).astype(np.int64)
    _, dlogits = reference.softmax_cross_entropy(logits, labels)
    assert_grad(dlogits, lambda: float(reference.softmax_cross_entropy(logits, labels)[0]),
                logits, seed, "cross-entropy dlogits")


def test_cross_entropy_edge_cases():
    loss, d = reference.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    assert np.isnan(loss) and d.shape == (0, 3)
    with pytest.raises(ValueError):
        reference.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3], dtype=np.int64))
    with pytest.raises(ValueError):
        reference.softmax_cross_entropy(np.zeros((2, 3)), np.array([-1, 0], dtype=np.int64))


# --------------------------------------------------------------------------------------------
# LSTM cell
# --------------------------------------------------------------------------------------------

def lstm_by_hand(x, h, c, w_ih, w_hh, b):
    """One LSTM step, one gate at a time, in float64."""
    hidden = h.shape[1]
    x, h, c, w_ih, w_hh, b = (np.asarray(v, dtype=np.float64) for v in (x, h, c, w_ih, w_hh, b))

    def pre(gate):
        rows = slice(gate * hidden, (gate + 1) * hidden)
        return x @ w_ih[rows].T + h @ w_hh[rows].T + b[rows]

    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(pre(0)), sig(pre(1)), np.tanh(pre(2)), sig(pre(3))
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next, np.concatenate([i, f, g, o], axis=1)


def lstm_inputs(rng, n=3, inp=5, hidden=4):
    return [rng.standard_normal((n, inp)), rng.standard_normal((n, hidden)),
            rng.standard_normal((n, hidden)), 0.5 * rng.standard_normal((4 * hidden, inp)),
            0.5 * rng.standard_normal((4 * hidden, hidden)), 0.5 * rng.standard_normal(4 * hidden)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_forward(seed, dtype):
    rng = np.random.default_rng(seed)
    args = [v.astype(dtype) for v in lstm_inputs(rng)]
    h_next, c_next, cache = reference.lstm_cell_forward(*args)
    eh, ec, egates = lstm_by_hand(*args)
    assert isinstance(cache, reference.LSTMCache)
    assert cache._fields == ("x", "h", "c", "w_ih", "w_hh", "gates", "c_next")
    for name, out, expected in [("h_next", h_next, eh), ("c_next", c_next, ec),
                                ("gates", cache.gates, egates), ("cache.c_next", cache.c_next, ec)]:
        assert out.dtype == dtype and out.shape == expected.shape, name
        assert close(out, expected, dtype), f"{name} seed={seed}"


def test_lstm_backward_finite_differences(seed):
    rng = np.random.default_rng(seed)
    x, h, c, w_ih, w_hh, b = lstm_inputs(rng)
    u_h = rng.standard_normal(h.shape)
    u_c = rng.standard_normal(c.shape)
    _, _, cache = reference.lstm_cell_forward(x, h, c, w_ih, w_hh, b)
    grads = reference.lstm_cell_backward(u_h, u_c, cache)

    def loss():
        h_next, c_next, _ = reference.lstm_cell_forward(x, h, c, w_ih, w_hh, b)
        return float(np.sum(u_h * h_next) + np.sum(u_c * c_next))

    for name, grad, arr in zip(("dx", "dh", "dc", "dw_ih", "dw_hh", "db"), grads,
                               (x, h, c, w_ih, w_hh, b)):
        assert_grad(grad, loss, arr, seed, f"lstm {name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_dtype_and_empty_batch(seed, dtype):
    rng = np.random.default_rng(seed)
    args64 = lstm_inputs(rng)
    args = [v.astype(dtype) for v in args64]
    _, _, cache = reference.lstm_cell_forward(*args)
    _, _, cache64 = reference.lstm_cell_forward(*(v.astype(np.float64) for v in args))
    dh = rng.standard_normal((3, 4)).astype(dtype)
    dc = rng.standard_normal((3, 4)).astype(dtype)
    grads = reference.lstm_cell_backward(dh, dc, cache)
    ref = reference.lstm_cell_backward(dh.astype(np.float64), dc.astype(np.float64), cache64)
    for g, r in zip(grads, ref):
        assert g.dtype == dtype and g.shape == r.shape
        assert rel_err(g, r) < 1e-5, f"seed={seed}"
    # N = 0: empty states, zero weight gradients.
    empty = [np.zeros((0, 5), dtype), np.zeros((0, 4), dtype), np.zeros((0, 4), dtype)] + args[3:]
    h_next, c_next, cache = reference.lstm_cell_forward(*empty)
    assert h_next.shape == (0, 4) and c_next.shape == (0, 4)
    dx, dh_, dc, dw_ih, dw_hh, db = reference.lstm_cell_backward(h_next, c_next, cache)
    assert dx.shape == (0, 5) and dw_ih.shape == (16, 5) and not dw_ih.any() and not db.any()


# --------------------------------------------------------------------------------------------
# Bias
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 3, 7), (1, 1, 1, 1)])
def test_bias_add_values_and_finite_differences(seed, shape):
    rng = np.random.default_rng(seed)
    x, b = rng.standard_normal(shape), rng.standard_normal(shape[1])
    y = reference.bias_add(x, b)
    for c in range(shape[1]):  # every element of channel c moved by exactly b[c]
        np.testing.assert_allclose(y[:, c] - x[:, c], b[c], rtol=0, atol=1e-12, err_msg=f"seed {seed}")
    dy = rng.standard_normal(shape)
    db = reference.bias_add_backward(dy)
    assert_grad(db, lambda: float((reference.bias_add(x, b) * dy).sum()), b, seed, "bias db")


# --------------------------------------------------------------------------------------------
# LSTM over a sequence
# --------------------------------------------------------------------------------------------
def test_lstm_sequence_is_the_cell_in_a_loop_and_its_gradients(seed):
    rng = np.random.default_rng(seed)
    steps, n, inp, hidden = 3, 2, 4, 3
    x = rng.standard_normal((steps, n, inp))
    h0, c0 = rng.standard_normal((n, hidden)), rng.standard_normal((n, hidden))
    w_ih = rng.standard_normal((4 * hidden, inp)) * 0.5
    w_hh = rng.standard_normal((4 * hidden, hidden)) * 0.5
    b = rng.standard_normal(4 * hidden) * 0.5
    hs, h_last, c_last, cache = reference.lstm_forward(x, h0, c0, w_ih, w_hh, b)
    h, c = h0, c0
    for t in range(steps):  # the definition: one cell per step, state carried along
        h, c, _ = reference.lstm_cell_forward(x[t], h, c, w_ih, w_hh, b)
        np.testing.assert_allclose(hs[t], h, rtol=1e-12, err_msg=f"seed {seed}")
    np.testing.assert_allclose(c_last, c, rtol=1e-12)
    dhs, dhl, dcl = (rng.standard_normal(s) for s in (hs.shape, h0.shape, c0.shape))

    def loss():
        out, hl, cl, _ = reference.lstm_forward(x, h0, c0, w_ih, w_hh, b)
        return float((out * dhs).sum() + (hl * dhl).sum() + (cl * dcl).sum())

    grads = reference.lstm_backward(dhs, dhl, dcl, cache)
    for name, g, v in zip(("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db"), grads,
                          (x, h0, c0, w_ih, w_hh, b)):
        assert_grad(g, loss, v, seed, f"lstm sequence {name}")
