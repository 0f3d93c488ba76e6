"""Capture: run a program once under tracing and keep what it *is* as a :class:`Graph`.

Nodes come from the manager's tape, edges from the autograd graph between node
outputs (:mod:`.walk`, read before the tape is discarded, with
``record_edges=True`` so detaching propagators leave their edges visible).
Nothing is propagated: capture costs one forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..core.manager import PropagationManager
from ..core.plan import Plan
from . import walk
from .graph import Graph, Instance, Param
from .ids import param_id, site_id


def _dtype(t: torch.dtype) -> str:
    return str(t).replace("torch.", "")


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
        function=node.function_name,
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
        pm.record(program)
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
