"""Turn a pytest-benchmark JSON report into a Markdown table of rates and ratios.

    python benchmarks/summarize.py results.json > summary.md

Per group (one workload), each implementation's median time, its rate (GFLOP/s from
extra_info.flops or GB/s from extra_info.bytes) and metalnet's speed-up over it.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict


def summarize(report: dict) -> str:
    groups = defaultdict(dict)
    for bench in report["benchmarks"]:
        groups[bench["group"]][bench["extra_info"]["impl"]] = bench
    machine = report["machine_info"].get("metalnet", {})
    lines = [f"# Benchmarks ({report['datetime'][:10]})", "",
             f"Machine: {machine.get('cpu_model')} ({machine.get('logical_cores')} logical cores, "
             f"{machine.get('threads')} threads, ISA {machine.get('isa')}); NumPy "
             f"{machine.get('numpy')}, PyTorch {machine.get('torch')}; "
             f"metalnet {machine.get('version')}.", "",
             "| workload | impl | median ms | rate | metalnet speed-up |", "|---|---|---|---|---|"]
    for group, impls in groups.items():
        ours = impls.get("metalnet")
        for impl, bench in impls.items():
            t = bench["stats"]["median"]
            extra = bench["extra_info"]
            rate = (f"{extra['flops'] / t / 1e9:.1f} GFLOP/s" if "flops" in extra
                    else f"{extra['bytes'] / t / 1e9:.1f} GB/s")
            ratio = f"{t / ours['stats']['median']:.2f}x" if ours and impl != "metalnet" else ""
            lines.append(f"| {group} | {impl} | {t * 1e3:.3f} | {rate} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(summarize(json.load(f)))
