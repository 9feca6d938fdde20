"""Timing: warm-up, then repeated calls until both a minimum count and a time budget are met;
the median (and quartiles) summarise them. Host code is timed by the wall clock; GPU code by
events recorded on the stream around each call, read after synchronising."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Budget:
    """How long to measure one implementation of one case."""
    warmup: int = 2
    min_rounds: int = 5
    max_rounds: int = 1000
    seconds: float = 0.5


FULL = Budget()
QUICK = Budget(warmup=1, min_rounds=3, max_rounds=200, seconds=0.08)


class HostClock:
    def sync(self):
        pass

    def start(self):
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        return time.perf_counter() - self._t0


class CupyClock:
    """CUDA events on CuPy's current stream (where metalnet's kernels launch)."""

    def __init__(self):
        import cupy
        self._cupy = cupy
        self._start, self._end = cupy.cuda.Event(), cupy.cuda.Event()

    def sync(self):
        self._cupy.cuda.get_current_stream().synchronize()

    def start(self):
        self._start.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._cupy.cuda.get_elapsed_time(self._start, self._end) / 1e3


class TorchClock:
    """CUDA events on PyTorch's current stream."""

    def __init__(self):
        import torch
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)
        self._sync = torch.cuda.synchronize

    def sync(self):
        self._sync()

    def start(self):
        self._start.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1e3


@dataclass(frozen=True)
class Stats:
    median: float
    q1: float
    q3: float
    best: float
    rounds: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def settle_allocator() -> None:
    """Put the C allocator where a long-running process has it before anything is timed.

    glibc serves blocks above its mmap threshold (128 KiB at start) as fresh mappings, whose
    pages fault in on every call; freeing such a block raises the threshold to its size (up to
    32 MiB). A training script crosses that early, a fresh benchmark process may never: PyTorch's
    LeNet convolution measured 1.5 ms before and 0.4 ms after, its temporaries then reused from
    the heap. One touched and freed 24 MiB block gives every peer the settled state."""
    block = np.ones(24 << 20, dtype=np.uint8)
    del block


# How long NumPy's BLAS threads keep spinning for more work after a call: OpenBLAS's default
# timeout is 2^28 cycles, about 0.1 s.
BLAS_SPIN_S = 0.25


def settle_blas() -> None:
    """Wait until NumPy's BLAS worker threads have gone to sleep. Right after a multithreaded
    NumPy product they spin for more work on every core, and whatever is timed next competes
    with them: PyTorch's 128 x 128 GEMM measured 16 ms instead of 0.03 after the NumPy im2col
    convolutions (512 x 512: 4.1 ms instead of 1.5)."""
    time.sleep(BLAS_SPIN_S)


def measure(fn, clock, budget: Budget = FULL) -> Stats:
    """Seconds per call of ``fn()``: ``budget.warmup`` untimed calls, then at least
    ``min_rounds`` timed ones, more while the time budget lasts."""
    for _ in range(budget.warmup):
        fn()
    clock.sync()  # nothing queued before the first timed call
    times = []
    deadline = time.perf_counter() + budget.seconds
    while len(times) < budget.min_rounds or (time.perf_counter() < deadline
                                             and len(times) < budget.max_rounds):
        clock.start()
        fn()
        times.append(clock.stop())
    return summarise(times)


def summarise(times) -> Stats:
    times = sorted(times)
    if len(times) >= 2:
        q1, _, q3 = statistics.quantiles(times, n=4)
    else:
        q1 = q3 = times[0]
    return Stats(statistics.median(times), q1, q3, times[0], len(times))
