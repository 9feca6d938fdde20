"""GPU-specific checks of the pooling and softmax kernels (test_backends.py already holds every
primitive on `cuda` and `cupy` to the reference on small random cases): ties and NaN in max
pooling, asymmetric padding, overlapping windows, large planes, softmax rows on both sides of
the warp/block switch and of the vector width, extreme logits, and errors that name the kernel.
Skipped, with the reason, where no GPU is usable."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference
from metalnet.backends import _registry

from conftest import assert_close

GPU_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(
        _registry.load(name) is None, reason=f"backend {name!r} unavailable: {_registry.reason(name)}"))
    for name in ("cuda", "cupy")
]
pytestmark = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(_registry.load("cuda") is None,
                                reason=f"backend 'cuda' unavailable: {_registry.reason('cuda')}")


@pytest.fixture(params=GPU_BACKENDS)
def gpu(request):
    with metalnet.backend(request.param):
        yield request.param


def _dev(a):
    import cupy
    return cupy.asarray(a)


# ----------------------------------------------------------------------------------- pooling
POOL_GEOMETRIES = [  # (kernel, stride, padding)
    ((2, 2), None, 0), ((3, 3), 2, 1), ((3, 3), 1, 1), ((3, 2), (2, 1), (1, 0, 0, 1)),
    ((4, 4), (3, 2), (0, 2, 1, 2)), ((1, 1), 1, 0), ((5, 3), (1, 2), (2, 1))]


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("geometry", POOL_GEOMETRIES, ids=str)
def test_max_pool_ties_nan_and_backward(gpu, rng, seed, dtype, geometry):
    kernel, stride, padding = geometry
    # Few distinct values: many ties, which must go to the first cell in window order.
    x = rng.integers(-2, 3, size=(2, 3, 13, 11)).astype(dtype)
    x[0, 1, 4, 5] = np.nan
    y_ref, am_ref = reference.max_pool2d_forward(x, kernel, stride=stride, padding=padding)
    y, am = ops.max_pool2d_forward(_dev(x), kernel, stride=stride, padding=padding)
    np.testing.assert_array_equal(am.get(), am_ref, err_msg=f"argmax {geometry} (seed {seed})")
    np.testing.assert_array_equal(y.get(), y_ref, err_msg=f"max {geometry} (seed {seed})")
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    ref = reference.max_pool2d_backward(dy.astype(np.float64), am_ref, x.shape)
    out = ops.max_pool2d_backward(_dev(dy), am, x.shape)
    assert_close(out, ref, dtype, gpu, what=f"max_pool2d_backward {geometry} (seed {seed})")


@pytest.mark.parametrize("include", (True, False))
@pytest.mark.parametrize("geometry", POOL_GEOMETRIES, ids=str)
def test_avg_pool_forward_backward(gpu, rng, seed, geometry, include):
    kernel, stride, padding = geometry
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((3, 2, 17, 19)).astype(dtype)
        kw = dict(stride=stride, padding=padding, count_include_pad=include)
        ref = reference.avg_pool2d_forward(x.astype(np.float64), kernel, **kw)
        assert_close(ops.avg_pool2d_forward(_dev(x), kernel, **kw), ref, dtype, gpu,
                     what=f"avg_pool2d_forward {geometry} include={include} (seed {seed})")
        dy = rng.standard_normal(ref.shape).astype(dtype)
        ref_dx = reference.avg_pool2d_backward(dy.astype(np.float64), x.shape, kernel, **kw)
        assert_close(ops.avg_pool2d_backward(_dev(dy), x.shape, kernel, **kw), ref_dx, dtype, gpu,
                     what=f"avg_pool2d_backward {geometry} include={include} (seed {seed})")


@pytest.mark.slow
def test_pooling_large_planes(gpu, rng, seed):
    x = rng.standard_normal((4, 64, 112, 112)).astype(np.float32)
    y_ref, am_ref = reference.max_pool2d_forward(x, 3, stride=2, padding=1)
    y, am = ops.max_pool2d_forward(_dev(x), 3, stride=2, padding=1)
    np.testing.assert_array_equal(am.get(), am_ref)
    assert_close(y, y_ref, np.float32, gpu, what=f"max pool 112x112 (seed {seed})")
    ref = reference.avg_pool2d_forward(x, 2)
    assert_close(ops.avg_pool2d_forward(_dev(x), 2), ref, np.float32, gpu, what="avg pool 2x2")


# ----------------------------------------------------------------------------------- softmax
# Both sides of every register-width step of the warp kernel (32 .. 1024 columns), the switch to
# the block kernel (> 1024), odd widths (scalar path) and multiples of 4 (128-bit path).
WIDTHS = (1, 3, 31, 32, 33, 64, 100, 128, 130, 256, 500, 512, 1000, 1024, 1025, 4096, 70001)


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("cols", WIDTHS)
def test_softmax_family_widths(gpu, rng, seed, dtype, cols):
    for rows in (1, 5, 67):
        x = (rng.standard_normal((rows, cols)) * 5).astype(dtype)
        labels = rng.integers(0, cols, rows).astype(np.int64)
        x64 = x.astype(np.float64)
        what = f"({rows}, {cols}) seed {seed}"
        assert_close(ops.softmax(_dev(x)), reference.softmax(x64), dtype, gpu, what="softmax " + what)
        assert_close(ops.log_softmax(_dev(x)), reference.log_softmax(x64), dtype, gpu,
                     what="log_softmax " + what)
        loss, dlogits = ops.softmax_cross_entropy(_dev(x), _dev(labels))
        ref_loss, ref_d = reference.softmax_cross_entropy(x64, labels)
        assert loss.shape == () and loss.dtype == dtype
        assert_close(loss, ref_loss, dtype, gpu, floor_rms=1.0, what="loss " + what)
        assert_close(dlogits, ref_d, dtype, gpu, floor_rms=1.0 / rows, what="dlogits " + what)


def test_softmax_extreme_logits(gpu):
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4], [88.0, 89.0, 90.0]], np.float32)
    out = ops.softmax(_dev(x)).get()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, reference.softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-30)
    wide = np.full((2, 3000), -1e4, np.float32)
    wide[1, 2999] = 1e4
    out = ops.log_softmax(_dev(wide)).get()
    np.testing.assert_allclose(out, reference.log_softmax(wide.astype(np.float64)), rtol=1e-6)


def test_softmax_empty_batch(gpu):
    out = ops.softmax(_dev(np.zeros((0, 7), np.float32)))
    assert out.shape == (0, 7)


def test_softmax_on_a_non_blocking_stream(gpu, rng):
    import cupy
    x = rng.standard_normal((300, 777)).astype(np.float32)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        y = ops.softmax(cupy.asarray(x))
        row_sums = y.sum(axis=1)
    stream.synchronize()
    np.testing.assert_allclose(row_sums.get(), 1.0, rtol=1e-5)


# ------------------------------------------------------------------------------------ errors
def _run_isolated(code: str) -> subprocess.CompletedProcess:
    """A faulting kernel poisons its CUDA context: run it in a fresh interpreter."""
    env = dict(os.environ, METALNET_CUDA_SYNC="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)


@needs_cuda
@pytest.mark.parametrize("call, kernel", [
    ("_cuda.activation_forward('relu', 'float32', BAD, out.data.ptr, 1 << 20, 0.0, 0)",
     "relu_forward"),
    ("_cuda.gemm('float32', BAD, BAD, 0, out.data.ptr, 1024, 1024, 1024, 1.0, 0.0, False, False, 0)",
     "sgemm_"),
    ("_cuda.softmax('float32', BAD, out.data.ptr, 1024, 1024, False, 0)", "softmax"),
    ("_cuda.max_pool2d_forward('float32', BAD, out.data.ptr, out.data.ptr, "
     "[16, 256, 256, 128, 128, 2, 2, 2, 2, 0, 0], 0)", "max_pool2d_forward"),
])
def test_fault_names_the_kernel(call, kernel):
    result = _run_isolated(f"""
        import cupy
        from metalnet import _cuda
        BAD = 0x10  # a non-null address no allocation owns
        out = cupy.empty((1 << 22,), cupy.float32)
        try:
            {call}
            cupy.cuda.runtime.deviceSynchronize()
        except RuntimeError as exc:
            print("ERROR:", exc)
        """)
    assert "ERROR:" in result.stdout, result.stdout + result.stderr
    message = result.stdout.split("ERROR:", 1)[1]
    assert kernel in message and "CUDA error" in message, message


@needs_cuda
def test_null_pointer_is_a_value_error_naming_the_argument():
    from metalnet import _cuda
    with pytest.raises(ValueError, match="x is a null device pointer"):
        _cuda.softmax("float32", 0, 0x100, 4, 4, False, 0)
    with pytest.raises(ValueError, match="argmax"):
        _cuda.max_pool2d_backward("float32", 0x100, 0, 0x100, 1, 4, 4, 0)
