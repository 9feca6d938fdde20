"""Output allocation: the host pool reuses freed blocks, poisoning fills outputs with NaN."""
from __future__ import annotations

import gc

import numpy as np
import pytest

from metalnet import _memory

cpu = pytest.importorskip("metalnet._cpu", reason="the C++ extension is not built")

BIG = (1024, 1024)  # 4 MiB of float32: above POOL_MIN_BYTES


def test_large_outputs_come_from_the_pool_and_go_back():
    limit = cpu.pool_limit()
    cpu.set_pool_limit(0)  # start empty, so the only cached block is the one freed below
    cpu.set_pool_limit(limit)
    a = _memory.empty(BIG, np.float32)
    assert a.shape == BIG and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % 64 == 0
    address = a.ctypes.data
    cached_before = cpu.pool_cached()
    del a
    gc.collect()
    assert cpu.pool_cached() >= cached_before + 4 * 2**20  # the block went back
    b = _memory.empty(BIG, np.float32)
    assert b.ctypes.data == address  # and is handed out again


def test_views_keep_the_block_alive():
    a = _memory.empty(BIG, np.float64)
    a[...] = 7.0
    view = a[3:5]
    del a
    gc.collect()
    other = _memory.empty(BIG, np.float64)  # must not reuse the block `view` still holds
    other[...] = -1.0
    assert (view == 7.0).all()


def test_small_outputs_use_numpy():
    a = _memory.empty((3, 5), np.float64)
    assert a.base is None


def test_pool_limit_zero_disables_caching():
    limit = cpu.pool_limit()
    try:
        cpu.set_pool_limit(0)
        a = _memory.empty(BIG, np.float32)
        del a
        gc.collect()
        assert cpu.pool_cached() == 0
    finally:
        cpu.set_pool_limit(limit)


@pytest.mark.parametrize("dtype", (np.float32, np.float64, np.int64))
def test_poisoning_fills_every_element(dtype):
    with _memory.poisoning():
        for shape in ((7,), BIG):
            a = _memory.empty(shape, dtype)
            if np.dtype(dtype).kind == "f":
                assert np.isnan(a).all()
            else:
                assert (a == np.iinfo(dtype).max).all()
