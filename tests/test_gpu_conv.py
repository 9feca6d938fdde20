"""The CUDA implicit-GEMM convolution (cuda/conv2d.cu) beyond test_backends' small random cases:
every tile configuration forced on geometries that cross and miss the tiles, every option
(stride pairs, asymmetric padding, dilation, 1x1, kernels as large as the padded input), the
split backward-weight reduction, the fused bias + ReLU forward (cuda and cupy), empty batches,
CuPy's current stream, the issue's benchmark shapes, and faults that name the kernel. Skipped,
with the reason, where no GPU is usable (the index math is checked on the host by
test_gpu_conv_indexing.py)."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference
from metalnet.backends import _registry

from conftest import assert_close
from test_gpu_kernels import _run_isolated

pytestmark = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(_registry.load("cuda") is None,
                                reason=f"backend 'cuda' unavailable: {_registry.reason('cuda')}")
GPU_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(
        _registry.load(name) is None, reason=f"backend {name!r} unavailable: {_registry.reason(name)}"))
    for name in ("cuda", "cupy")
]

# x shape, w shape, stride, padding, dilation
GEOMETRIES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), 1, 1, 1),
    ((2, 3, 7, 8), (5, 3, 3, 2), (2, 1), (1, 0, 2, 1), 1),
    ((1, 2, 11, 13), (3, 2, 3, 3), (3, 2), (0, 1, 2, 1), (2, 1)),
    ((3, 1, 5, 9), (2, 1, 2, 5), (1, 3), 2, (1, 2)),
    ((2, 4, 6, 6), (6, 4, 1, 1), 2, 0, 1),
    ((1, 2, 13, 7), (3, 2, 5, 3), 1, (2, 2, 1, 1), 2),
    ((2, 5, 4, 4), (7, 5, 6, 6), 1, 1, 1),                 # kernel = padded input: 1x1 output
    ((3, 17, 19, 23), (33, 17, 3, 3), 1, 1, 1),            # rows and columns off the tiles
    ((2, 64, 15, 15), (130, 64, 3, 3), 2, (1, 0, 0, 1), 1),  # M crosses 128
    ((4, 8, 33, 31), (16, 8, 5, 5), (2, 3), 2, (2, 1)),
    ((1, 3, 28, 28), (6, 3, 5, 5), 1, 2, 1),               # LeNet's first layer
]


@pytest.fixture(scope="module")
def cuda_module():
    from metalnet import _cuda
    return _cuda


def _dev(a):
    import cupy
    return cupy.asarray(a)


def _geo(stride, padding, dilation):
    return dict(stride=stride, padding=padding, dilation=dilation)


def _draw(rng, geometry, dtype):
    xs, ws, stride, padding, dilation = geometry
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b, _geo(stride, padding, dilation)


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_forward_backward_every_option(gpu, rng, seed, dtype, geometry):
    x, w, b, geo = _draw(rng, geometry, dtype)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    what = f"{geometry} (seed {seed})"
    ref = reference.conv2d_forward(x64, w64, b64, **geo)
    assert_close(ops.conv2d_forward(_dev(x), _dev(w), _dev(b), **geo), ref, dtype, gpu,
                 what="forward " + what)
    assert_close(ops.conv2d_forward(_dev(x), _dev(w), None, **geo),
                 reference.conv2d_forward(x64, w64, None, **geo), dtype, gpu,
                 what="forward without bias " + what)
    dy = rng.standard_normal(ref.shape).astype(dtype)
    refs = reference.conv2d_backward(dy.astype(np.float64), x64, w64, **geo)
    outs = ops.conv2d_backward(_dev(dy), _dev(x), _dev(w), **geo)
    for label, o, r in zip(("dx", "dw", "db"), outs, refs):
        assert_close(o, r, dtype, gpu, chain=5, what=f"{label} {what}")


@pytest.fixture(params=GPU_BACKENDS)
def gpu(request):
    with metalnet.backend(request.param):
        yield request.param


@needs_cuda
@pytest.mark.parametrize("config", range(3))
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_every_tile_configuration(cuda_module, rng, seed, geometry, config):
    """Each float32 configuration forced, on every pass (the automatic choice only sees some)."""
    import cupy
    from metalnet.backends import _gpu
    x, w, b, geo = _draw(rng, geometry, np.float32)
    geometry_list, (ho, wo) = _gpu.conv_geometry(x.shape, w.shape, **geo)
    n, k = x.shape[0], w.shape[0]
    stream = cupy.cuda.get_current_stream().ptr
    xd, wd, bd = _dev(x), _dev(w), _dev(b)
    what = f"config {config} {geometry} (seed {seed})"
    x64, w64 = x.astype(np.float64), w.astype(np.float64)

    for relu in (False, True):
        y = cupy.full((n, k, ho, wo), np.nan, np.float32)
        cuda_module.conv2d_forward("float32", xd.data.ptr, wd.data.ptr, bd.data.ptr, y.data.ptr,
                                   geometry_list, relu, stream, config)
        ref = reference.conv2d_forward(x64, w64, b.astype(np.float64), **geo)
        assert_close(y, np.maximum(ref, 0) if relu else ref, np.float32, "cuda",
                     what=f"forward relu={relu} " + what)

    dy = rng.standard_normal((n, k, ho, wo)).astype(np.float32)
    dx_ref, dw_ref, _ = reference.conv2d_backward(dy.astype(np.float64), x64, w64, **geo)
    dx = cupy.full(x.shape, np.nan, np.float32)
    cuda_module.conv2d_backward_data("float32", _dev(dy).data.ptr, wd.data.ptr, dx.data.ptr,
                                     geometry_list, stream, config)
    assert_close(dx, dx_ref, np.float32, "cuda", chain=5, what="dx " + what)
    dw = cupy.full(w.shape, np.nan, np.float32)
    cuda_module.conv2d_backward_weight("float32", _dev(dy).data.ptr, xd.data.ptr, dw.data.ptr,
                                       geometry_list, stream, config)
    assert_close(dw, dw_ref, np.float32, "cuda", chain=5, what="dw " + what)
    name = cuda_module.conv2d_config("forward", geometry_list, "float32", config)
    assert name.startswith("conv_fwd_")


@needs_cuda
def test_split_backward_weight(rng, seed):
    """A small dw with a long reduction: the reduction is split across blocks (atomics)."""
    from metalnet.backends import _registry as registry
    cuda = registry.load("cuda")
    xs, ws = (16, 8, 40, 40), (8, 8, 3, 3)
    name = cuda.conv2d_config("backward_weight", xs, ws, padding=1)
    assert "_split" in name, name
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    dy = rng.standard_normal((16, 8, 40, 40)).astype(np.float32)
    with metalnet.backend("cuda"):
        _, dw, db = ops.conv2d_backward(_dev(dy), _dev(x), _dev(w), padding=1)
    _, dw_ref, db_ref = reference.conv2d_backward(dy.astype(np.float64), x.astype(np.float64),
                                                  w.astype(np.float64), padding=1)
    assert_close(dw, dw_ref, np.float32, "cuda", chain=5, what=f"split dw {name} (seed {seed})")
    assert_close(db, db_ref, np.float32, "cuda", chain=5, what=f"db (seed {seed})")


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_fused_bias_relu_forward(gpu, rng, seed, dtype):
    module = _registry.load(gpu)
    for geometry in GEOMETRIES[:6]:
        x, w, b, geo = _draw(rng, geometry, dtype)
        ref = np.maximum(reference.conv2d_forward(*(a.astype(np.float64) for a in (x, w, b)),
                                                  **geo), 0)
        out = module.conv2d_bias_relu_forward(_dev(x), _dev(w), _dev(b), **geo)
        assert_close(out, ref, dtype, gpu, what=f"fused forward {geometry} (seed {seed})")
        assert float((out < 0).sum()) == 0


def test_empty_batch_and_zero_channels(gpu, rng):
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = ops.conv2d_forward(_dev(x), _dev(w), padding=1)
    assert y.shape == (0, 4, 5, 5)
    dx, dw, db = ops.conv2d_backward(_dev(np.zeros((0, 4, 5, 5), np.float32)), _dev(x), _dev(w),
                                     padding=1)
    assert dx.shape == x.shape and float(abs(dw).max()) == 0 and float(abs(db).max()) == 0


def test_runs_on_a_non_blocking_stream(gpu, rng):
    import cupy
    x = rng.standard_normal((4, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    ref = reference.conv2d_forward(x.astype(np.float64), w.astype(np.float64), padding=1)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        y = ops.conv2d_forward(cupy.asarray(x), cupy.asarray(w), padding=1)
        total = y.sum()
    stream.synchronize()
    np.testing.assert_allclose(float(total), ref.sum(), rtol=1e-3, atol=1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [((256, 1, 28, 28), 6, 5, 2), ((8, 3, 224, 224), 64, 3, 1),
                                   ((8, 64, 56, 56), 64, 3, 1), ((8, 256, 14, 14), 256, 3, 1)],
                         ids=("lenet", "first", "res2", "res4"))
def test_benchmark_shapes(gpu, rng, seed, shape):
    """The issue's benchmark layers (batches cut to 8 for the 3x3 ones) against the reference."""
    xs, k, r, pad = shape
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((k, xs[1], r, r)) / np.sqrt(xs[1] * r * r)).astype(np.float32)
    ref = reference.conv2d_forward(x, w, padding=pad)
    assert_close(ops.conv2d_forward(_dev(x), _dev(w), padding=pad), ref, np.float32, gpu,
                 what=f"forward {shape} (seed {seed})")
    dy = rng.standard_normal(ref.shape).astype(np.float32)
    refs = reference.conv2d_backward(dy, x, w, padding=pad)
    outs = ops.conv2d_backward(_dev(dy), _dev(x), _dev(w), padding=pad)
    for label, o, r_ in zip(("dx", "dw", "db"), outs, refs):
        assert_close(o, r_, np.float32, gpu, chain=5, what=f"{label} {shape} (seed {seed})")


@needs_cuda
@pytest.mark.parametrize("call, kernel", [
    ("_cuda.conv2d_forward('float32', BAD, BAD, 0, out.data.ptr, "
     "[8, 64, 64, 64, 64, 3, 3, 64, 64, 1, 1, 1, 1, 1, 1], False, 0)", "conv_fwd_"),
    ("_cuda.conv2d_backward_data('float32', BAD, BAD, out.data.ptr, "
     "[8, 64, 64, 64, 64, 3, 3, 64, 64, 1, 1, 1, 1, 1, 1], 0)", "conv_dgrad_"),
    ("_cuda.conv2d_backward_weight('float32', BAD, BAD, out.data.ptr, "
     "[8, 64, 64, 64, 64, 3, 3, 64, 64, 1, 1, 1, 1, 1, 1], 0)", "conv_wgrad_"),
    ("_cuda.lstm_forward('float32', BAD, BAD, BAD, BAD, BAD, 0, out.data.ptr, out.data.ptr, "
     "out.data.ptr, out.data.ptr, out.data.ptr, [1, 64, 64, 64], 0)", "gemm"),
])
def test_fault_names_the_kernel(call, kernel):
    result = _run_isolated(f"""
        import cupy
        from metalnet import _cuda
        BAD = 0x10
        out = cupy.empty((1 << 24,), cupy.float32)
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
def test_geometry_and_pointer_errors(cuda_module):
    with pytest.raises(ValueError, match="geometry"):
        cuda_module.conv2d_forward("float32", 0x100, 0x100, 0, 0x100, [1, 2, 3], False, 0)
    with pytest.raises(ValueError, match="x is a null device pointer"):
        cuda_module.conv2d_forward("float32", 0, 0x100, 0, 0x100,
                                   [1, 1, 3, 3, 1, 1, 1, 3, 3, 1, 1, 0, 0, 1, 1], False, 0)
    with pytest.raises(ValueError, match="config"):
        cuda_module.conv2d_forward("float64", 0x100, 0x100, 0, 0x100,
                                   [1, 1, 3, 3, 1, 1, 1, 3, 3, 1, 1, 0, 0, 1, 1], False, 0, 1)
