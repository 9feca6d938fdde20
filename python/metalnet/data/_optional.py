"""Imports of the optional packages behind some datasets, with an error that says what to do."""
from __future__ import annotations

import importlib

__all__ = ["require"]


def require(module: str, package: str, extra: str = "data"):
    """Import ``module`` or raise ImportError naming the pip package and the metalnet extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this dataset needs {package}, which is not installed; install it "
                          f"with: pip install \"metalnet[{extra}]\"") from exc
