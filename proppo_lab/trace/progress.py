"""Progress of long work: a sweep's bar (tqdm's) and the words the Lab shows beside its own.

A sweep's bar is ``tqdm.auto``'s: an ipywidgets bar in a notebook (not
carriage-return text in the pink stderr box, which reads like an error), a
text bar on stderr in a plain script, with the count, time and ETA in both.
Pass ``progress=False`` to silence it, or a callable ``f(done, total, text)``
to drive a UI instead. The Lab draws its own bar in its panel and labels it
with :func:`describe`.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm


def describe(done: float, total: float, elapsed: float) -> str:
    """``"3/10 · 4.2 s · eta 9.8 s"``: the Lab's progress label."""
    frac = min(max(done / total, 0.0), 1.0) if total else 1.0
    words = f"{done:g}/{total:g} · {elapsed:.1f} s"
    if 0 < frac < 1:
        words += f" · eta {elapsed * (1 - frac) / frac:.0f} s"
    return words


class Bar:
    """``f(done, total, text)`` drawn by tqdm; closed once ``done`` reaches ``total``."""

    def __init__(self, total: int, label: str):
        self.bar = tqdm(total=total, desc=label)

    def __call__(self, done: float, total: float | None = None, text: str = "") -> None:
        if self.bar.disable:  # closed: the work is done
            return
        if total is not None:
            self.bar.total = total
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(done - self.bar.n)  # tqdm counts increments; we are told the count
        if done >= self.bar.total:
            self.bar.close()


def make_progress(progress, total: int, label: str) -> Callable | None:
    """True -> a tqdm bar, a callable -> itself, False/None -> None."""
    if progress is True:
        return Bar(total, label)
    if callable(progress):
        return progress
    return None
