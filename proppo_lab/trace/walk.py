"""The autograd graph between nodes: which earlier nodes and parameters a node depends on.

The engine records no edges (a node costs almost nothing); tracing reads them
off autograd while the tape is alive, before ``backward`` frees the graph.
Every walk stops at other nodes' outputs, so it costs the size of the node's
own segment of the graph, not of the whole program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from ..core.node import Node


def _key(t: torch.Tensor) -> Any:
    # a leaf is known by itself, any other tensor by the op that produced it
    return t if t.grad_fn is None else t.grad_fn


def owners(tape: Iterable[Node]) -> dict[Any, Node]:
    """Which node produced each output, keyed as the walks meet them in the graph."""
    return {_key(n.output): n for n in tape if n.output is not None}


def _walk(stack: list, visit: Callable[[Any], bool]) -> None:
    """Visit each autograd function reachable from ``stack`` once; go on past it
    only where ``visit(fn)`` says so (the walks stop at other nodes' outputs)."""
    seen: set = set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if visit(fn):
            stack.extend(next_fn for next_fn, _ in fn.next_functions)


def parents(
    node: Node, owners: Mapping[Any, Node], params: Mapping[str, torch.Tensor]
) -> tuple[list[Node], list[str]]:
    """Earlier nodes (in tape order) and named parameters that ``node``'s inputs
    depend on; a function node's module also feeds it its own named parameters."""
    by_tensor = {id(t): name for name, t in params.items()}
    nodes: list[Node] = []
    names: list[str] = []
    if isinstance(node.function, torch.nn.Module):
        names.extend(by_tensor[id(p)] for p in node.function.parameters() if id(p) in by_tensor)
    stack = []
    for t in node.inputs:
        owner = owners.get(_key(t))
        if owner is not None and owner is not node:
            nodes.append(owner)
        elif t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif id(t) in by_tensor:
            names.append(by_tensor[id(t)])

    def visit(fn) -> bool:
        owner = owners.get(fn)
        if owner is not None and owner is not node:
            if owner not in nodes:
                nodes.append(owner)
            return False
        variable = getattr(fn, "variable", None)  # AccumulateGrad: a leaf tensor
        if variable is not None:
            owner = owners.get(variable)
            if owner is not None and owner not in nodes:
                nodes.append(owner)
            elif id(variable) in by_tensor and by_tensor[id(variable)] not in names:
                names.append(by_tensor[id(variable)])
            return False
        return True

    _walk(stack, visit)
    nodes.sort(key=lambda n: n.index)
    return nodes, names


def ops_between(node: Node, owners: Mapping[Any, Node]) -> list[str]:
    """Op names on the autograd paths from ``node``'s inputs back to other nodes/leaves."""
    names: list[str] = []

    def visit(fn) -> bool:
        owner = owners.get(fn)
        if owner is not None and owner is not node:
            return False
        if owner is None and type(fn).__name__ != "AccumulateGrad":
            names.append(type(fn).__name__)
        return True

    _walk([t.grad_fn for t in node.inputs if t.grad_fn is not None], visit)
    names.reverse()  # roughly parents first
    return names
