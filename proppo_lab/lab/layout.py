"""How the Lab sits on screen: a responsive arrangement and a presentation mode.

The arrangement itself is CSS (labextension/style/lab.css), keyed on the classes
set here, so that it follows the width the Lab really gets (a narrow notebook
pane, JupyterLab's sidebar, a projector) without the kernel measuring anything:

* ``pl-lab-main`` holds the graph and the controls side by side; when the Lab
  is narrow the controls move under the graph (the graph widget does the same
  with its palette), so the drawing keeps a readable width.
* ``pl-plots`` is the grid of live plots; its columns shrink to the Lab's width.
* ``pl-presentation`` on the Lab (``lab.presentation = True`` or the toggle):
  bigger fonts, the graph across the whole width, one plot a row. Plotly draws
  its own text, so the figures' fonts are changed here, in their layouts; their
  widths follow their grid cells (labextension/src/plot_fit.ts).
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

#: plotly's fonts in presentation mode. Fonts only: the figures autosize to their
#: cells (see :mod:`.plots`), and a relayout that names a width or a height would
#: turn plotly's autosize off, leaving them at the size they had.
PRESENTATION_FIGURE = {
    "font.size": 18,
    "title.font.size": 24,
    "legend.font.size": 16,
}


def arrange(
    graph: widgets.Widget,
    controls: widgets.Widget,
    status: widgets.Widget,
    toggle: widgets.Widget,
    plots: widgets.GridBox,
) -> list[widgets.Widget]:
    """The Lab's rows below the banner: graph + controls, status line, plots."""
    # The controls' width comes from the stylesheet (beside or under the graph),
    # not from a fixed Layout width that would keep them 340 px in a 600 px pane.
    controls.layout.width = None
    controls.layout.min_width = None
    controls.add_class("pl-controls")
    graph.add_class("pl-lab-graph")
    # The grid's columns come from the stylesheet too (one 470 px minimum would
    # overflow a narrow pane).
    plots.layout.grid_template_columns = None
    plots.add_class("pl-plots")
    main = widgets.HBox([graph, controls])
    main.add_class("pl-lab-main")
    status_row = widgets.HBox([status, toggle])
    status_row.add_class("pl-status-row")
    return [main, status_row, plots]


def presentation_toggle() -> widgets.ToggleButton:
    toggle = widgets.ToggleButton(
        value=False,
        description="Presentation",
        icon="desktop",
        tooltip="bigger fonts; the graph and each plot across the whole width (for a projector)",
        layout=widgets.Layout(width="auto"),
    )
    toggle.add_class("pl-presentation-toggle")
    return toggle


class FigureSizes:
    """Switches plotly figures between their own sizes and presentation sizes."""

    def __init__(self, figures: Sequence[go.FigureWidget]):
        self.figures = list(figures)
        # What each figure was made with, to come back to when presentation ends.
        self.normal = [
            {key: _get(fig.layout, key) for key in PRESENTATION_FIGURE} for fig in self.figures
        ]

    def present(self, on: bool) -> None:
        for fig, normal in zip(self.figures, self.normal):
            sizes = PRESENTATION_FIGURE if on else normal
            fig.update_layout(**{key.replace(".", "_"): value for key, value in sizes.items()})


def _get(layout, dotted: str):
    value = layout
    for part in dotted.split("."):
        value = getattr(value, part)
    return value
