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

import logging
from collections.abc import Iterable

from ..contracts import GRAPH_MIME

log = logging.getLogger(__name__)


def standalone(svg: str) -> str:
    """``svg`` from its ``<svg`` tag on (no XML prologue or doctype); '' when it has none."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


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
