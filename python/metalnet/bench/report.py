"""The report: the machine's description, a Markdown table and the JSON document."""
from __future__ import annotations

import datetime
import json
import os
import platform

import numpy as np

from .. import info as metalnet_info
from . import impls

FAMILY_ORDER = {"metalnet": 0, "numpy": 1, "torch": 2}


def machine() -> dict:
    """CPU model, ISA, threads, GPU names and library versions."""
    data = metalnet_info()
    torch = impls.load_torch()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu_model": data["cpu"]["model"], "logical_cores": data["cpu"]["logical_cores"],
        "isa": data["cpu"]["active_isa"], "threads": data["cpu"]["threads"],
        "gpus": [d["name"] for d in data["cuda"]["devices"]],
        "gpu_reason": data["cuda"]["reason"],
        "metalnet": data["version"], "python": data["python"], "numpy": np.__version__,
        "torch": torch.__version__ if torch else None,
        "torch_cuda": impls.torch_cuda(), "cupy": data["cupy"]["version"],
        "platform": platform.platform(),
        # Other work on the machine skews every number: keep the load next to them.
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "backends": {n: b["available"] for n, b in data["backends"].items()},
        "implementations": data["primitives"],
    }


def _load(m) -> str:
    load = m.get("load_average")
    return f" Load average at the start: {load[0]:.2f}." if load else ""


def _rate(row) -> str:
    if "rate" not in row:
        return "-"
    return f"{row['rate'] / 1e9:.1f} {'GFLOP/s' if row['metric'] == 'flops' else 'GB/s'}"


def _speedups(row) -> str:
    """metalnet rows: speed-up over each peer; other rows leave the comparison to metalnet's."""
    if row["family"] != "metalnet" or not row.get("speedup"):
        return ""
    return ", ".join(f"{x:.2f}x {peer}" for peer, x in row["speedup"].items())


def _ceilings_lines(ceilings) -> list[str]:
    lines = []
    for device, c in ceilings.items():
        lines.append(f"- {device} compute ceiling: {c['compute']['flops_per_s'] / 1e9:.1f} "
                     f"GFLOP/s ({c['compute']['method']})")
        lines.append(f"- {device} memory ceiling: {c['memory']['bytes_per_s'] / 1e9:.1f} GB/s "
                     f"({c['memory']['method']})")
    return lines


def markdown(doc: dict) -> str:
    m = doc["machine"]
    gpus = ", ".join(m["gpus"]) or (f"none ({m['gpu_reason']})" if m["gpu_reason"] else "none")
    lines = [f"# metalnet bench ({m['date'][:10]}{', quick' if doc['quick'] else ''})", "",
             f"Machine: {m['cpu_model']} ({m['logical_cores']} logical cores, {m['threads']} "
             f"threads, ISA {m['isa']}); GPU: {gpus}. metalnet {m['metalnet']}, NumPy "
             f"{m['numpy']}, PyTorch {m['torch'] or 'not installed'}, CuPy "
             f"{m['cupy'] or 'not installed'}.{_load(m)}", "",
             "Ceilings (the '% ceiling' column: GFLOP/s rows against compute, GB/s rows "
             "against memory):"]
    lines += _ceilings_lines(doc["ceilings"]) + [""]
    lines += ["| workload | impl | runs | median ms | rate | % ceiling | metalnet speed-up |",
              "|---|---|---|---|---|---|---|"]
    for row in doc["results"]:
        if row["error"]:
            lines.append(f"| {row['workload']} | {row['impl']} | {row['runs']} | failed: "
                         f"{row['error'][:80]} | | | |")
            continue
        share = f"{100 * row['of_ceiling']:.0f}%" if "of_ceiling" in row else "-"
        lines.append(f"| {row['workload']} | {row['impl']} | {row['runs']} | "
                     f"{row['median_s'] * 1e3:.3f} | {_rate(row)} | {share} | {_speedups(row)} |")
    lines += ["", "Medians over repeated calls after warm-up; host rows by wall clock, GPU rows "
              "by CUDA events after synchronising. 'runs' says what executes: NumPy in a "
              "metalnet row means that primitive has no native kernel on that backend yet."]
    return "\n".join(lines)


def document(machine_info, rows, ceilings, *, suites, devices, implementations, quick, budget,
             seconds) -> dict:
    """The JSON report: machine, settings, ceilings and one row per (workload, impl)."""
    return {"machine": machine_info, "suites": suites, "devices": devices,
            "implementations": implementations, "quick": quick, "seconds": seconds,
            "budget": {"warmup": budget.warmup, "min_rounds": budget.min_rounds,
                       "max_rounds": budget.max_rounds, "seconds": budget.seconds},
            "ceilings": ceilings, "results": rows}


def write_json(doc: dict, path) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
