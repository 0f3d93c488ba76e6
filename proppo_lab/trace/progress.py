"""A plain-text progress bar on stderr.

Why not tqdm or ipywidgets: ``trace`` must run in a plain script and must not
import Jupyter packages; a carriage-return bar works in a terminal and in a
notebook's stderr alike. Pass ``progress=False`` to silence it, or a callable
``f(done, total, text)`` to drive a UI instead.
"""
from __future__ import annotations

import sys
import time
from typing import Callable


class TextProgress:
    def __init__(self, total: int, label: str = "", width: int = 30, stream=None,
                 min_interval: float = 0.1):
        self.total = max(int(total), 1)
        self.label = label
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self._last = 0.0
        self._finished = False

    def __call__(self, done: float, total: float | None = None, text: str = "") -> None:
        total = self.total if total is None else max(total, 1)
        if self._finished:
            return
        now = time.perf_counter()
        if done < total and now - self._last < self.min_interval:
            return
        self._last = now
        frac = min(max(done / total, 0.0), 1.0)
        filled = int(round(frac * self.width))
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{done:g}/{total:g} {elapsed:6.1f}s"
                + (f" eta {eta:5.0f}s" if frac < 1 and eta == eta else "") + f" {text}")
        self.stream.write(line.ljust(100))
        if done >= total:
            self._finished = True
            self.stream.write("\n")
        self.stream.flush()


def make_progress(progress, total: int, label: str) -> Callable | None:
    """True -> a TextProgress, a callable -> itself, False/None -> None."""
    if progress is True:
        return TextProgress(total, label)
    if callable(progress):
        return progress
    return None
