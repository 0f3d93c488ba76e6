"""The computation graph of a program: sites, instances, parameters, losses, edges.

Why a captured graph: a person assigns propagators to *sites*, but a program is
only code. Running it once under tracing (:func:`~.capturing.capture`) turns it
into data that a UI can draw and a plan can colour.

The graph stores what the program *is* (sites, instances, shapes, edges) and
not which plan served it, so recolouring with another plan is a pure function
of (graph, plan) and needs no re-trace: :meth:`Graph.to_json` (the views'
nodes and edges, :mod:`.graph_views`) and :meth:`Graph.to_dot` (:mod:`.dot`)
take the plan as an argument. Node and edge ids are :mod:`.ids`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..contracts import LOSS_COLOUR, PARAM_COLOUR
from ..core import registry
from ..core.plan import Plan, parse_default
from . import graph_views
from .ids import param_id, rolled_id, site_id


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
    #: a function node's function (module class or function name)
    function: str | None = None

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
        return [n["id"] for n in graph_views.nodes(self, view, self.plan, self.default)]

    def edge_ids(self, view: str = "rolled") -> list[str]:
        return [e["id"] for e in graph_views.edges(self, view)]

    @staticmethod
    def rolled_id(node_id: str) -> str:
        """The rolled id of any node id (an unrolled instance maps to its site)."""
        return rolled_id(node_id)

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
            "nodes": graph_views.nodes(self, view, plan, default),
            "edges": graph_views.edges(self, view),
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
