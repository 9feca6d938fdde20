"""The suites of ``metalnet bench``: each module's ``cases(quick)`` lists its ``Case``s, built
from the shared workload list in ``metalnet.bench.workloads``."""
from __future__ import annotations

from . import act, conv, gemm, lstm, pool, train

SUITES = {"gemm": gemm, "conv": conv, "pool": pool, "act": act, "lstm": lstm, "train": train}


def cases(names, quick: bool) -> list:
    """The cases of the named suites ('all' = every suite), in the order given."""
    chosen = list(SUITES) if "all" in names else list(dict.fromkeys(names))
    for name in chosen:
        if name not in SUITES:
            raise ValueError(f"unknown suite {name!r}: expected one of "
                             f"{', '.join(list(SUITES) + ['all'])}")
    return [case for name in chosen for case in SUITES[name].cases(quick)]
