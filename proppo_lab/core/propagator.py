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
    """What one kind of node does going forward and coming back.

    Subclass it, register it (``@pl.register(name, colour=..., kinds=...,
    options=...)``; its options arrive as keyword arguments of ``__init__``)
    and name it in a plan. The engine makes one instance per propagator and
    options, shared by every node it serves, so keep per-node data in
    ``node.saved`` (this iteration) or ``fp.state(node)`` / ``bp.state(node)``
    (across iterations), never on ``self``.

    **forward(node, fp) -> tensor.** Called when the program reaches the node.
    It returns the value the program continues with, with particles on dim 0:

    * a sample node (``pm.sample(site, dist)``) has ``node.dist``, a torch
      distribution. ``node.dist.rsample()`` keeps the pathwise graph (RP);
      ``fp.detach(node, x, grad=True)`` cuts the graph at ``x`` and hands the
      gradient that later reaches the returned leaf to ``backward`` as
      ``bp.grad(node)``; ``node.dist.sample()`` draws without a graph (LR).
    * a forward node (``pm.forward(site, fn, *inputs)``) has ``node.function``
      and ``node.inputs``; ``node.evaluate()`` runs it as plain PyTorch would.
      It must return a tensor (a tuple is refused, naming the site).

    ``node.saved`` keeps what ``backward`` needs (the draw, the noise).

    **backward(node, bp).** Called in reverse order of the forward pass, for
    every node whose propagator has backward work (see ``idle``). It reads
    messages and sends its own:

    * ``bp.cost(node)``: the per-particle cost-to-go, (N,), the sum of every
      loss recorded after the node (None when none was); the engine passes it
      on to the node before after ``backward`` returns;
    * ``bp.grad(node)``: the gradient that reached the leaf from
      ``fp.detach(..., grad=True)``. It is the gradient of the *mean* loss, so
      each particle's row already carries the 1/N factor (a per-particle clip
      must clip ``N * g``, or scale its threshold by 1/N);
    * ``bp.backprop(node, tensors, grads)``: hand gradient terms to autograd
      (delivered in one batched call with other nodes' terms); every term is
      checked for finiteness and a non-finite one names this node;
    * ``bp.note(node, kind, value)``: a diagnostic for observers and the Lab
      (``"weights"``, ``"baseline"``, ``"learned_loss"``, your own kind).

    **Class flags** (set them on the subclass):

    * ``reads_grad``: ``backward`` calls ``bp.grad(node)``, so the engine
      delivers every pending gradient term before visiting the node;
    * ``coupled``: the node draws its particles in groups (antithetic pairs,
      one per outcome); :meth:`coupling` returns the grouping
      (:mod:`.coupling`), and every node upstream draws once per group;
    * ``routes_past``: messages addressed to this node go to the node before
      it (a node that takes itself out of the message path: ``Skip``);
    * ``idle`` is derived, never set: True when the class defines no
      ``backward``, reads no gradient and is not coupled, and then a pass that
      nobody observes does not visit its nodes.

    ``entry`` is the registry's record of the propagator (name, colour,
    options schema), set by ``@pl.register``; ``options`` the validated options.
    """

    reads_grad: ClassVar[bool] = False
    routes_past: ClassVar[bool] = False
    coupled: ClassVar[bool] = False
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
