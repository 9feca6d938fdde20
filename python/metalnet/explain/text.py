"""Small text-layout helpers shared by the explanations: headings, numbers, grids."""
from __future__ import annotations

import numpy as np

PAD_MARK = "."          # how a padding cell (which reads as zero) is printed


def heading(title: str, underline: str = "-") -> list[str]:
    return [title, underline * len(title)]


def number(value) -> str:
    """An integer-valued float without '.0', anything else to 4 significant digits."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 row', '3 rows'."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def thousands(value: int) -> str:
    return f"{value:,}"


def human_bytes(value: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def coords(values: list[int], size: int) -> str:
    """Input coordinates, padding ones starred: '-1* 0 1'."""
    return " ".join(f"{v}*" if v < 0 or v >= size else str(v) for v in values)


def elided(items: list[str], limit: int, keep_end: int = 2, marker: str = "...") -> list[str]:
    """The items, or the first ones, ``marker`` and the last ``keep_end`` when over ``limit``."""
    if len(items) <= limit:
        return items
    return items[:limit - keep_end - 1] + [marker] + items[-keep_end:]


def table(cells: list[list[str]], row_labels: list[str], col_labels: list[str],
          indent: str = "  ") -> list[str]:
    """A right-aligned grid with labels on the left and on top."""
    width = max(len(s) for s in [*col_labels, *(c for row in cells for c in row), ""])
    label_width = max((len(s) for s in row_labels), default=0)
    lines = [indent + " " * label_width + " " + " ".join(s.rjust(width) for s in col_labels)]
    for label, row in zip(row_labels, cells):
        lines.append(indent + label.rjust(label_width) + " " + " ".join(s.rjust(width) for s in row))
    return lines


def grid(values: np.ndarray, real: np.ndarray | None = None, indent: str = "  ") -> list[str]:
    """A 2-D array as aligned numbers; cells where ``real`` is False print as PAD_MARK."""
    cells = [[number(v) if real is None or real[i, j] else PAD_MARK
              for j, v in enumerate(row)] for i, row in enumerate(values)]
    width = max(len(s) for row in cells for s in row)
    return [indent + " ".join(s.rjust(width) for s in row) for row in cells]
