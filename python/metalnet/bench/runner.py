"""Run cases on implementations and collect one result row per (case, implementation)."""
from __future__ import annotations

import numpy as np

from .._backend_choice import backend as force_backend
from . import timing
from .progress import Progress


def _run_one(case, impl, rng, budget):
    """Stats for ``case`` on ``impl``, None when the peer lacks it; exceptions propagate."""
    fn = case.build(impl, rng)
    if fn is None:
        return None
    clock = impl.clock()
    if impl.backend is None:
        return timing.measure(fn, clock, budget)
    with force_backend(impl.backend):  # the named backend, not the default for the device
        return timing.measure(fn, clock, budget)


def _row(case, impl, stats, error):
    row = {"suite": case.suite, "workload": case.name, "impl": impl.name, "device": impl.device,
           "family": impl.family, "runs": impl.runs(case.primitives, case.numpy_label),
           "flops": case.flops, "bytes": case.bytes, "metric": case.metric, "error": error}
    if stats is not None:
        work = case.flops if case.metric == "flops" else case.bytes
        row.update(median_s=stats.median, q1_s=stats.q1, q3_s=stats.q3, best_s=stats.best,
                   rounds=stats.rounds, rate=work / stats.median,
                   flops_per_s=case.flops / stats.median)
    return row


def run(cases, impls, budget=timing.FULL, seed=None, progress=True) -> list[dict]:
    """Every case on every implementation. Each implementation gets freshly drawn inputs, from
    one seed per case, so the peers of a workload compute on the same values."""
    seeds = np.random.SeedSequence(seed).spawn(len(cases))
    timing.settle_allocator()
    bar = Progress(len(cases) * len(impls), enabled=progress)
    rows = []
    try:
        for case, case_seed in zip(cases, seeds):
            for impl in impls:
                bar.show(f"{case.name} | {impl.name}")
                try:
                    rng = np.random.default_rng(case_seed)
                    stats, error = _run_one(case, impl, rng, budget), None
                except Exception as exc:  # one failing peer must not sink the whole report
                    stats, error = None, f"{type(exc).__name__}: {exc}"
                bar.advance()
                if impl.family == "numpy":  # its BLAS threads would spin into the next timing
                    timing.settle_blas()
                if stats is not None or error is not None:
                    rows.append(_row(case, impl, stats, error))
    finally:
        bar.close()
    return rows


def add_ratios(rows) -> None:
    """row['speedup'][peer] = peer's median / this row's median, against every other row of the same
    workload, on either device (> 1: this row is faster)."""
    for row in rows:
        if "median_s" not in row:
            continue
        row["speedup"] = {
            peer["impl"]: peer["median_s"] / row["median_s"] for peer in rows
            if peer is not row and peer["workload"] == row["workload"] and "median_s" in peer}


def add_ceiling_fractions(rows, ceilings) -> None:
    """row['of_ceiling']: the rate over its device's compute (GFLOP/s rows) or copy-bandwidth
    (GB/s rows) ceiling."""
    for row in rows:
        if "rate" not in row or row["device"] not in ceilings:
            continue
        c = ceilings[row["device"]]
        if row["metric"] == "flops":
            peak = c["compute"]["flops_per_s"]
        else:
            peak = c["memory"]["bytes_per_s"]
        row["of_ceiling"] = row["rate"] / peak
