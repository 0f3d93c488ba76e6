"""A node: one hit of a named site by the program.

A node knows its site, its instance (the how-many-th hit of that site in this
iteration), its kind, its propagator, what the propagator stored on the forward
pass and what it has received on the backward pass. Its parents (earlier nodes
and parameters its inputs depend on) are read off the autograd graph on demand
by :meth:`PropagationManager.parents`, so recording a node costs almost nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .messages import Inbox

if TYPE_CHECKING:
    from .propagator import Propagator


@dataclass(eq=False)
class Node:
    site: str
    instance: int
    kind: str                      # "sample", "forward" or "loss"
    index: int                     # position on the tape (creation order)
    propagator: "Propagator"
    inputs: tuple[torch.Tensor, ...] = ()   # what the node's value was computed from
    dist: Any = None               # the torch Distribution of a sample node
    output: torch.Tensor | None = None      # what the program received
    saved: dict = field(default_factory=dict)
    inbox: Inbox = field(default_factory=Inbox)
    prev: "Node | None" = None     # the node recorded just before: receives this node's cost-to-go

    @property
    def label(self) -> str:
        return f"{self.site}[{self.instance}]"

    @property
    def propagator_name(self) -> str:
        return self.propagator.name

    @property
    def particles(self) -> int:
        value = self.output if self.output is not None else (self.inputs[0] if self.inputs else None)
        return int(value.shape[0]) if value is not None and value.dim() else 1

    def __repr__(self) -> str:
        return f"Node({self.label}, {self.kind}, {self.propagator_name})"
