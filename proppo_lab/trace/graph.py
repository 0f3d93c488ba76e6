"""The computation graph of a program: sites, instances, parameters, losses, edges.

Why a captured graph: a person assigns propagators to *sites*, but a program is
only code. Running it once under tracing turns it into data that a UI can draw
and a plan can colour. Nodes come from the manager's tape, edges from the
autograd graph between node outputs (:mod:`.walk`, read before the tape is
discarded, with ``record_edges=True`` so detaching propagators leave their
edges visible). Nothing is propagated: capture costs one
forward pass.

The graph stores what the program *is* (sites, instances, shapes, edges) and
not which plan served it, so recolouring with another plan is a pure function
of (graph, plan) and needs no re-trace: :meth:`Graph.to_json` and
:meth:`Graph.to_dot` take the plan as an argument.

Two views:

* **rolled**: one node per site (``site:<site>``) with its instance count; an
  edge between two instances of one site (a recurrence ``state -> state``)
  becomes a self-loop with ``recurrent=True``;
* **unrolled**: one node per instance (``site:<site>#<instance>``).

Parameters are ``param:<name>`` in both views. Ids depend only on site names,
instance indices and parameter names, so the same program gives the same ids
on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..contracts import LOSS_COLOUR, PARAM_COLOUR, VIEWS
from ..core import registry
from ..core.coupling import RegroupError
from ..core.manager import PropagationManager
from ..core.plan import Plan, parse_default
from . import walk


def site_id(site: str, instance: int | None = None) -> str:
    """The graph id of a site (rolled) or of one of its instances (unrolled)."""
    return f"site:{site}" if instance is None else f"site:{site}#{instance}"


def param_id(name: str) -> str:
    return f"param:{name}"


def edge_id(source: str, target: str) -> str:
    return f"{source}->{target}"


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


@dataclass(frozen=True)
class Instance:
    """One recorded node: what the program did at one hit of a site."""

    site: str
    instance: int
    kind: str  # "sample", "forward" or "loss"
    index: int  # position on the tape
    propagator: str | None  # what served it during capture (None for losses)
    dist: str | None
    shape: tuple[int, ...] | None
    dtype: str | None
    device: str | None

    @property
    def id(self) -> str:
        return site_id(self.site, self.instance)


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[int, ...]
    dtype: str
    device: str

    @property
    def id(self) -> str:
        return param_id(self.name)


def _dtype(t: torch.dtype) -> str:
    return str(t).replace("torch.", "")


@dataclass
class Graph:
    """A captured program graph. Build it with :func:`capture`."""

    instances: list[Instance]
    params: list[Param]
    #: unrolled edges as (source id, target id), parents before children
    instance_edges: list[tuple[str, str]]
    plan: Plan = field(default_factory=Plan)
    default: Any = "RP"
    #: per unrolled node id: autograd op names between its parents and it
    op_names: dict[str, list[str]] = field(default_factory=dict)

    # -- structure ----------------------------------------------------------
    @property
    def sites(self) -> list[str]:
        """Site names in the order the program first hit them."""
        seen: dict[str, None] = {}
        for inst in self.instances:
            seen.setdefault(inst.site, None)
        return list(seen)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for inst in self.instances:
            out[inst.site] = out.get(inst.site, 0) + 1
        return out

    def site_kind(self, site: str) -> str:
        for inst in self.instances:
            if inst.site == site:
                return inst.kind
        raise KeyError(f"no site named {site!r}; sites: {', '.join(self.sites)}")

    def node_ids(self, view: str = "rolled") -> list[str]:
        return [n["id"] for n in self._nodes(view, self.plan, self.default)]

    def edge_ids(self, view: str = "rolled") -> list[str]:
        return [e["id"] for e in self._edges(view)]

    def rolled_id(self, node_id: str) -> str:
        """The rolled id of any node id (an unrolled instance maps to its site)."""
        return node_id.split("#", 1)[0] if node_id.startswith("site:") else node_id

    def ops(self, node_id: str) -> list[str]:
        """Autograd op names (grad_fn classes) between a node and its parents.

        Collapsed by default in every view; this is the detail on demand. A
        rolled id gives the ops of the site's first instance.
        """
        if node_id in self.op_names:
            return list(self.op_names[node_id])
        if node_id.startswith("site:") and "#" not in node_id:
            return list(self.op_names.get(f"{node_id}#0", []))
        if node_id.startswith("param:"):
            return []
        raise KeyError(f"no node {node_id!r} in the graph")

    # -- plans ----------------------------------------------------------------
    def propagator(
        self, site: str, instance: int | None = None, plan=None, default=None
    ) -> str | None:
        """Which propagator ``plan`` gives a site (or one instance); None for losses."""
        kind = self.site_kind(site)
        if kind == "loss":
            return None
        plan = self.plan if plan is None else Plan.from_dict(plan)
        # the manager's own rule, so the graph resolves exactly as a manager would
        defaults = parse_default(self.default if default is None else default)
        if instance is None:
            sp = plan.sites.get(site)
            spec = sp.spec if sp is not None else None
        else:
            spec = plan.spec_for(site, instance)
        return (spec or defaults[kind]).propagator

    @staticmethod
    def explicit_options(plan: Plan, site: str, instance: int | None = None) -> dict:
        """The options ``plan`` sets for a site (or one instance: its override
        first, then the site's), without those left at their defaults; {} when none.
        The front end shows these instead of resolving the plan itself."""
        sp = plan.sites.get(site)
        if sp is None:
            return {}
        spec = sp.spec if instance is None else sp.instances.get(instance, sp.spec)
        given = spec.to_json()
        return dict(given["options"]) if isinstance(given, dict) else {}

    @staticmethod
    def colour(propagator: str | None, kind: str) -> str:
        if kind == "param":
            return PARAM_COLOUR
        if kind == "loss" or propagator is None:
            return LOSS_COLOUR
        return registry.get(propagator).colour

    # -- views ------------------------------------------------------------------
    def _nodes(self, view: str, plan, default) -> list[dict]:
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        plan = Plan.from_dict(plan)
        out = []
        for p in self.params:
            out.append(
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
                }
            )
        if view == "rolled":
            counts = self.counts()
            firsts: dict[str, Instance] = {}
            for inst in self.instances:
                firsts.setdefault(inst.site, inst)
            for site, first in firsts.items():
                prop = self.propagator(site, None, plan, default)
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
                        "options": self.explicit_options(plan, site)
                        if first.kind != "loss"
                        else {},
                        "colour": self.colour(prop, first.kind),
                        "label": site if n == 1 else f"{site} ×{n}",
                        "overrides": overrides,
                        "dist": first.dist,
                        "shape": list(first.shape) if first.shape is not None else None,
                        "dtype": first.dtype,
                        "device": first.device,
                    }
                )
        else:
            for inst in self.instances:
                prop = self.propagator(inst.site, inst.instance, plan, default)
                out.append(
                    {
                        "id": inst.id,
                        "kind": inst.kind,
                        "site": inst.site,
                        "instance": inst.instance,
                        "count": 1,
                        "propagator": prop,
                        "options": self.explicit_options(plan, inst.site, inst.instance)
                        if inst.kind != "loss"
                        else {},
                        "colour": self.colour(prop, inst.kind),
                        "label": f"{inst.site}[{inst.instance}]",
                        "overrides": {},
                        "dist": inst.dist,
                        "shape": list(inst.shape) if inst.shape is not None else None,
                        "dtype": inst.dtype,
                        "device": inst.device,
                    }
                )
        return out

    def _site_of(self, node_id: str) -> str | None:
        return self.rolled_id(node_id)[5:] if node_id.startswith("site:") else None

    def _edges(self, view: str) -> list[dict]:
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        if view == "unrolled":
            return [
                {
                    "id": edge_id(s, t),
                    "source": s,
                    "target": t,
                    "recurrent": self._site_of(s) is not None
                    and self._site_of(s) == self._site_of(t),
                    "count": 1,
                    "label": edge_label(s, t),
                }
                for s, t in self.instance_edges
            ]
        rolled: dict[tuple[str, str], int] = {}
        for s, t in self.instance_edges:
            key = (self.rolled_id(s), self.rolled_id(t))
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

    def to_json(self, plan=None, view: str = "rolled", default=None) -> dict:
        """The graph coloured by ``plan`` (a dict or Plan; None: the capture's plan).

        The front end's contract: ``{"view", "sites", "nodes", "edges"}``, see
        the module docstring and the README of :mod:`proppo_lab.trace`.
        """
        plan = self.plan if plan is None else plan
        default = self.default if default is None else default
        return {
            "view": view,
            "sites": self.sites,
            "nodes": self._nodes(view, plan, default),
            "edges": self._edges(view),
        }

    def to_dot(
        self,
        plan=None,
        view: str = "rolled",
        flows: Mapping | None = None,
        default=None,
        rankdir: str = "LR",
    ) -> str:
        """DOT source (Graphviz) of the graph coloured by ``plan``; see :mod:`.dot`."""
        from .dot import to_dot

        return to_dot(self.to_json(plan, view, default), flows=flows, rankdir=rankdir)

    def to_svg(
        self, plan=None, view: str = "rolled", flows: Mapping | None = None, default=None
    ) -> str:
        """SVG via the ``dot`` binary (needs Graphviz installed)."""
        import graphviz

        return graphviz.Source(self.to_dot(plan, view, flows, default)).pipe(format="svg").decode()

    def __repr__(self) -> str:
        return (
            f"Graph({len(self.sites)} sites, {len(self.instances)} instances, "
            f"{len(self.params)} params, {len(self.instance_edges)} edges)"
        )


# -- capture ------------------------------------------------------------------------


def _describe(node) -> Instance:
    value = node.output if node.output is not None else (node.inputs[0] if node.inputs else None)
    dist = node.saved.get("source_dist", node.dist)
    return Instance(
        site=node.site,
        instance=node.instance,
        kind=node.kind,
        index=node.index,
        propagator=None if node.kind == "loss" else node.propagator_name,
        dist=type(dist).__name__ if dist is not None else None,
        shape=tuple(value.shape) if value is not None else None,
        dtype=_dtype(value.dtype) if value is not None else None,
        device=str(value.device) if value is not None else None,
    )


def capture(
    program: Callable[[PropagationManager], Any],
    plan=None,
    default="RP",
    *,
    ops: bool = True,
    **manager_kwargs,
) -> Graph:
    """Run ``program`` once and return its :class:`Graph`.

    The program runs under a fresh manager with ``record_edges=True``; parents
    are read off autograd while the tape is alive, then the tape is discarded
    (no backward). ``ops=False`` skips the op-name walk (faster on big graphs).
    Extra keyword arguments go to :class:`PropagationManager`.
    """
    if "sites" not in manager_kwargs and getattr(program, "sites", None):
        manager_kwargs["sites"] = program.sites
    pm = PropagationManager(plan=plan, default=default, **manager_kwargs)
    pm.record_edges = True
    try:
        try:
            program(pm)
        except RegroupError:  # a coupled node learnt its grouping: draw upstream in groups
            pm.discard()
            program(pm)
        tape = pm.tape
        owners = walk.owners(tape)
        instances = [_describe(n) for n in tape]
        edges: list[tuple[str, str]] = []
        op_names: dict[str, list[str]] = {}
        for node in tape:
            nid = site_id(node.site, node.instance)
            parents, names = walk.parents(node, owners, pm.params)
            for name in names:
                edges.append((param_id(name), nid))
            for parent in parents:
                edges.append((site_id(parent.site, parent.instance), nid))
            if ops:
                op_names[nid] = walk.ops_between(node, owners)
        params = [
            Param(name, tuple(t.shape), _dtype(t.dtype), str(t.device))
            for name, t in pm.params.items()
        ]
    finally:
        pm.discard()
    order = {p.id: i for i, p in enumerate(params)}
    order.update({inst.id: len(params) + inst.index for inst in instances})
    edges = sorted(dict.fromkeys(edges), key=lambda e: (order[e[1]], order[e[0]]))
    return Graph(
        instances=instances,
        params=params,
        instance_edges=edges,
        plan=Plan.from_dict(plan),
        default=default,
        op_names=op_names,
    )
