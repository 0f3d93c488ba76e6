"""Precomputed runs of a Lab, so that an exported page stays explorable without a kernel.

A page cannot run torch, but it can carry the results of runs made when it was
exported. ``pl.Lab(program, publish=["RP", "LR", {"x": "TP"}])`` names the plans
to precompute (a propagator name means "every sample node uses it", as in
Compare; a dict is a plan). :func:`lab_snapshot`, called by the export's
snapshot cell, runs each of them as the Lab's Run button would: the same
:class:`~.session.Session` code and seeds, the iterations, seed and learning
rate of the Lab's controls, from the parameters the Lab started with. The plans
of the Lab's latest Compare are added, so a page shows what its text compared.

Why rerun instead of reading the live plots: the live Lab records message
norms only at the node inspected while it ran and only a few times a second;
a published run records every node's series (a reader may click any node) at
up to :data:`MAX_POINTS` evenly spaced iterations, and keeps each plan apart.

What a run keeps is small JSON (series thinned to :data:`MAX_POINTS` points,
4 significant digits): its plots, its status line, the node fills and edge
widths of its plan. The page's script (``explorable.js``) swaps them in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..contracts import text_colour
from ..core import registry
from ..core.plan import Plan
from ..trace.compare import plan_and_default
from ..trace.dot import penwidth
from .plots import LivePlots
from .session import run_sessions

log = logging.getLogger(__name__)

#: the plots that show one node's latest pass (kept per site in a published run)
PER_SITE = ("messages", "weights")
#: most points kept per series: a line of 150 points reads the same as one of 1000
MAX_POINTS = 150
#: nodes whose propagator a reader can change
CHOOSABLE = ("sample", "forward")


def plan_label(spec: str | Mapping | Plan) -> str:
    """A short name for a published plan: the propagator's name, or ``x: TP, y: LR``."""
    if isinstance(spec, str):
        return spec
    plan = spec if isinstance(spec, Plan) else Plan.from_dict(spec)
    parts = []
    for site, entry in plan.to_dict().items():
        name = entry if isinstance(entry, str) else entry.get("propagator", "?")
        parts.append(f"{site}: {name}")
    return ", ".join(parts) or "default"


def lab_snapshot(lab) -> dict:
    """The Lab's static view: its parts' model ids, and its published runs (if any)."""
    snap: dict[str, Any] = {
        "kind": "lab",
        "graph": lab.graph.model_id,
        "status": lab.status.model_id,
        "banner": lab.banner.model_id,
        "plots": {name: fig.model_id for name, fig in lab.plots.named.items()},
    }
    specs = _published_specs(lab)
    if specs:
        snap["explorable"] = {
            "nodes": _choosable(lab.graph.graph.get("nodes", [])),
            "palette": _palette(lab.graph.graph.get("nodes", [])),
            "site": lab._inspected_site(),
            "runs": published_runs(lab, specs),
        }
    return snap


def _published_specs(lab) -> list[tuple[str, Plan, Any]]:
    """(label, plan, default) of the Lab's latest Compare, then of its ``publish`` list."""
    if not getattr(lab, "publish_plans", None):
        return []
    out: dict[str, tuple[str, Plan, Any]] = {}
    compared = [s for s in lab._sessions if s.label != "current"]
    for session in compared:
        out[session.label] = (session.label, session.pm.plan, session.pm.default)
    for spec in lab.publish_plans:
        label = plan_label(spec)
        out.setdefault(label, (label, *plan_and_default(spec, lab.default)))
    return list(out.values())


def published_runs(lab, specs: Sequence[tuple[str, Plan, Any]]) -> list[dict]:
    """Run each (label, plan, default) from the Lab's starting parameters; the program
    keeps the parameters it had before (see the module docstring). A plan whose run
    fails is left out with a warning: the page shows it as not precomputed."""
    program = lab.program
    lab.runner.join()  # a run still going (started with wait=False) owns the program
    before = {k: p.detach().clone() for k, p in program.params.items()}
    start = lab._start_params or before
    runs, seen = [], set()
    try:
        for label, plan, default in specs:
            _load(program, start)
            try:
                run = _run(lab, label, plan, default)
            except Exception as err:  # noqa: BLE001 - one failing plan: the page offers the others
                log.warning("export: the published plan %r failed and is left out: %s", label, err)
                continue
            key = repr(sorted(run["assignment"].items()))
            if key not in seen:  # two names for one plan ("TP" and {"x": "TP"}): one run
                seen.add(key)
                runs.append(run)
    finally:
        _load(program, before)
    return runs


def _load(program, values: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, value in values.items():
            program.params[name].copy_(value)


def _run(lab, label: str, plan: Plan, default: Any) -> dict:
    session = lab._session(label, plan, default)
    view = lab.graph.view
    nodes = lab.graph_source.to_json(plan, view, default)["nodes"]
    sites = sorted({n["site"] for n in nodes if n["kind"] in CHOOSABLE})
    main = LivePlots(live=False)
    per_site = {site: LivePlots(live=False) for site in sites}

    def show(session, _progress) -> None:
        if session.refresh(main) and session.recorder.latest is not None:
            for site, plots in per_site.items():
                session.show_latest_pass(plots, site)

    c = lab.controls
    iterations = int(c.value("iterations"))
    try:
        run_sessions(
            [session],
            iterations,
            lab.program,
            seed=int(c.seed.value),
            lr=float(c.value("lr")),
            refresh=0.0,
            every=max(1, math.ceil(iterations / MAX_POINTS)),  # each point a plot can show
            live_plan=None,
            record=lambda row: None,
            publish=show,
            stopping=lambda: False,
        )
        flows = session.recorder.flows(view)
        status = session.status_line() + " · done"
    finally:
        session.close()
    chosen = [n for n in nodes if n["kind"] in CHOOSABLE]
    return {
        "label": label,
        "assignment": {n["id"]: _assigned(n) for n in chosen},
        "texts": {n["id"]: text_colour(n["colour"]) for n in chosen},
        "fills": {n["id"]: n["colour"] for n in chosen},
        "status": status,
        "plots": {
            name: _figure_json(fig) for name, fig in main.named.items() if name not in PER_SITE
        },
        "sites": {
            site: {
                "messages": _figure_json(plots.messages),
                "weights": _figure_json(plots.weights, f"no TP at '{site}' in this run"),
            }
            for site, plots in per_site.items()
        },
        "edges": _edge_widths(flows),
    }


def _choosable(nodes: Sequence[Mapping]) -> dict:
    """The nodes a reader can click: id -> site, kind and what they run in the notebook."""
    return {
        n["id"]: {"site": n["site"], "kind": n["kind"], "assigned": _assigned(n)}
        for n in nodes
        if n["kind"] in CHOOSABLE
    }


def _palette(nodes: Sequence[Mapping]) -> list[dict]:
    """The registered propagators that can serve a node of this graph."""
    kinds = {n["kind"] for n in nodes if n["kind"] in CHOOSABLE}
    return [
        {
            "name": e.name,
            "colour": e.colour,
            "text": text_colour(e.colour),
            "kinds": [k for k in e.kinds if k in kinds],
            # the whole doc, as the live palette shows it: its first line stops mid-sentence
            # where the docstring wraps, and "et al." defeats cutting at a full stop
            "doc": " ".join((e.doc or "").split()),
        }
        for e in registry.entries()
        if kinds & set(e.kinds)
    ]


def _edge_widths(flows: Mapping) -> dict:
    """Edge id -> stroke width, as the static graph's DOT draws flows."""
    norms = {
        edge: v["norm"]
        for edge, v in (flows.get("edges") or {}).items()
        if v.get("norm") is not None and math.isfinite(v["norm"]) and v["norm"] > 0
    }
    if not norms:
        return {}
    lo, hi = math.log10(min(norms.values())), math.log10(max(norms.values()))
    return {edge: round(penwidth(norm, lo, hi), 2) for edge, norm in norms.items()}


def _figure_json(fig, why_empty: str = "") -> dict:
    """A figure's series, thinned and rounded, its x-axis title and why it is empty
    (the Lab's own note on the figure, else ``why_empty``)."""
    notes = [a.text for a in fig.layout.annotations or () if a.text]
    empty = not any(len(t.x or ()) for t in fig.data)
    return {
        "x": fig.layout.xaxis.title.text or "",
        "note": (notes[0] if notes else why_empty) if empty else "",
        "data": [
            {
                "name": t.name,
                "mode": t.mode,
                "color": t.line.color,
                **dict(zip(("x", "y"), _thin(list(t.x or ()), list(t.y or ())))),
            }
            for t in fig.data
        ],
    }


def _thin(x: list, y: list) -> tuple[list, list]:
    """At most MAX_POINTS evenly spaced points (the last one always kept), 4 digits."""
    if len(x) > MAX_POINTS:
        step = len(x) / MAX_POINTS
        keep = sorted({int(i * step) for i in range(MAX_POINTS)} | {len(x) - 1})
        x, y = [x[i] for i in keep], [y[i] for i in keep]
    return [_round(v) for v in x], [_round(v) for v in y]


def _round(v):
    if isinstance(v, float) and math.isfinite(v) and v != 0:
        return float(f"{v:.4g}")
    return v if v is None or isinstance(v, (int, float)) and math.isfinite(v) else None


def _assigned(node: Mapping) -> list:
    """What a node runs under a plan: [propagator, explicit options, instance overrides]."""
    return [node["propagator"], node.get("options") or {}, node.get("overrides") or {}]
