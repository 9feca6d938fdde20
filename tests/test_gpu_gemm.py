"""The CUDA GEMM (metalnet._cuda) beyond test_backends' small random cases: sizes that cross and
miss the tiles of every SGEMM configuration, every transpose, alpha/beta (and beta = 0 not
reading c), the 128-bit and the scalar load paths, K = 0, float64, large squares, and CuPy's
current stream. Skipped, with the reason, where no GPU is usable."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops
from metalnet.backends import _registry

from conftest import assert_close

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(_registry.load("cuda") is None,
                       reason=f"backend 'cuda' unavailable: {_registry.reason('cuda')}"),
]

TRANSPOSES = [(False, False), (False, True), (True, False), (True, True)]
# Around the tiles (128x128 step 8, 128x64 step 16, 64x64 step 16): one less, equal, one more,
# primes, thin shapes, K = 0 and empty outputs.
SHAPES = [(1, 1, 1), (0, 5, 3), (5, 0, 3), (7, 9, 0), (63, 65, 15), (64, 64, 16), (65, 63, 17),
          (127, 129, 7), (128, 128, 8), (129, 127, 9), (1, 257, 33), (257, 1, 33),
          (131, 67, 251), (256, 192, 40)]


@pytest.fixture(scope="module")
def cp():
    import cupy
    return cupy


@pytest.fixture(scope="module")
def cuda_module():
    from metalnet import _cuda
    return _cuda


def _operands(rng, m, n, k, trans_a, trans_b, dtype):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    return a, b, c


def _expected(a, b, c, alpha, beta, trans_a, trans_b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    out = alpha * ((a64.T if trans_a else a64) @ (b64.T if trans_b else b64))
    return out + beta * c.astype(np.float64) if beta != 0 else out


def _misaligned(cp, host):
    """A C-contiguous device copy of ``host`` starting 4 bytes past a 16-byte boundary."""
    buf = cp.empty(host.size + 1, dtype=host.dtype)
    view = buf[1:].reshape(host.shape)
    view[...] = cp.asarray(host)
    assert view.flags.c_contiguous and (host.size == 0 or view.data.ptr % 16 != 0)
    return view


def _run(cp, cuda_module, a, b, c, out_shape, alpha, beta, trans_a, trans_b, config, dtype):
    m, n = out_shape
    k = a.shape[0] if trans_a else a.shape[1]
    out = cp.full(out_shape, cp.nan, dtype=dtype)
    cuda_module.gemm(np.dtype(dtype).name, a.data.ptr, b.data.ptr, 0 if c is None else c.data.ptr,
                     out.data.ptr, m, n, k, alpha, beta, trans_a, trans_b,
                     cp.cuda.get_current_stream().ptr, config)
    return out


@pytest.mark.parametrize("config", range(3), ids=("128x128", "128x64", "64x64"))
@pytest.mark.parametrize("trans", TRANSPOSES, ids=("nn", "nt", "tn", "tt"))
@pytest.mark.parametrize("aligned", (True, False), ids=("vec", "scalar"))
def test_every_sgemm_configuration(cp, cuda_module, rng, seed, config, trans, aligned):
    trans_a, trans_b = trans
    for m, n, k in SHAPES + [(132, 68, 64), (256, 256, 32)]:  # multiples of 4: the vector path
        a, b, c = _operands(rng, m, n, k, trans_a, trans_b, np.float32)
        alpha, beta = 0.75, -1.5
        move = cp.asarray if aligned else (lambda h: _misaligned(cp, h))
        out = _run(cp, cuda_module, move(a), move(b), move(c), (m, n), alpha, beta, trans_a,
                   trans_b, config, np.float32)
        assert_close(out, _expected(a, b, c, alpha, beta, trans_a, trans_b), np.float32, "cuda",
                     what=f"sgemm config {config} {m}x{n}x{k} trans={trans} aligned={aligned} "
                          f"(seed {seed})")


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("trans", TRANSPOSES, ids=("nn", "nt", "tn", "tt"))
def test_gemm_through_ops(rng, seed, dtype, trans):
    import cupy
    trans_a, trans_b = trans
    for m, n, k in SHAPES:
        a, b, c = _operands(rng, m, n, k, trans_a, trans_b, dtype)
        for alpha, beta, use_c in ((1.0, 0.0, False), (2.0, 1.0, True), (-0.5, 0.3, True)):
            out = ops.gemm(cupy.asarray(a), cupy.asarray(b), cupy.asarray(c) if use_c else None,
                           alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
            ref = _expected(a, b, c, alpha, beta if use_c else 0.0, trans_a, trans_b)
            assert_close(out, ref, dtype, "cuda",
                         what=f"gemm {m}x{n}x{k} {trans} alpha={alpha} beta={beta} (seed {seed})")


def test_beta_zero_does_not_read_c(rng):
    import cupy
    a, b = rng.standard_normal((33, 17)), rng.standard_normal((17, 45))
    for dtype in (np.float32, np.float64):
        c = cupy.full((33, 45), cupy.nan, dtype=dtype)
        out = ops.gemm(cupy.asarray(a.astype(dtype)), cupy.asarray(b.astype(dtype)), c, beta=0.0)
        assert bool(cupy.isfinite(out).all()), f"NaN in c leaked through beta = 0 ({dtype})"


def test_k_zero_gives_beta_c(rng):
    import cupy
    c = rng.standard_normal((70, 130)).astype(np.float32)
    out = ops.gemm(cupy.zeros((70, 0), np.float32), cupy.zeros((0, 130), np.float32),
                   cupy.asarray(c), alpha=3.0, beta=0.5)
    np.testing.assert_allclose(out.get(), 0.5 * c, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("n", (1024, 2048))
def test_large_square_sgemm(rng, seed, n):
    import cupy
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = ops.gemm(cupy.asarray(a), cupy.asarray(b))
    ref = a.astype(np.float64) @ b.astype(np.float64)
    # float32 accumulation over K terms: the error grows like sqrt(K).
    assert_close(out, ref, np.float32, "cuda", chain=max(1.0, np.sqrt(n / 256)),
                 what=f"sgemm {n}^3 (seed {seed})")


def test_runs_on_cupys_current_stream(rng):
    """Launched on a non-blocking stream, the result is complete once that stream is."""
    import cupy
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 500)).astype(np.float32)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        da, db = cupy.asarray(a), cupy.asarray(b)
        out = ops.gemm(da, db)
        total = out.sum()          # same stream: ordered after the kernel
    stream.synchronize()
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert_close(out, ref, np.float32, "cuda", what="gemm on a non-blocking stream")
    assert abs(float(total) - ref.sum()) <= 1e-3 * np.abs(ref).sum()


def test_configuration_names(cuda_module):
    assert cuda_module.sgemm_configs == 3
    big = cuda_module.sgemm_config(8192, 8192, 8192, True)
    assert big == "sgemm_128x128x8_vec"
    assert cuda_module.sgemm_config(8, 8, 8, False) == "sgemm_64x64x16"


def test_binding_rejects_bad_arguments(cuda_module):
    with pytest.raises(ValueError, match="out"):
        cuda_module.gemm("float32", 16, 16, 0, 0, 2, 2, 2, 1.0, 0.0, False, False, 0)
    with pytest.raises(TypeError, match="dtype"):
        cuda_module.gemm("float16", 16, 16, 0, 16, 2, 2, 2, 1.0, 0.0, False, False, 0)
    with pytest.raises(ValueError, match="config"):
        cuda_module.gemm("float32", 16, 16, 0, 16, 2, 2, 2, 1.0, 0.0, False, False, 0, 7)
