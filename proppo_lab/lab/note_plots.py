"""The Lab's plots of scalar diagnostics that propagators note at their nodes, per site.

A propagator with learned state reports its module's training loss as a note
(:data:`~proppo_lab.propagators.learned.LOSS_NOTE`: RELAX's surrogate, a synthetic
gradient's predictor); feedback alignment notes the angle between the gradient it
sends and backprop's. The message recorder keeps notes of the passes it records (a
few per second in the Lab), so each plot gains one point per site per recorded pass:
the mean over the site's instances.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ..propagators.learned import LOSS_NOTE

if TYPE_CHECKING:  # plots makes these figures: it imports this module
    from .plots import LivePlots

#: note kind -> (title, y axis title, log y axis)
NOTE_PLOTS: dict[str, tuple[str, str, bool]] = {
    LOSS_NOTE: ("Learned losses per site", "training loss (log)", True),
    "alignment_angle": ("Alignment angle with backprop per site", "degrees", False),
}


def figures(make: Callable[..., go.FigureWidget]) -> dict[str, go.FigureWidget]:
    """One empty figure per note kind of :data:`NOTE_PLOTS`, made by ``make(title, x, y,
    log_y)`` (the Lab's figure style)."""
    return {kind: make(title, "iteration", y, log) for kind, (title, y, log) in NOTE_PLOTS.items()}


def by_site(records: Mapping[str, Mapping], kind: str) -> dict[str, float]:
    """The mean over each site's instances of the notes of ``kind`` in a recorded pass."""
    values: dict[str, list[float]] = {}
    for rec in records.values():
        for sent in rec["sent"]:
            if sent["kind"] == kind:
                values.setdefault(rec["site"], []).append(sent["norm"])
    return {site: sum(v) / len(v) for site, v in values.items()}


def show(plots: LivePlots, label: str, records: Mapping[str, Mapping], iteration: int) -> None:
    """Add the pass's notes (recorded at ``iteration``) to the note plots, once."""
    for kind, fig in plots.notes.items():
        for site, value in by_site(records, kind).items():
            name = f"{label} · {site}"
            shown = next((t.x for t in fig.data if t.name == name), None)
            if shown and shown[-1] == iteration:  # a refresh without a new pass
                continue
            plots.extend(fig, name, [iteration], [value], mode="lines+markers")
