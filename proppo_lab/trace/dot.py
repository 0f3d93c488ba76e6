"""Graphviz DOT for a graph view: what a projected class sees, and what the
front end lays out.

Why DOT ids: Graphviz copies a node's or edge's ``id`` attribute onto the SVG
``<g>`` element, so the SVG keeps the graph's stable ids (``site:state``,
``param:beta->site:state``) and a click or an animation can find its element
without parsing labels. DOT node *names* are internal (``n0``, ``n1``...)
because ``:`` in a DOT name means a port.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import graphviz

from ..contracts import LOSS_COLOUR, PARAM_COLOUR, text_colour
from ..core import registry

FONTSIZE = 16  # readable when projected to a class (>= 14)
#: a parameter feeding more instances of one site than this is drawn with one edge
FAN_OUT = 3
SHAPES = {"sample": "box", "forward": "box", "loss": "doubleoctagon", "param": "ellipse"}
STYLES = {"sample": "filled,rounded", "forward": "filled", "loss": "filled", "param": "filled"}


def penwidth(norm: float | None, lo: float, hi: float) -> float:
    """Edge width 1..8 growing with log message magnitude (1 where there is none)."""
    if norm is None or not math.isfinite(norm) or norm <= 0:
        return 1.0
    if hi <= lo:
        return 4.0
    return 1.0 + 7.0 * (math.log10(norm) - lo) / (hi - lo)


def to_dot(view_json: Mapping, flows: Mapping | None = None, rankdir: str = "LR") -> str:
    """DOT source for the output of :meth:`Graph.to_json`.

    Nodes are filled with their propagator's colour (parameters and losses have
    neutral colours of their own), a legend cluster lists the propagators in
    use, recurrent self-loops carry ``×N``. ``flows`` (from
    :meth:`Recorder.flows` for the same view) scales edge widths with the log
    of the message magnitude.
    """
    dot = graphviz.Digraph(
        "proppo",
        graph_attr={
            "rankdir": rankdir,
            "fontsize": str(FONTSIZE),
            "fontname": "Helvetica",
            "nodesep": "0.4",
            "ranksep": "0.6",
        },
        node_attr={"fontsize": str(FONTSIZE), "fontname": "Helvetica", "penwidth": "1.2"},
        edge_attr={"fontsize": str(FONTSIZE - 2), "fontname": "Helvetica"},
    )
    names = {}
    for i, node in enumerate(view_json["nodes"]):
        names[node["id"]] = f"n{i}"
        kind = node["kind"]
        label = node["label"]
        if node.get("propagator") and kind in ("sample", "forward"):
            label = f"{label}\\n{node['propagator']}"
        if node.get("overrides"):
            label += f"\\n(+{len(node['overrides'])} override{'s' * (len(node['overrides']) > 1)})"
        tooltip = node["id"] + (f" ({node['dist']})" if node.get("dist") else "")
        dot.node(
            names[node["id"]],
            label=label,
            id=node["id"],
            shape=SHAPES[kind],
            style=STYLES[kind],
            fillcolor=node["colour"],
            fontcolor=text_colour(node["colour"]),
            tooltip=tooltip,
        )
    edge_flows = (flows or {}).get("edges", {})
    norms = [
        v.get("norm")
        for v in edge_flows.values()
        if v.get("norm") is not None and math.isfinite(v["norm"]) and v["norm"] > 0
    ]
    lo = math.log10(min(norms)) if norms else 0.0
    hi = math.log10(max(norms)) if norms else 0.0
    kinds = {node["id"]: node["kind"] for node in view_json["nodes"]}
    sites = {node["id"]: node["site"] for node in view_json["nodes"]}
    fan_out: dict[tuple[str, str], list[dict]] = {}
    for edge in view_json["edges"]:
        if kinds[edge["source"]] == "param":
            fan_out.setdefault((edge["source"], sites[edge["target"]]), []).append(edge)
    hidden: set[str] = set()
    summary: dict[str, int] = {}
    for group in fan_out.values():
        if len(group) > FAN_OUT:
            # a parameter used at every step of an unrolled loop: one edge per step makes
            # Graphviz route ~T^2/2 long edges (a 1000-step graph never lays out); draw
            # one edge to the first step, labelled with how many steps use it
            summary[group[0]["id"]] = len(group)
            hidden.update(e["id"] for e in group[1:])
    for edge in view_json["edges"]:
        if edge["id"] in hidden:
            continue
        # the hover title names nodes as a person does, never by internal id
        title = edge.get("label") or edge["id"]
        attrs = {"id": edge["id"], "tooltip": title}
        if edge["id"] in summary:
            attrs.update(
                label=f"all {summary[edge['id']]} steps",
                style="dashed",
                tooltip=f"{title.split(' → ')[0]} → "
                f"{sites[edge['target']]} (all {summary[edge['id']]} steps)",
            )
        if edge["recurrent"] and edge["source"] == edge["target"]:
            attrs["label"] = f"×{edge['count']}"
        elif edge["count"] > 1 and "label" not in attrs:
            attrs["label"] = f"×{edge['count']}"
        if flows is not None:
            norm = edge_flows.get(edge["id"], {}).get("norm")
            attrs["penwidth"] = f"{penwidth(norm, lo, hi):.2f}"
            if norm is not None:
                attrs["tooltip"] = f"{attrs['tooltip']}: |message| = {norm:.3g}"
        dot.edge(names[edge["source"]], names[edge["target"]], **attrs)
    _legend(dot, view_json["nodes"])
    return dot.source


def _legend(dot: graphviz.Digraph, nodes) -> None:
    used = list(dict.fromkeys(n["propagator"] for n in nodes if n.get("propagator")))
    for n in nodes:  # instance overrides bring their propagators into the legend too
        used.extend(p for p in n.get("overrides", {}).values() if p not in used)
    kinds = {n["kind"] for n in nodes}
    with dot.subgraph(name="cluster_legend") as leg:
        leg.attr(
            label="propagators",
            fontsize=str(FONTSIZE),
            style="rounded",
            color="#999999",
            id="legend",
        )
        for name in used:
            fill = registry.get(name).colour
            leg.node(
                f"legend_{name}",
                label=name,
                id=f"legend:{name}",
                shape="box",
                style="filled",
                fillcolor=fill,
                fontcolor=text_colour(fill),
            )
        if "param" in kinds:
            leg.node(
                "legend__param",
                label="parameter",
                id="legend:param",
                shape="ellipse",
                style="filled",
                fillcolor=PARAM_COLOUR,
            )
        if "loss" in kinds:
            leg.node(
                "legend__loss",
                label="loss",
                id="legend:loss",
                shape="doubleoctagon",
                style="filled",
                fillcolor=LOSS_COLOUR,
            )
