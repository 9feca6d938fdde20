"""The C++ GEMM on every ISA path: odd and block-crossing shapes, transposes, alpha/beta, both
dtypes, 1 vs 2 threads, concurrent Python threads (test_backends.py adds random small cases)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import metalnet
from metalnet import ops

from conftest import assert_close

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")

# Sizes around the register tiles (4, 6, 12 rows or 2, 4, 8 for the wide tile; 8..48 columns) and the cache blocks
# (KC = 256, MC = 240, NC = 256/512): one less, equal, one more, primes.
SHAPES = [(1, 1, 1), (0, 5, 3), (5, 0, 3), (4, 6, 0), (1, 97, 1), (13, 1, 31), (12, 32, 256),
          (13, 33, 257), (11, 31, 255), (241, 17, 7), (24, 513, 19), (5, 7, 600), (97, 263, 129),
          (6, 25, 3001), (17, 29, 600),  # small C, long k: the dot-product path (when NT)
          (64, 200, 70), (8, 48, 9), (16, 95, 300)]  # M a multiple of 8 or 4: the wide tile



def _operands(rng, m, n, k, trans_a, trans_b, dtype):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _expected(a, b, c, alpha, beta, trans_a, trans_b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    out = alpha * ((a64.T if trans_a else a64) @ (b64.T if trans_b else b64))
    return out + beta * c.astype(np.float64) if c is not None else out


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("trans", [(False, False), (True, False), (False, True), (True, True)],
                         ids=("NN", "TN", "NT", "TT"))
@pytest.mark.parametrize("m, n, k", SHAPES)
def test_gemm_matches_float64(m, n, k, trans, dtype, isa, rng):
    a, b = _operands(rng, m, n, k, *trans, dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    for alpha, beta, cc in ((1.0, 0.0, None), (-0.5, 1.0, c), (2.0, 0.25, c), (1.0, 0.0, c)):
        with metalnet.backend("cpu"):
            out = ops.gemm(a, b, cc, alpha=alpha, beta=beta, trans_a=trans[0], trans_b=trans[1])
        ref = _expected(a, b, cc, alpha, beta if cc is not None else 0.0, *trans)
        # alpha*AB + beta*C can cancel to ~0 in one element; its natural size is >= 1.
        assert_close(out, ref, dtype, "cpu", floor_rms=1.0,
                     what=f"gemm[{isa}] {m}x{n}x{k} {trans} a={alpha} b={beta}")
    np.testing.assert_array_equal(c, c.copy())  # c is read, never written


def test_beta_zero_never_reads_c(rng):
    """BLAS rule: with beta == 0 a NaN in c does not reach the result."""
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    c = np.full((7, 3), np.nan)
    with metalnet.backend("cpu"):
        out = ops.gemm(a, b, c, beta=0.0)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("m, n, k", [(300, 700, 520), (1000, 64, 300), (64, 1000, 300)])
def test_one_and_two_threads_agree_bitwise(m, n, k, rng):
    a, b = _operands(rng, m, n, k, False, False, np.float32)
    before = metalnet.get_num_threads()
    try:
        with metalnet.backend("cpu"):
            metalnet.set_num_threads(1)
            one = ops.gemm(a, b)
            metalnet.set_num_threads(2)
            two = ops.gemm(a, b)
    finally:
        metalnet.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    assert_close(two, a.astype(np.float64) @ b, np.float32, "cpu")


def test_two_python_threads_at_once(rng):
    """The GIL is released and pack buffers are per thread: concurrent calls stay correct."""
    pairs = [_operands(rng, 257, 263, 300, False, t, np.float32) for t in (False, True)]
    results, errors = [None, None], []

    def work(i):
        try:
            with metalnet.backend("cpu"):
                for _ in range(10):
                    results[i] = ops.gemm(*pairs[i], trans_b=bool(i))
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    [t.start() for t in workers]
    [t.join() for t in workers]
    assert not errors, errors
    for i, (a, b) in enumerate(pairs):
        assert_close(results[i], _expected(a, b, None, 1.0, 0.0, False, bool(i)), np.float32, "cpu")
