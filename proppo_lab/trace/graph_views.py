"""A captured graph's two views as the front end's JSON nodes and edges.

* **rolled**: one node per site (``site:<site>``) with its instance count; an
  edge between two instances of one site (a recurrence ``state -> state``)
  becomes a self-loop with ``recurrent=True``;
* **unrolled**: one node per instance (``site:<site>#<instance>``).

Parameters are ``param:<name>`` in both views. Every node carries the
propagator the plan resolves for it, its explicit options, its colour and a
label a person reads; :meth:`proppo_lab.trace.Graph.to_json` assembles them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..contracts import PARAM_COLOUR, VIEWS
from ..core.plan import Plan
from .ids import edge_id, rolled_id, site_id

if TYPE_CHECKING:
    from .graph import Graph, Instance


def node_name(node_id: str) -> str:
    """What a person calls a node: ``beta``, ``state``, ``state[3]`` (not its id)."""
    name = node_id.split(":", 1)[-1]
    site, _, instance = name.partition("#")
    return f"{site}[{instance}]" if instance else site


def edge_label(source: str, target: str, count: int = 1) -> str:
    """An edge's readable title: ``beta → state (all 100 steps)``, ``state → state (×99)``."""
    label = f"{node_name(source)} → {node_name(target)}"
    if count > 1:
        label += f" (all {count} steps)" if source.startswith("param:") else f" (×{count})"
    return label


def check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


def _value_of(inst: Instance) -> dict:
    """What the details panel shows of a node's value."""
    return {
        "dist": inst.dist,
        "shape": list(inst.shape) if inst.shape is not None else None,
        "dtype": inst.dtype,
        "device": inst.device,
        "function": inst.function,
    }


def _named(label: str, inst: Instance) -> str:
    """A function node's label names its function: ``hidden: Linear``."""
    return f"{label}: {inst.function}" if inst.function else label


def nodes(graph: Graph, view: str, plan, default) -> list[dict]:
    """The view's nodes, coloured by ``plan`` (parameters first, then sites in order)."""
    check_view(view)
    plan = Plan.from_dict(plan)
    out = [
        {
            "id": p.id,
            "kind": "param",
            "site": p.name,
            "instance": None,
            "count": 1,
            "propagator": None,
            "options": {},
            "colour": PARAM_COLOUR,
            "label": p.name,
            "overrides": {},
            "dist": None,
            "shape": list(p.shape),
            "dtype": p.dtype,
            "device": p.device,
            "function": None,
        }
        for p in graph.params
    ]
    if view == "unrolled":
        for inst in graph.instances:
            prop = graph.propagator(inst.site, inst.instance, plan, default)
            options = graph.explicit_options(plan, inst.site, inst.instance)
            out.append(
                {
                    "id": inst.id,
                    "kind": inst.kind,
                    "site": inst.site,
                    "instance": inst.instance,
                    "count": 1,
                    "propagator": prop,
                    "options": options if inst.kind != "loss" else {},
                    "colour": graph.colour(prop, inst.kind),
                    "label": _named(f"{inst.site}[{inst.instance}]", inst),
                    "overrides": {},
                    **_value_of(inst),
                }
            )
        return out
    counts = graph.counts()
    firsts: dict[str, Instance] = {}
    for inst in graph.instances:
        firsts.setdefault(inst.site, inst)
    for site, first in firsts.items():
        prop = graph.propagator(site, None, plan, default)
        sp = plan.sites.get(site)
        overrides = (
            {str(i): s.propagator for i, s in sorted(sp.instances.items())}
            if sp is not None and first.kind != "loss"
            else {}
        )
        n = counts[site]
        out.append(
            {
                "id": site_id(site),
                "kind": first.kind,
                "site": site,
                "instance": None,
                "count": n,
                "propagator": prop,
                "options": graph.explicit_options(plan, site) if first.kind != "loss" else {},
                "colour": graph.colour(prop, first.kind),
                "label": _named(site, first) + ("" if n == 1 else f" ×{n}"),
                "overrides": overrides,
                **_value_of(first),
            }
        )
    return out


def _site_of(node_id: str) -> str | None:
    return rolled_id(node_id)[5:] if node_id.startswith("site:") else None


def edges(graph: Graph, view: str) -> list[dict]:
    """The view's edges; rolled: one per pair of sites, with how many it stands for."""
    check_view(view)
    if view == "unrolled":
        return [
            {
                "id": edge_id(s, t),
                "source": s,
                "target": t,
                "recurrent": _site_of(s) is not None and _site_of(s) == _site_of(t),
                "count": 1,
                "label": edge_label(s, t),
            }
            for s, t in graph.instance_edges
        ]
    rolled: dict[tuple[str, str], int] = {}
    for s, t in graph.instance_edges:
        key = (rolled_id(s), rolled_id(t))
        rolled[key] = rolled.get(key, 0) + 1
    return [
        {
            "id": edge_id(s, t),
            "source": s,
            "target": t,
            "recurrent": s == t,
            "count": n,
            "label": edge_label(s, t, n),
        }
        for (s, t), n in rolled.items()
    ]
