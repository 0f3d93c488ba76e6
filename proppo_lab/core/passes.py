"""What a propagator can do: the forward pass and the backward pass it is handed.

:class:`ForwardPass` is what ``Propagator.forward`` may do while the program
runs (cut the autograd graph, keep state, report gradients to observers).
:class:`BackwardPass` is one backward pass: reading and sending messages, and
the bookkeeping that keeps it cheap:

* **batched autograd**: gradient terms handed to :meth:`BackwardPass.backprop`
  are delivered in one ``torch.autograd.backward`` call just before a node that
  reads its gradient, so a plan of only RP (or only LR) nodes costs one pass;
* **deferred work**: terms no later node waits for are computed together
  (:meth:`BackwardPass.defer`), one stacked step for many nodes;
* **finiteness checks**: batched, one host read per delivery on the CPU and one
  per pass on a GPU, raising :class:`NonFiniteError` naming the node; they
  cover what autograd delivers to the named parameters too;
* **per-particle shares** of the estimate, when the manager asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch

from . import per_particle
from .errors import NonFiniteError, located
from .finite import all_finite, finite_flags
from .messages import Merge, Message
from .node import Node
from .scratch import PassScratch

if TYPE_CHECKING:
    from .manager import PropagationManager


class ForwardPass:
    """What a propagator may do while the program runs forward."""

    def __init__(self, manager: PropagationManager):
        self.manager = manager

    def detach(self, node: Node, x: torch.Tensor, *, grad: bool) -> torch.Tensor:
        """Cut the autograd graph at ``x``: the program continues from a fresh leaf.

        With ``grad=True`` the gradient that later reaches the leaf is this
        node's incoming gradient message (:meth:`BackwardPass.grad`). The leaf
        also requires grad while edges are being recorded, so the graph of the
        program stays visible whatever the plan; a discrete value (integers:
        a Categorical's index) cannot require grad, and no gradient path leaves
        it anyway, so the graph shows its edges only where a float follows.
        """
        leaf = x.detach()
        if grad or (self.manager.record_edges and leaf.is_floating_point()):
            leaf.requires_grad_(True)
        node.saved["leaf"] = leaf
        return leaf

    def state(self, node: Node) -> dict:
        return self.manager._state_for(node)

    def weigh(self, node: Node, weights: torch.Tensor) -> None:
        """Weigh this coupled node's particles (N,) from here on (see :mod:`.coupling`).

        Later losses and later nodes' score terms are weighted by them, and the
        cost-to-go this node passes upstream is; the node itself reads its
        members' costs unweighted.
        """
        weights = weights.detach()
        node.saved["weights"] = weights
        self.manager.grouping.weigh(weights)

    def watch(self, node: Node, x: torch.Tensor) -> torch.Tensor:
        """Report the gradient reaching ``x`` as a "grad" message to observers.

        Only when ``manager.watch_grads`` is on (the lab turns it on to show
        gradients flowing back through RP and Backprop nodes, which otherwise
        travel inside one autograd pass). A tensor hook: no extra pass, no
        change to the estimate.
        """
        listeners = self.manager._listeners
        if self.manager.watch_grads and x.requires_grad and listeners.message_sent:

            def report(g, node=node):
                message = Message("grad", g, Merge.REPLACE, node)
                for handler in listeners.message_sent:
                    handler(message, node)

            x.register_hook(report)
        return x


class BackwardPass:
    """One backward pass: pending gradient terms, message delivery, finiteness checks."""

    def __init__(self, manager: PropagationManager):
        self.manager = manager
        listeners = manager._listeners
        self._tensors: list[torch.Tensor] = []
        self._grads: list[torch.Tensor] = []
        self._last_sender: Node | None = None
        self._checks: list[tuple[Node, str, torch.Tensor]] = []
        #: the tape's end not yet covered by a delivery (see _check_params)
        self._undelivered = len(manager._tape)
        #: finiteness flags computed on a GPU, read once when the pass finishes
        self._unread_flags: list[tuple[list, torch.Tensor]] = []
        #: the message_sent handlers for this whole pass (empty: no message events built)
        self._message_handlers = listeners.message_sent
        #: nobody watches this pass: nodes without backward work are not visited
        #: and cost messages skip them (their inboxes stay empty)
        self.quiet = not (
            listeners.message_sent or listeners.backward_started or listeners.backward_finished
        )
        #: per-pass memory for propagators (advantages, TP's weights, ...)
        self.scratch = PassScratch()
        self._particles = (
            per_particle.ParticleAccumulator(manager.params) if manager.per_particle else None
        )
        self._deferred_work: dict[Callable, list] = {}

    # -- reading messages -------------------------------------------------
    def cost(self, node: Node) -> torch.Tensor | None:
        """Per-particle cost-to-go at ``node`` (None when no cost lies downstream)."""
        return node.inbox.get("cost")

    def group_costs(self, node: Node) -> torch.Tensor | None:
        """A coupled node's cost-to-go per group and member: (groups, size), or None."""
        cost = node.inbox.get("cost")
        return None if cost is None else node.coupling.split(cost)

    def grad(self, node: Node) -> torch.Tensor:
        """The gradient that reached the node's detached output (zeros if none did)."""
        leaf = node.saved.get("leaf")
        if leaf is None:
            raise RuntimeError(
                "grad() needs the propagator to call fp.detach(..., grad=True) in forward"
            )
        g = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
        self.check(node, "incoming gradient", g)
        node.inbox.put(Message("grad", g, Merge.REPLACE))
        return g

    def state(self, node: Node) -> dict:
        """State kept across iterations for this (site, instance): baselines, weights."""
        return self.manager._state_for(node)

    # -- sending messages -------------------------------------------------
    def _tell(self, message: Message, target: Node | None) -> None:
        for handler in self._message_handlers:
            handler(message, target)

    def send(
        self, sender: Node, target: Node | None, kind: str, content: Any, merge: Merge = Merge.SUM
    ) -> None:
        """Deliver a message to ``target`` (skipping nodes whose propagator routes past)."""
        quiet = self.quiet
        while target is not None and (
            target.propagator.routes_past or (quiet and target.propagator.idle)
        ):
            target = target.prev
        if target is None:
            return
        message = Message(kind, content, merge, sender)
        target.inbox.put(message)
        if self._message_handlers:
            self._tell(message, target)

    def note(self, sender: Node, kind: str, content: Any) -> None:
        """Record a diagnostic at the node itself (TP weights, baselines) for observers
        (in a pass nobody observes it is dropped)."""
        if self.quiet:
            return
        sender.inbox.put(Message(kind, content, Merge.REPLACE, sender))
        if self._message_handlers:
            self._tell(Message(kind, content, Merge.REPLACE, sender), sender)

    def defer(self, work: Callable[[list, BackwardPass], None], item: Any) -> None:
        """Queue ``item`` for ``work(items, bp)``, run just before the next delivery.

        For terms no later node waits for, so that many nodes' terms are
        computed in one stacked step (``work`` calls :meth:`backprop`).
        """
        self._deferred_work.setdefault(work, []).append(item)

    def backprop(
        self, sender: Node, tensors: Iterable[torch.Tensor], grads: Iterable[torch.Tensor]
    ) -> None:
        """Hand gradient terms to autograd; they are delivered at the next flush."""
        for t, g in zip(tensors, grads):
            if not t.requires_grad:
                continue
            self.check(sender, "gradient sent backwards", g)
            if self._particles is not None:
                self._particles.add(t, g)
            self._tensors.append(t)
            self._grads.append(g)
            if self._message_handlers:
                self._tell(Message("backprop", g, Merge.SUM, sender), None)
        self._last_sender = sender

    def backprop_each(
        self, senders: list[Node], tensors: list[torch.Tensor], grads: torch.Tensor
    ) -> None:
        """One term per sender: ``tensors[k]`` of ``senders[k]`` receives ``grads[k]``.

        With nobody watching the messages, the terms enter autograd as one
        stacked root (autograd's per-root bookkeeping would otherwise dominate a
        long run of small nodes); each sender's gradient is still checked.
        """
        if (
            self._message_handlers
            or self._particles is not None
            or not all(t.requires_grad for t in tensors)
        ):
            for node, t, g in zip(senders, tensors, grads):
                self.backprop(node, [t], [g])
            return
        self.check(senders, "gradient sent backwards", grads)
        self._tensors.append(torch.stack(tensors))
        self._grads.append(grads)
        self._last_sender = senders[-1]

    def flush(self, last: bool = False, before: Node | None = None) -> None:
        """Deliver pending gradient terms in one autograd call.

        ``before``: the node about to read its gradient (None: the end of the
        pass). A segment of the graph can feed several nodes (``s = 0.9 * s + a``
        feeds both the cost and the next node), so every delivery but the
        last keeps the graph; it is dropped with the tape.
        """
        while self._deferred_work:
            work, items = self._deferred_work.popitem()
            work(items, self)
        self._verify()
        if not self._tensors:
            return
        tensors, grads = self._tensors, self._grads
        self._tensors, self._grads = [], []
        try:
            torch.autograd.backward(tensors, grads, retain_graph=not last)
        except Exception as err:  # e.g. raised in a custom autograd Function's backward
            raise located(
                err,
                self._last_sender,
                phase="backward",
                iteration=self.manager.iteration,
                message=f"autograd failed delivering gradients: {err}",
            ) from err
        self._check_params(before)

    def _check_params(self, before: Node | None) -> None:
        """Queue a check of the named parameters' gradients after a delivery.

        A function whose forward is finite can still give NaN going back
        (``torch.where(h > 100, torch.sqrt(h - 100), h)``: the branch not taken
        has an infinite derivative times 0). Messages are checked before
        delivery; this checks what autograd made of them at the parameters.
        The terms went back through the function nodes recorded between
        ``before`` and the previous delivery; the error names the latest of
        them, where a NaN appears first going back (the sender when there is none).
        """
        low = before.index if before is not None else 0
        window, self._undelivered = self.manager._tape[low : self._undelivered], low
        if not self.manager.check_finite:
            return
        through = next((n for n in reversed(window) if n.kind == "forward"), self._last_sender)
        for name, p in self.manager.params.items():
            if p.grad is not None:
                what = (
                    f"gradient delivered to parameter '{name}' (autograd going back "
                    "through this node's function or an earlier one)"
                )
                self._checks.append((through, what, p.grad))

    # -- checks -----------------------------------------------------------
    def check(self, node: Node | list[Node], what: str, value: torch.Tensor) -> None:
        """Queue a finiteness check of a message; raises NonFiniteError naming the node.

        ``node`` may be a list: then ``value`` stacks one message per node (row k
        is ``node[k]``'s) and the error names the first node whose row is not finite.

        Checks are batched: on the CPU they run (one fused norm, one host read)
        before pending gradients are delivered, so nothing non-finite reaches
        ``.grad``; on a GPU they are collected and read once at the end of the
        pass, so the backward loop never waits for the device.
        """
        if self.manager.check_finite:
            self._checks.append((node, what, value))

    def _verify(self) -> None:
        if not self._checks:
            return
        checks, self._checks = self._checks, []
        values = [v for _, _, v in checks]
        if values[0].is_cuda:
            self._unread_flags.append((checks, finite_flags(values)))
        elif not all_finite(values):  # now find which
            ok = finite_flags(values)
            self._raise_nonfinite(checks[int((~ok).nonzero()[0])])

    def _raise_nonfinite(self, check: tuple):
        node, what, value = check
        if isinstance(node, list):  # stacked messages: the first node whose row is not
            rows = finite_flags(list(value))
            node = node[int((~rows).nonzero()[0])]
        raise NonFiniteError.at(
            node,
            f"{what} is not finite (NaN or inf)",
            phase="backward",
            iteration=self.manager.iteration,
        )

    def finish(self) -> None:
        self.flush(last=True)  # runs deferred work first: its terms count too
        if self._particles is not None:
            # a coupled node's groups are the samples, not its particles
            coupled = self.manager.grouping.coupled_node
            self.manager.particle_gradients = self._particles.result(
                coupled.coupling if coupled is not None else None
            )
        self._verify()
        if self._unread_flags:
            flags = torch.cat([ok for _, ok in self._unread_flags]).cpu()
            if not bool(flags.all()):
                checks = [c for batch, _ in self._unread_flags for c in batch]
                self._raise_nonfinite(checks[int((~flags).nonzero()[0])])

    def pass_cost(self, node: Node) -> None:
        cost = node.inbox.get("cost")
        if cost is not None and node.prev is not None:
            weights = node.saved.get("weights")  # a coupled node's: upstream sees the weighted
            self.send(node, node.prev, "cost", cost if weights is None else cost * weights)
