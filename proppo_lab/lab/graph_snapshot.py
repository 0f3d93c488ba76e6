"""The graph as a static picture, for viewers without a kernel.

Besides the widget view, a graph widget's display bundle carries
``image/svg+xml`` (the graph drawn kernel-side by the ``dot`` binary, or the
browser's picture when one was sent back) and a small marker
``application/vnd.proppo-lab.graph+json`` (:func:`bundle`). A notebook saved
with its outputs thus still shows the graph without a kernel: the JupyterLab
extension's mime renderer for the marker shows the live view when the widget
model exists and the static SVG otherwise; other front ends (nbviewer, GitHub)
fall back to the SVG. Static export (:mod:`.export`) uses the same picture.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Mapping

from ..contracts import GRAPH_MIME, LOSS_COLOUR, PARAM_COLOUR, text_colour
from ..core import registry

log = logging.getLogger(__name__)


def standalone(svg: str) -> str:
    """``svg`` from its ``<svg`` tag on (no XML prologue or doctype); '' when it has none."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


#: the legend box the trace layer's DOT draws (``trace/dot.py``), as python-graphviz writes it
_LEGEND_CLUSTER = re.compile(r"^\s*subgraph cluster_legend \{\n.*?^\s*\}[ \t]*\n?", re.M | re.S)


def without_legend(dot: str) -> str:
    """``dot`` without its legend cluster.

    Why: Graphviz lays the legend out as a second component beside the graph, and
    for a small graph that box is larger than the graph itself. The live view hides
    it (it shows its own legend); a static picture shows :func:`legend_html` instead.
    """
    return _LEGEND_CLUSTER.sub("", dot)


def legend_html(graph: Mapping) -> str:
    """One line of colour chips for the propagators (and node kinds) a graph shows."""
    nodes = graph.get("nodes") or []
    chips = {}
    for n in nodes:
        if n.get("propagator"):
            chips.setdefault(n["propagator"], n.get("colour") or "#ffffff")
        for name in (n.get("overrides") or {}).values():  # an instance's own propagator
            chips.setdefault(name, registry.get(name).colour if name in registry.names() else "")
    if any(n.get("kind") == "param" for n in nodes):
        chips["parameter"] = PARAM_COLOUR
    if any(n.get("kind") == "loss" for n in nodes):
        chips["loss"] = LOSS_COLOUR
    spans = "".join(
        f'<span class="pl-chip" style="background:{html.escape(fill)};'
        f'color:{text_colour(fill)}">{html.escape(name)}</span>'
        for name, fill in chips.items()
        if fill
    )
    return f'<div class="pl-static-legend">{spans}</div>' if spans else ""


def svg_from_dot(dot: str) -> str:
    """DOT drawn as a standalone SVG with the ``dot`` binary (Debian ``graphviz``);
    '' when it cannot be drawn (no binary, or DOT it refuses)."""
    try:
        import graphviz

        return standalone(graphviz.Source(dot).pipe(format="svg").decode("utf-8"))
    except Exception:  # noqa: BLE001 - no dot binary: the caller shows what it has
        log.debug("no SVG from DOT", exc_info=True)
        return ""


def bundle(svg: str, view: str, model_id: str, node_ids: Iterable[str]) -> dict:
    """The static part of a display bundle whose widget view is ``model_id``:
    ``image/svg+xml`` plus the GRAPH_MIME marker; {} when there is no picture."""
    if not svg:
        return {}
    return {
        "image/svg+xml": svg,
        GRAPH_MIME: {
            "version": 1,
            "view": view,
            "model_id": model_id,
            "nodes": sorted(i for i in node_ids if i),
        },
    }
