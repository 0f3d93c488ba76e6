"""A node: one hit of a named site by the program.

A node knows its site, its instance (the how-many-th hit of that site in this
iteration), the iteration, its kind, its propagator, what the propagator stored
on the forward pass and what it has received on the backward pass. Its parents
(earlier nodes and parameters its inputs depend on) are not recorded: tracing
reads them off the autograd graph when it needs them (:mod:`proppo_lab.trace.walk`),
so recording a node costs almost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from .messages import Inbox

if TYPE_CHECKING:
    from .propagator import Propagator


def dist_tensors(dist) -> tuple[torch.Tensor, ...]:
    """The tensors a distribution was built from (loc and scale, logits, ...)."""
    out = []
    for key in getattr(dist, "arg_constraints", {}):
        value = dist.__dict__.get(key)
        if isinstance(value, torch.Tensor):
            out.append(value)
    return tuple(out)


class Node:
    # slots: a node is created at every hit of every site, so it is kept lean
    __slots__ = (
        "site",
        "instance",
        "kind",
        "index",
        "propagator",
        "dist",
        "output",
        "saved",
        "inbox",
        "prev",
        "iteration",
        "coupling",
        "weight",
        "function",
        "_inputs",
    )

    def __init__(
        self,
        site: str,
        instance: int,
        kind: str,
        index: int,
        propagator: Propagator,
        inputs: tuple[torch.Tensor, ...] | None = None,
        dist: Any = None,
        prev: Node | None = None,
        iteration: int = 0,
        function: Callable[..., torch.Tensor] | None = None,
    ):
        self.site = site
        self.instance = instance
        self.kind = kind  # "sample", "forward" or "loss"
        self.index = index  # position on the tape (creation order)
        self.propagator = propagator
        self.dist = dist  # the torch Distribution of a sample node
        self.output: torch.Tensor | None = None  # what the program received
        self.saved: dict = {}  # what the propagator stored going forward
        self.inbox = Inbox()  # what it received going back
        self.prev = prev  # the node recorded just before: gets the cost-to-go
        self.iteration = iteration  # the manager's iteration counter when it was recorded
        #: the grouping of this node's particles (see :mod:`.coupling`): set on a
        #: coupled node and on the nodes upstream of it, which draw one value per group
        self.coupling = None
        #: per-particle weights set by a coupled node upstream (None: all 1)
        self.weight: torch.Tensor | None = None
        #: a function node's function or module: its value is ``function(*inputs)``
        self.function = function
        self._inputs = inputs

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        """What the node's value was computed from: the distribution's tensors
        for a sample node (read when first needed), a function node's arguments,
        the value for the others."""
        if self._inputs is None:
            self._inputs = dist_tensors(self.dist) if self.dist is not None else ()
        return self._inputs

    @inputs.setter
    def inputs(self, value: tuple[torch.Tensor, ...]) -> None:
        self._inputs = tuple(value)

    def evaluate(self, inputs: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """A forward node's value as the program wrote it: the function applied
        to its inputs (a function node) or the value it was given; ``inputs``:
        the same inputs changed (some detached, as truncation cuts them).

        Propagators that do not care how the value was made call this; those
        that replace the function's backward map call ``node.function`` themselves.
        """
        inputs = self.inputs if inputs is None else inputs
        if self.function is None:
            return inputs[0]
        out = self.function(*inputs)
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"the function {self.function_name} returned {type(out).__name__}, not a tensor"
            )
        return out

    @property
    def function_name(self) -> str | None:
        """What the graph shows on a function node: the module's class or the function's name."""
        fn = self.function
        if fn is None:
            return None
        if isinstance(fn, torch.nn.Module):
            return type(fn).__name__
        return getattr(fn, "__name__", type(fn).__name__)

    def weighted(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (particles, ...) times this node's particle weights, as the
        estimate counts its particles; ``x`` itself where there are none."""
        if self.weight is None:
            return x
        return x * self.weight.reshape(-1, *[1] * (x.dim() - 1))

    @property
    def label(self) -> str:
        return f"{self.site}[{self.instance}]"

    @property
    def propagator_name(self) -> str:
        return self.propagator.name

    def __repr__(self) -> str:
        return f"Node({self.label}, {self.kind}, {self.propagator_name})"


def forward_arguments(site: str, fn, inputs: tuple) -> tuple[tuple[torch.Tensor, ...], Any]:
    """``pm.forward``'s arguments as (inputs, function): a value, or a function and its inputs."""
    if isinstance(fn, torch.Tensor):
        if inputs:
            raise TypeError(
                f"forward('{site}', x): a value takes no inputs; to make a function "
                f"node pass the function first: pm.forward('{site}', fn, *inputs)"
            )
        return (fn,), None
    if not callable(fn):
        raise TypeError(
            f"forward('{site}'): expected a tensor or a function/module and its "
            f"inputs, got {type(fn).__name__}"
        )
    if not inputs:
        raise TypeError(f"forward('{site}', fn): a function node needs at least one input")
    for i, t in enumerate(inputs):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"forward('{site}', fn, ...): input {i} is a {type(t).__name__}, not "
                "a tensor; bind constants into the function (functools.partial)"
            )
    return tuple(inputs), fn


def previous_instance(node: Node) -> Node | None:
    """The node recorded at the previous instance of ``node``'s site in this
    iteration (None at instance 0): the walk back along the tape stops at the
    first node of the same site, so it costs the nodes recorded in between."""
    before = node.prev
    while before is not None and before.site != node.site:
        before = before.prev
    return before


def chained_slot(node: Node, before: Node | None) -> int | None:
    """Which of ``node``'s inputs *is* ``before``'s output (None: none is): in a
    recurrent loop ``h = pm.forward(site, cell, x_t, h)`` the state that each
    step hands the next, as opposed to the step's own inputs."""
    if before is None or before.output is None:
        return None
    return next((i for i, t in enumerate(node.inputs) if t is before.output), None)
