"""The Lab's live plots: plotly FigureWidgets updated while a run goes on.

Series that grow with the run (gradient, variance, loss per iteration) are
*extended* with the new points of each refresh (:meth:`LivePlots.extend`);
series that show the latest pass (per instance) are replaced
(:meth:`LivePlots.set_series`). :attr:`LivePlots.added` counts the points
computed and appended since the last :meth:`~LivePlots.reset`, so a test can
see that a refresh costs what it adds, not the length of the run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence

import plotly.graph_objects as go

from ..contracts import SERIES_PALETTE
from ..trace.figures import LOG_AXIS
from . import note_plots
from .memory_plot import memory_figure


def _figure(title: str, x: str, y: str, log_y: bool = False, live: bool = True) -> go.Figure:
    fig = go.FigureWidget() if live else go.Figure()
    # As wide as the grid cell, not a fixed width that scrolls in a narrow Lab: no
    # width, and autosize set in the figure's own layout, so that plotly.js measures
    # the cell when it draws and again at every relayout (the presentation toggle's);
    # "responsive" makes it measure again when the window is resized.
    fig._config = {**fig._config, "responsive": True}
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        height=280,
        autosize=True,
        margin=dict(l=60, r=10, t=40, b=40),
        xaxis_title=x,
        yaxis_title=y,
        legend=dict(font=dict(size=10)),
        template="plotly_white",
    )
    if log_y:
        fig.update_yaxes(**LOG_AXIS)
    return fig


def _finite(values: Iterable[float]) -> list:
    return [v if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]


class LivePlots:
    """Gradient estimate, running variance (log), loss, message norms, TP weights,
    peak memory and the propagators' notes (:mod:`.note_plots`).

    ``live=False`` makes plain figures instead of widgets: the same series, kept
    off the widget registry (published runs, :mod:`.publish`, are computed this way).
    """

    def __init__(self, live: bool = True):
        self.gradient = _figure(
            "Gradient estimate per iteration", "iteration", "estimate", live=live
        )
        self.variance = _figure(
            "Running variance of the estimate", "iteration", "variance (log)", log_y=True, live=live
        )
        self.loss = _figure("Loss (mean cost)", "iteration", "loss", live=live)
        self.messages = _figure(
            "Gradient message norm (latest pass)", "instance", "norm (log)", log_y=True, live=live
        )
        self.weights = _figure("TP weight on RP (latest pass)", "instance", "weight", live=live)
        self.weights.update_yaxes(range=[-0.05, 1.05])
        self.memory = memory_figure(functools.partial(_figure, live=live))
        #: propagators' scalar notes per site (learned losses, alignment angles)
        self.notes = note_plots.figures(functools.partial(_figure, live=live))
        #: every plot by a stable name (what an exported page keys its runs by)
        self.named = {
            "gradient": self.gradient,
            "variance": self.variance,
            "loss": self.loss,
            "messages": self.messages,
            "weights": self.weights,
            "memory": self.memory,
            **self.notes,
        }
        self.figures = tuple(self.named.values())
        #: plots only some plans fill: the Lab shows them once they hold data. Kept
        #: by identity: plotly figures compare (==, ``in``) by serialising both whole
        self.occasional = {id(f) for f in (self.memory, *self.notes.values())}
        self.added = 0

    def shown(self) -> list[go.Figure]:
        """The plots worth a place on screen: the five every run fills, and those of
        memory and propagators' notes that hold data (an empty "alignment angle"
        plot beside a chaotic RNN would only puzzle a class)."""
        return [f for f in self.figures if id(f) not in self.occasional or self.points(f)]

    def reset(self) -> None:
        for fig in self.figures:
            fig.data = ()
            fig.layout.annotations = ()
        self.added = 0

    def _trace(self, fig: go.FigureWidget, name: str, mode: str = "lines") -> go.Scatter:
        for trace in fig.data:
            if trace.name == name:
                return trace
        colour = SERIES_PALETTE[len(fig.data) % len(SERIES_PALETTE)]
        fig.add_scatter(
            name=name,
            mode=mode,
            x=[],
            y=[],
            line=dict(color=colour, width=2),
            marker=dict(color=colour, size=4),
        )
        return fig.data[-1]

    def set_series(
        self, fig: go.FigureWidget, name: str, x: Sequence, y: Sequence, mode: str = "lines"
    ) -> None:
        trace = self._trace(fig, name, mode)
        trace.x, trace.y = list(x), _finite(y)

    def show_pass(
        self, fig: go.FigureWidget, name: str, instances: Sequence, y: Sequence, iteration: int
    ) -> None:
        """One pass's per-instance values; a single instance is a point over iterations
        (a line drawn as the run goes), since one point per pass would draw no line."""
        if len(instances) == 1:
            fig.layout.xaxis.title.text = "iteration"
            self.extend(fig, name, [iteration], y, mode="lines+markers")
        else:
            fig.layout.xaxis.title.text = "instance"
            self.set_series(fig, name, instances, y, mode="lines+markers")
        fig.layout.annotations = ()

    def note(self, fig: go.FigureWidget, text: str) -> None:
        """Say in an empty plot why it is empty."""
        if not fig.data:
            fig.layout.annotations = (
                dict(
                    text=text,
                    showarrow=False,
                    xref="paper",
                    yref="paper",
                    x=0.5,
                    y=0.5,
                    font=dict(size=12, color="#666666"),
                ),
            )

    def extend(
        self, fig: go.FigureWidget, name: str, x: Sequence, y: Sequence, mode: str = "lines"
    ) -> None:
        """Append points to a series (made on first use)."""
        if not x:
            return
        trace = self._trace(fig, name, mode)
        trace.x = tuple(trace.x or ()) + tuple(x)
        trace.y = tuple(trace.y or ()) + tuple(_finite(y))
        self.added += len(x)

    def points(self, fig: go.FigureWidget, name: str | None = None) -> int:
        """How many points a figure (or one of its traces) holds: for tests and status."""
        traces = [t for t in fig.data if name is None or t.name == name]
        return sum(len(t.x or ()) for t in traces)
