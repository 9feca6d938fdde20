"""PNG figures of a report: bars per shape for each suite, and a roofline per device with the
achieved points. Needs matplotlib (the 'viz' extra); without it, no figures and a note why."""
from __future__ import annotations

import os


_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def available() -> tuple[bool, str | None]:
    try:
        import matplotlib  # noqa: F401
    except Exception as exc:
        return False, f"matplotlib is not installed ({type(exc).__name__}); pip install matplotlib"
    return True, None


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    return plt


def _ok(rows):
    return [r for r in rows if "rate" in r]


def bars(rows, suite: str, path: str) -> str:
    """Grouped bars: one group per workload, one bar per implementation, height = rate."""
    plt = _pyplot()
    rows = [r for r in _ok(rows) if r["suite"] == suite]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    names = list(dict.fromkeys(r["impl"] for r in rows))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(workloads) + 2), 4.5))
    for i, name in enumerate(names):
        xs, hs = [], []
        for j, w in enumerate(workloads):
            hit = [r for r in rows if r["workload"] == w and r["impl"] == name]
            if hit:
                xs.append(j + (i - (len(names) - 1) / 2) * width)
                hs.append(hit[0]["rate"] / 1e9)
        runs = next(r["runs"] for r in rows if r["impl"] == name)
        ax.bar(xs, hs, width, label=f"{name} ({runs})")  # say when metalnet runs NumPy code
    unit = "GFLOP/s" if rows and rows[0]["metric"] == "flops" else "GB/s"
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(unit)
    ax.set_title(f"metalnet bench: {suite} (median rate, higher is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roofline(rows, ceilings, device: str, path: str) -> str:
    """Attainable GFLOP/s = min(compute ceiling, copy bandwidth x intensity), with every case
    placed at its nominal intensity (flops / compulsory bytes) and achieved GFLOP/s."""
    plt = _pyplot()
    rows = [r for r in _ok(rows) if r["device"] == device and r["bytes"] > 0 and r["flops"] > 0]
    peak = ceilings[device]["compute"]["flops_per_s"] / 1e9
    bw = ceilings[device]["memory"]["bytes_per_s"] / 1e9
    intensities = [r["flops"] / r["bytes"] for r in rows] or [1.0]
    lo, hi = min(intensities + [peak / bw]) / 4, max(intensities + [peak / bw]) * 4
    fig, ax = plt.subplots(figsize=(7, 5))
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(xs, [min(peak, bw * x) for x in xs], "k-", lw=1.5,
            label=f"ceilings: {peak:.0f} GFLOP/s, {bw:.1f} GB/s")
    colors = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(r["impl"] for r in rows))}
    markers = {s: _MARKERS[i % len(_MARKERS)]
               for i, s in enumerate(dict.fromkeys(r["suite"] for r in rows))}
    for r in rows:  # colour: implementation; marker: suite
        ax.scatter(r["flops"] / r["bytes"], r["flops_per_s"] / 1e9, s=26, alpha=0.85,
                   color=colors[r["impl"]], marker=markers[r["suite"]])
    for name, color in colors.items():
        ax.scatter([], [], color=color, marker="o", label=name)
    for suite, marker in markers.items():
        ax.scatter([], [], color="grey", marker=marker, label=suite)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flop / byte, compulsory traffic)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(f"metalnet bench roofline: {device}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(doc: dict, directory: str) -> list[str]:
    """Every figure of ``doc`` into ``directory``; the paths written."""
    paths = []
    rows = doc["results"]
    for suite in dict.fromkeys(r["suite"] for r in _ok(rows)):
        paths.append(bars(rows, suite, os.path.join(directory, f"bench-{suite}.png")))
    for device in doc["ceilings"]:
        if any(r["device"] == device for r in _ok(rows)):
            paths.append(roofline(rows, doc["ceilings"], device,
                                  os.path.join(directory, f"roofline-{device}.png")))
    return paths
