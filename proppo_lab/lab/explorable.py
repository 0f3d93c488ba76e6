"""A Lab in an exported page: its graph, status line and plots, and its published runs.

:func:`lab_html` writes a Lab from its export snapshot (:func:`.publish.lab_snapshot`)
without the controls that need a kernel (Run, Stop, Step, Compare, the fields,
plan files, "As Python", the presentation toggle): a page cannot run anything,
so it does not pretend to. Plots with no series of two points or more are left
out, and one line under the plots says which and why (the Lab's own note when
it wrote one, e.g. "no gradient messages recorded at 'x' yet").

When the Lab published runs, the page also carries them as JSON (in a
``<script type="application/json">``, which the browser never executes), a
palette and a row of run buttons, and :data:`SCRIPT` (``explorable.js``, our
own small script, inlined once per page) lets the reader switch between them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: the page's script for Labs with published runs (see ``explorable.js``)
SCRIPT = (Path(__file__).with_name("explorable.js")).read_text(encoding="utf-8")

CSS = """
.pl-static-lab { border: 1px solid #ddd; border-radius: 4px; padding: 8px; margin: 4px 0; }
.pl-static-legend, .pl-palette, .pl-runs { display: flex; flex-wrap: wrap; gap: 4px;
  align-items: center; font-size: 12px; margin: 4px 0; }
.pl-chip { display: inline-block; padding: 1px 8px; border: 1px solid #777;
  border-radius: 3px; font: 12px sans-serif; }
button.pl-chip { cursor: pointer; }
.pl-chip.pl-unavailable { opacity: 0.45; border-style: dashed; }
.pl-chip.pl-current { outline: 2px solid #222; outline-offset: 1px; }
.pl-runs button { font-size: 12px; cursor: pointer; }
.pl-explore-hint, .pl-explore-note, .pl-plot-notes { font-size: 12px; color: #555; }
.pl-unavailable-note { color: #8a1c1c; }
.pl-static-lab g.node.pl-choosable { cursor: pointer; }
.pl-static-lab g.node.pl-selected path, .pl-static-lab g.node.pl-selected polygon,
.pl-static-lab g.node.pl-selected ellipse { stroke: #d62728; stroke-width: 3px; }
.pl-status { font-size: 13px; margin: 6px 0; }
.pl-static-plot.pl-empty { display: none; }
/* the palette colours a Lab with published runs; a legend would go stale on a switch */
.pl-static-lab[data-pl-explorable] .pl-static-legend { display: none; }
"""


def points(figure: Mapping) -> int:
    """The most points any series of a plotly figure (as JSON) has."""
    return max(
        (len(t.get("x") if t.get("x") is not None else t.get("y") or ()) for t in figure["data"]),
        default=0,
    )


def title_of(figure: Mapping) -> str:
    title = (figure.get("layout") or {}).get("title") or {}
    return str(title.get("text", "") if isinstance(title, Mapping) else title)


def why_empty(figure: Mapping) -> str:
    notes = [a.get("text") for a in (figure.get("layout") or {}).get("annotations") or ()]
    return next((n for n in notes if n), "no data in this run")


def lab_html(
    snap: Mapping[str, Any],
    widget: Callable[[str], str],
    figure: Callable[[str], Mapping | None],
    plot: Callable[[Mapping], str],
) -> str:
    """The Lab's static HTML (see the module docstring).

    ``widget(model_id)``: a child widget as static HTML (graph, status, banner);
    ``figure(model_id)``: a plot's figure as JSON (None: none saved);
    ``plot(figure)``: a figure as a plotly.js div.
    """
    explorable = snap.get("explorable")
    slots, missing = [], []
    for name, model_id in snap["plots"].items():
        fig = figure(model_id)
        if fig is None:
            continue
        title, empty = title_of(fig), points(fig) < 2
        if empty:
            missing.append(f"“{title}”: {why_empty(fig)}")
            if not explorable:  # nothing will ever fill it: leave it out
                continue
        slots.append(
            f'<div class="pl-static-plot{" pl-empty" * empty}" data-pl-plot="{name}" '
            f'data-pl-title="{html.escape(title)}" '
            f'data-pl-why="{html.escape(why_empty(fig))}">{plot(fig)}</div>'
        )
    notes = f"Not shown: {'; '.join(missing)}." if missing else ""
    parts = [
        widget(snap["banner"]),
        widget(snap["graph"]),
        _explore_controls(explorable) if explorable else "",
        f'<div class="pl-status" data-pl-status>{widget(snap["status"])}</div>',
        f'<div class="pl-static-widget pl-static-box pl-static-grid">{"".join(slots)}</div>',
        f'<div class="pl-plot-notes">{html.escape(notes)}</div>',
    ]
    if explorable:
        # "</" cannot end the script element early: JSON allows "<\/" for "</"
        blob = json.dumps(explorable, separators=(",", ":"), allow_nan=False)
        parts.append(
            '<script type="application/json" class="pl-explore-data">'
            + blob.replace("</", "<\\/")
            + "</script>"
        )
    flag = " data-pl-explorable" if explorable else ""
    return f'<div class="pl-static-lab"{flag}>{"".join(parts)}</div>'


def _explore_controls(explorable: Mapping) -> str:
    runs = "".join(
        f'<button data-pl-run="{i}">{html.escape(run["label"])}</button>'
        for i, run in enumerate(explorable["runs"])
    )
    return (
        '<div class="pl-explore">'
        '<div class="pl-explore-hint">Precomputed when this page was made: click a node of '
        "the graph, then a propagator, to see that run (a dashed one was not run).</div>"
        '<div class="pl-palette"></div>'
        f'<div class="pl-runs">Runs: {runs}'
        '<button data-pl-run="notebook">as run in the notebook</button></div>'
        '<div class="pl-explore-note" role="status"></div>'
        "</div>"
    )
