"""The explainer's algorithms (direct, im2col, Winograd, FFT) against metalnet.reference."""
import numpy as np
import pytest

from metalnet import reference
from metalnet.explain import (ALGORITHMS, conv2d_direct, conv2d_fft, conv2d_im2col,
                              conv2d_winograd, im2col_matrix)
from metalnet.explain import winograd
from metalnet.explain.im2col import PADDING, im2col_sources
from metalnet.explain.geometry import ConvGeometry

from test_explain_layers import arrays, random_layer, rel_err

TOL = {np.float32: 1e-5, np.float64: 1e-12}
GENERAL = {"direct": conv2d_direct, "im2col": conv2d_im2col, "fft": conv2d_fft}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(GENERAL))
def test_algorithm_equals_reference(name, dtype, rng, seed):
    for _ in range(4):
        x_shape, w_shape, geo = random_layer(rng)
        x, w, b = arrays(rng, x_shape, w_shape, dtype)
        ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64),
                                       b.astype(np.float64), **geo)
        y = GENERAL[name](x, w, b, **geo)
        assert y.shape == ref.shape and y.dtype == dtype, (seed, x_shape, w_shape, geo)
        assert rel_err(y, ref) < TOL[dtype], (seed, x_shape, w_shape, geo)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_equals_reference(dtype, rng, seed):
    # Sizes up to 10 give odd and even output sizes, so the cropped last tile is exercised.
    for _ in range(4):
        x_shape, w_shape, geo = random_layer(rng, kernel=(3, 3), stride=(1, 1), dilation=(1, 1),
                                             max_size=10)
        x, w, b = arrays(rng, x_shape, w_shape, dtype)
        ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64),
                                       b.astype(np.float64), **geo)
        y = conv2d_winograd(x, w, b, **geo)
        assert y.shape == ref.shape and y.dtype == dtype, (seed, x_shape, geo)
        assert rel_err(y, ref) < TOL[dtype], (seed, x_shape, geo)


@pytest.mark.parametrize("bad, word", [
    ({"stride": 2}, "stride"), ({"dilation": (1, 2)}, "dilation"), ({"kernel": (3, 5)}, "kernel")])
def test_winograd_refuses_other_layers(bad, word):
    r, s = bad.pop("kernel", (3, 3))
    x, w = np.ones((1, 1, 8, 8)), np.ones((1, 1, r, s))
    with pytest.raises(ValueError, match="Winograd.*" + word):
        conv2d_winograd(x, w, **bad)


@pytest.mark.parametrize("name", sorted(set(ALGORITHMS) - {"winograd"}))   # 2x2: no Winograd
def test_lecture_example(name):
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.arange(4.0).reshape(1, 1, 2, 2)
    y = ALGORITHMS[name].forward(x, w)
    np.testing.assert_allclose(y[0, 0], [[19, 25], [37, 43]], atol=1e-12)


def test_winograd_on_a_hand_checked_layer():
    # 4x4 input 0..15, 3x3 kernel of ones: each output is the sum of a 3x3 block.
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = conv2d_winograd(x, np.ones((1, 1, 3, 3)))
    np.testing.assert_allclose(y[0, 0], [[45, 54], [81, 90]], atol=1e-12)


def test_winograd_1d_uses_four_products(rng, seed):
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    (y0, y1), products = winograd.f23(d, g)
    assert len(products) == 4
    np.testing.assert_allclose([y0, y1], np.correlate(d, g, mode="valid"), rtol=1e-12,
                               err_msg=f"seed {seed}")
    # The matrix form gives the same numbers: y = A^T [(G g) * (B^T d)].
    np.testing.assert_allclose(winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d)),
                               [y0, y1], rtol=1e-12, err_msg=f"seed {seed}")


def test_im2col_product_is_the_convolution(rng, seed):
    x_shape, w_shape, geo = random_layer(rng)
    x, w, _ = arrays(rng, x_shape, w_shape)
    ref = reference.conv2d_forward(x, w, **geo)
    cols = im2col_matrix(x[0], w_shape[2:], **geo)
    k, c, r, s = w_shape
    assert cols.shape == (c * r * s, ref.shape[2] * ref.shape[3]), seed
    y0 = (w.reshape(k, -1) @ cols).reshape(ref.shape[1:])
    np.testing.assert_allclose(y0, ref[0], rtol=1e-12, atol=1e-12, err_msg=f"seed {seed}")


def test_im2col_sources_name_the_copied_cells(rng, seed):
    x_shape, w_shape, geo = random_layer(rng)
    x = rng.standard_normal(x_shape)
    g = ConvGeometry.from_shapes(x_shape, w_shape, **geo)
    cols, sources = im2col_matrix(x[0], w_shape[2:], **geo), im2col_sources(g)
    real = sources != PADDING
    np.testing.assert_array_equal(cols[real], x[0].ravel()[sources[real]], err_msg=f"seed {seed}")
    assert not cols[~real].any(), f"padding entries must be zero (seed {seed})"
