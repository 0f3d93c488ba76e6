"""The propagator interface.

A propagator decides, for each node it serves, what the program receives and
what is stored on the forward pass (:meth:`forward`), and which messages the
node sends to earlier nodes on the backward pass (:meth:`backward`).

The backward pass visits nodes in reverse order. Each node's cost-to-go
(message kind "cost") is passed on to the node before it by the manager after
``backward`` returns. Gradients travel through PyTorch's autograd: a
propagator hands ``(tensors, grads)`` pairs to :meth:`BackwardPass.backprop`,
and reads the gradient that arrived at its own detached output with
:meth:`BackwardPass.grad` (set ``reads_grad = True`` so the manager delivers
everything pending first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch

if TYPE_CHECKING:
    from .coupling import Coupling
    from .node import Node
    from .passes import BackwardPass, ForwardPass
    from .registry import Entry


class Propagator:
    #: the gradient message at this node's output is needed in ``backward``
    reads_grad: ClassVar[bool] = False
    #: messages addressed to nodes served by this propagator go to the node before
    routes_past: ClassVar[bool] = False
    #: draws its node's particles in coupled groups: :meth:`coupling` says how
    coupled: ClassVar[bool] = False

    #: no backward work of its own (set for each subclass): a pass that nobody
    #: observes does not visit its nodes and routes their cost-to-go past them
    idle: ClassVar[bool] = True

    entry: Entry | None = None
    options: dict[str, Any] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.idle = cls.backward is Propagator.backward and not cls.reads_grad and not cls.coupled

    @property
    def name(self) -> str:
        return self.entry.name if self.entry is not None else type(self).__name__

    def forward(self, node: Node, fp: ForwardPass) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def coupling(self, node: Node) -> Coupling:
        """How a coupled propagator groups this node's particles (see :mod:`.coupling`).

        Called before :meth:`forward` when ``coupled`` is True; may depend on the
        node's distribution (its number of outcomes, its dimension).
        """
        raise NotImplementedError(f"{type(self).__name__} sets coupled but not coupling()")

    def backward(self, node: Node, bp: BackwardPass) -> None:
        """Default: nothing beyond what autograd already does."""

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({opts})"
