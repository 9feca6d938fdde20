"""The C++ activation kernels on every instruction-set path and thread count.

test_backends.py covers all backends on random inputs; this file pins down what is specific to
the native kernels: each ISA variant (AVX-512, AVX2, generic), the threaded path, identical
results with 1 and 2 threads, extreme and special values, and the GIL being released.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference

from conftest import assert_close

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")

FORWARD = ("relu", "leaky_relu", "sigmoid", "tanh")



@pytest.fixture
def threads():
    before = metalnet.get_num_threads()
    yield
    metalnet.set_num_threads(before)


def _saved(name, x, rng):
    """What each backward takes: the input for relu-like, the output for sigmoid/tanh (kept off
    the saturated ends, where 1 - y*y cancels and a comparison would measure only that)."""
    if "relu" in name:
        return x
    low = 0.05 if name == "sigmoid" else -0.9
    return rng.uniform(low, 0.9 if name == "tanh" else 0.95, x.shape).astype(x.dtype)


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("n", (0, 1, 15, 16, 17, 1023, 100_003, 1_000_003))
@pytest.mark.parametrize("name", FORWARD)
def test_every_isa_matches_reference(name, n, dtype, isa, rng):
    # Offsets of 0..3 elements exercise unaligned starts and every remainder length.
    x = (rng.standard_normal(n + 3) * 6).astype(dtype)[n % 4: n % 4 + n]
    x = np.ascontiguousarray(x)
    with metalnet.backend("cpu"):
        y = getattr(ops, f"{name}_forward")(x)
        assert_close(y, getattr(reference, f"{name}_forward")(x.astype(np.float64)), dtype, "cpu",
                     what=f"{name}_forward[{isa}]")
        dy = rng.standard_normal(n).astype(dtype)
        saved = _saved(name, x, rng)
        dx = getattr(ops, f"{name}_backward")(dy, saved)
        ref = getattr(reference, f"{name}_backward")(dy.astype(np.float64), saved.astype(np.float64))
        assert_close(dx, ref, dtype, "cpu", what=f"{name}_backward[{isa}]")


@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
def test_special_values(dtype, isa):
    big = np.finfo(dtype).max
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 20.0, -20.0, 88.0, -88.0, 100.0, -100.0,
                  750.0, -750.0, big, -big, np.inf, -np.inf], dtype=dtype)
    with metalnet.backend("cpu"):
        sig, tanh, relu = ops.sigmoid_forward(x), ops.tanh_forward(x), ops.relu_forward(x)
    x64 = x.astype(np.float64)
    eps, subnormal = np.finfo(dtype).eps, np.finfo(dtype).smallest_subnormal
    with np.errstate(over="ignore"):  # a subnormal result has few bits: allow two of its steps
        np.testing.assert_allclose(sig, reference.sigmoid_forward(x64), rtol=4 * eps, atol=2 * subnormal)
        np.testing.assert_allclose(tanh, np.tanh(x64), rtol=4 * eps, atol=0)
    np.testing.assert_array_equal(relu, np.where(x < 0, 0, x))
    nan = np.full(5, np.nan, dtype=dtype)
    with metalnet.backend("cpu"):
        for name in FORWARD:
            assert np.isnan(getattr(ops, f"{name}_forward")(nan)).all(), f"{name} must propagate NaN"


@pytest.mark.parametrize("name", FORWARD)
def test_one_and_two_threads_agree_bitwise(name, threads, rng):
    x = rng.standard_normal(1_000_003).astype(np.float32)
    with metalnet.backend("cpu"):
        metalnet.set_num_threads(1)
        one = getattr(ops, f"{name}_forward")(x)
        metalnet.set_num_threads(2)
        two = getattr(ops, f"{name}_forward")(x)
    np.testing.assert_array_equal(one, two)


def test_gil_is_released_two_python_threads(rng):
    """Two Python threads running kernels at once both get correct results."""
    xs = [rng.standard_normal(2_000_000).astype(np.float32) for _ in range(2)]
    results, errors = [None, None], []

    def work(i):
        try:
            with metalnet.backend("cpu"):
                for _ in range(5):
                    results[i] = ops.tanh_forward(xs[i])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors
    for x, y in zip(xs, results):
        assert_close(y, np.tanh(x.astype(np.float64)), np.float32, "cpu")


def test_isa_names_and_bad_isa():
    assert cpu.best_isa() in ("avx512", "avx2", "generic")
    with pytest.raises(ValueError, match="name must be one of"):
        metalnet.set_cpu_isa("sse9")


def test_bad_thread_count():
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        metalnet.set_num_threads(0)


def test_binding_rejects_a_mismatched_output():
    """The binding's own checks: ops is bypassed here on purpose."""
    x = np.zeros(8, np.float32)
    with pytest.raises(TypeError, match="out must have the dtype of x"):
        cpu.relu_forward(x, np.zeros(8, np.float64))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        cpu.relu_forward(x, np.zeros(16, np.float32)[::2])
    with pytest.raises(ValueError, match="as many elements"):
        cpu.relu_forward(x, np.zeros(7, np.float32))
    ro = np.zeros(8, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        cpu.relu_forward(x, ro)
