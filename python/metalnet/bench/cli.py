"""``metalnet bench``: every available implementation side by side, with a Markdown table on
stdout, a JSON report and PNG figures.

    metalnet bench                      # every suite on every device with an implementation
    metalnet bench gemm conv --quick    # a short run of two suites
    metalnet bench all --device cpu --out results/
"""
from __future__ import annotations

import os
import sys
import time

from . import SUITE_NAMES

DEFAULT_OUT = "metalnet-bench"


def _fail(message: str) -> int:
    print(f"metalnet bench: error: {message}", file=sys.stderr)
    return 2


def _bench(args) -> int:
    from . import impls, report, suites

    try:
        devices = impls.parse_devices(args.device)
        cases = suites.cases(args.suites or ["all"], args.quick)
    except ValueError as exc:
        return _fail(str(exc))
    doc = _measure(args, devices, cases)
    print(report.markdown(doc))
    os.makedirs(args.out, exist_ok=True)
    written = _write_files(doc, args)
    print(f"\nmeasured in {doc['seconds']:.1f} s; written: " + ", ".join(written),
          file=sys.stderr)
    return 1 if any(r["error"] for r in doc["results"]) else 0


def _measure(args, devices, cases) -> dict:
    """Run the cases on every implementation of ``devices``, probe the ceilings, and return
    the report's document."""
    import numpy as np

    from . import ceilings, impls, report, runner, timing

    t0 = time.perf_counter()
    started = report.machine()  # before the run, so the load average is the one it met
    peers = [impl for d in devices for impl in impls.for_device(d)]
    budget = timing.QUICK if args.quick else timing.FULL
    rows = runner.run(cases, peers, budget, seed=args.seed, progress=not args.no_progress)
    measured = ceilings.measure_ceilings(devices, args.quick, np.random.default_rng(args.seed))
    runner.add_ratios(rows)
    runner.add_ceiling_fractions(rows, measured)
    suites = sorted({c.suite for c in cases}, key=SUITE_NAMES.index)
    return report.document(started, rows, measured, suites=suites, devices=devices,
                           implementations=[i.name for i in peers], quick=args.quick, budget=budget,
                           seconds=time.perf_counter() - t0)


def _write_files(doc, args) -> list[str]:
    from . import plots, report

    json_path = os.path.join(args.out, "bench.json")
    figures = []
    if not args.no_plots:
        ok, why = plots.available()
        if ok:
            figures = plots.write_all(doc, args.out)
        else:
            print(f"metalnet bench: no figures: {why}", file=sys.stderr)
    doc["figures"] = figures
    report.write_json(doc, json_path)
    return [json_path] + figures


def add_parser(sub) -> None:
    """Add the ``bench`` command to the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "bench", help="time every available implementation side by side",
        description="Time metalnet's backends against NumPy and PyTorch (and the GPU when one "
        "is usable) on the course's shapes: a Markdown table on stdout, JSON and PNG figures "
        "in --out.")
    # Validated by suites.cases (argparse's choices reject an empty '*' list).
    p.add_argument("suites", nargs="*", metavar="SUITE",
                   help=f"one or more of {', '.join(SUITE_NAMES)} or all (default all)")
    p.add_argument("--device", metavar="LIST",
                   help="comma-separated devices: cpu, cuda (default: every device with an "
                   "implementation here)")
    p.add_argument("--quick", action="store_true",
                   help="fewer, smaller shapes and shorter timings (under a minute)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"directory for bench.json and the PNG figures (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=None, help="seed of the random inputs")
    p.add_argument("--no-plots", action="store_true", help="write no PNG figures")
    p.add_argument("--no-progress", action="store_true", help="draw no progress bar")
    p.set_defaults(func=_bench)
