"""The C++ softmax family on every ISA path: wide and narrow rows, extreme logits, threads."""
from __future__ import annotations

import numpy as np
import pytest

import metalnet
from metalnet import ops, reference

from conftest import assert_close

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")



@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("n, c", [(1, 1), (3, 2), (17, 10), (256, 1000), (2, 70001), (4096, 3)])
def test_softmax_family_matches_reference(n, c, dtype, isa, rng):
    x = (rng.standard_normal((n, c)) * 5).astype(dtype)
    x[0, 0] = 80 if dtype == np.float32 else 700  # exp(x) alone would overflow
    labels = rng.integers(0, c, n).astype(np.int64)
    x64 = x.astype(np.float64)
    with metalnet.backend("cpu"):
        assert_close(ops.softmax(x), reference.softmax(x64), dtype, "cpu", what=f"softmax[{isa}]")
        assert_close(ops.log_softmax(x), reference.log_softmax(x64), dtype, "cpu",
                     what=f"log_softmax[{isa}]")
        loss, dlogits = ops.softmax_cross_entropy(x, labels)
    loss_ref, dlogits_ref = reference.softmax_cross_entropy(x64, labels)
    assert loss.dtype == dtype
    assert_close(np.asarray(loss), loss_ref, dtype, "cpu", what="loss", floor_rms=1.0)
    assert_close(dlogits, dlogits_ref, dtype, "cpu", what="dlogits", floor_rms=1.0 / n)


def test_loss_is_thread_count_independent(rng):
    x = rng.standard_normal((4096, 100)).astype(np.float32)
    labels = rng.integers(0, 100, 4096).astype(np.int64)
    before = metalnet.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            metalnet.set_num_threads(n)
            with metalnet.backend("cpu"):
                results.append(ops.softmax_cross_entropy(x, labels))
    finally:
        metalnet.set_num_threads(before)
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
