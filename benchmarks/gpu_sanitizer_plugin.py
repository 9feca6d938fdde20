"""pytest plugin for runs under compute-sanitizer: CuPy allocates straight from cudaMalloc.

CuPy's memory pool carves arrays out of larger blocks, so an out-of-bounds access that lands in
a neighbouring array of the same block is invisible to memcheck. With the pool off every array
is its own allocation and memcheck sees the exact bounds. Load with
``PYTHONPATH=benchmarks python -m pytest -p gpu_sanitizer_plugin ...``.
"""
try:
    import cupy
except Exception:  # no CuPy: the GPU tests skip anyway
    cupy = None

if cupy is not None:
    cupy.cuda.set_allocator(None)
    cupy.cuda.set_pinned_memory_allocator(None)
