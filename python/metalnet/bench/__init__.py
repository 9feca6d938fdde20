"""``metalnet bench``: metalnet's backends against NumPy and PyTorch on the course's shapes.

- ``workloads``: the shapes, defined once (the pytest-benchmark suites in benchmarks/ read them).
- ``suites``: per suite, the cases built from those shapes for each implementation.
- ``impls``, ``timing``, ``ceilings``: who runs, how it is timed, what the machine can do.
- ``runner``, ``report``, ``plots``, ``cli``: the run, the table and JSON, the figures.
"""
SUITE_NAMES = ("gemm", "conv", "pool", "act", "lstm", "train")
