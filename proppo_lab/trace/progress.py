"""Progress of long work (sweeps, comparisons): a count, the time so far and an ETA.

In a notebook the bar is an ipywidgets progress bar with a line of text beside
it, as Jupyter users expect (not carriage-return text in the pink stderr box,
which reads like an error); in a plain script it is a text bar on stderr.
``trace`` must run in a plain script, so ipywidgets is imported only when an
IPython kernel is already running. Pass ``progress=False`` to silence it, or a
callable ``f(done, total, text)`` to drive a UI instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def describe(done: float, total: float, elapsed: float) -> str:
    """``"3/10 · 4.2 s · eta 9.8 s"``: what both bars show beside the bar itself."""
    frac = min(max(done / total, 0.0), 1.0) if total else 1.0
    words = f"{done:g}/{total:g} · {elapsed:.1f} s"
    if 0 < frac < 1:
        words += f" · eta {elapsed * (1 - frac) / frac:.0f} s"
    return words


class _Throttled:
    """Shared timing: redraw at most every ``min_interval`` seconds, always at the end."""

    def __init__(self, total: int, label: str, min_interval: float):
        self.total = max(int(total), 1)
        self.label = label
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
        self._finished = done >= total
        self.draw(done, total, describe(done, total, now - self.start), text)

    def draw(self, done: float, total: float, words: str, text: str) -> None:
        raise NotImplementedError


class TextProgress(_Throttled):
    """A carriage-return text bar (terminals, scripts, CI logs)."""

    def __init__(
        self, total: int, label: str = "", width: int = 30, stream=None, min_interval: float = 0.1
    ):
        super().__init__(total, label, min_interval)
        self.width = width
        self.stream = stream if stream is not None else sys.stderr

    def draw(self, done, total, words, text):
        filled = int(round(min(max(done / total, 0.0), 1.0) * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {words} {text}".ljust(100))
        if self._finished:
            self.stream.write("\n")
        self.stream.flush()


class WidgetProgress(_Throttled):
    """An ipywidgets progress bar with count, time and ETA, shown in the running cell."""

    def __init__(self, total: int, label: str = "", min_interval: float = 0.2):
        import ipywidgets as widgets
        from IPython.display import display

        super().__init__(total, label, min_interval)
        self.bar = widgets.IntProgress(
            value=0, min=0, max=self.total, description=label, tooltip=f"{label}: progress"
        )
        self.text = widgets.Label(value=f"0/{self.total}")
        display(widgets.HBox([self.bar, self.text]))

    def draw(self, done, total, words, text):
        self.bar.max = int(total)
        self.bar.value = int(min(done, total))
        self.text.value = f"{words} {text}".strip()
        if self._finished:
            self.bar.bar_style = "success"


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return bool(get and get() is not None and "ipykernel" in sys.modules)


def make_progress(progress, total: int, label: str) -> Callable | None:
    """True -> a bar (a widget in a notebook, text elsewhere), a callable -> itself,
    False/None -> None."""
    if progress is True:
        if _in_kernel():
            try:
                return WidgetProgress(total, label)
            except ImportError:  # a kernel without ipywidgets: fall back to text
                pass
        return TextProgress(total, label)
    if callable(progress):
        return progress
    return None
