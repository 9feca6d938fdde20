"""A one-line progress bar on stderr, drawn only on a terminal (logs and pipes stay clean)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, enabled: bool = True, stream=None, width: int = 24):
        self.stream = stream or sys.stderr
        self.enabled = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total, self.done, self.width = max(total, 1), 0, width
        self.t0 = time.perf_counter()

    def show(self, label: str) -> None:
        """Redraw with ``label`` naming what runs now."""
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.t0
        line = f"[{bar}] {self.done}/{self.total} {elapsed:5.1f}s {label}"
        self.stream.write("\r" + line[:100].ljust(100))
        self.stream.flush()

    def advance(self) -> None:
        self.done += 1

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
