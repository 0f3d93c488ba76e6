"""The Lab's memory plot: peak memory per iteration (what Checkpoint and BackRazor reduce).

A session measures the iterations whose picture it shows with
:class:`~proppo_lab.trace.PeakMemory` (it costs a few microseconds per saved
tensor, so not every iteration): the bytes autograd held for backward, and on
CUDA the allocator's peak. Both are drawn here in MiB against the iteration.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

MIB = 2**20


def memory_figure(make) -> go.FigureWidget:
    """The empty plot, made by the Lab's own figure factory ``make(title, x, y)``."""
    return make("Peak memory per iteration", "iteration", "MiB")


def show_memory(plots, label: str, iterations: Sequence[int], records: Sequence[dict]) -> None:
    """Append measured iterations: saved-for-backward always, the CUDA peak where there is one."""
    if not records:
        return
    plots.extend(
        plots.memory,
        f"{label} · saved for backward",
        list(iterations),
        [r["saved"] / MIB for r in records],
        mode="lines+markers",
    )
    cuda = [(i, r["cuda"]) for i, r in zip(iterations, records) if r.get("cuda") is not None]
    if cuda:
        plots.extend(
            plots.memory,
            f"{label} · CUDA peak",
            [i for i, _ in cuda],
            [c / MIB for _, c in cuda],
            mode="lines+markers",
        )
