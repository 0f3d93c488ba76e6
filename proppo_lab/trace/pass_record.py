"""One backward pass, as the recorder keeps it: device scalars first, records on read.

Why two steps: while a pass runs, :class:`PassNorms` keeps *tensors* (norms of
fresh gradient terms, references to cost-to-go tensors that the inboxes hold
anyway, TP weights, baseline means); :meth:`PassNorms.capture` takes the
remaining norms in one fused call (deduplicated: the cost-to-go is one tensor
passed along the chain) and keeps light node descriptors instead of the nodes,
whose autograd graphs would otherwise stay alive. :func:`build` turns a
captured pass into records with one host sync, when someone reads it.

Under a :class:`~proppo_lab.ShardedManager` a rank holds its own particles'
messages: the norms are taken over every rank's particles (one all_reduce of
the squared norms per pass), and the baselines' means likewise.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..core import particles
from .ids import site_id
from .scalars import norms, to_floats


def rss(values) -> float:
    """Root-sum-square: the norm of several messages taken together."""
    return math.sqrt(sum(v * v for v in values))


class _Light:
    """What the records need of a node, without holding the node."""

    __slots__ = ("site", "instance", "kind", "propagator_name")

    def __init__(self, node):
        self.site, self.instance, self.kind = node.site, node.instance, node.kind
        self.propagator_name = None if node.kind == "loss" else node.propagator_name


class PassNorms:
    """What the nodes sent during one backward pass, as device tensors."""

    def __init__(self):
        self._sent: list[tuple[Any, Any, str, torch.Tensor]] = []
        self._weights: list[tuple[Any, dict]] = []
        self._baselines: list[tuple[Any, torch.Tensor]] = []

    def add(self, message, target) -> None:
        """Keep one message's size (the observer's ``message_sent``)."""
        kind, content, sender = message.kind, message.content, message.sender
        if kind == "weights":
            self._weights.append((sender, dict(content)))
        elif kind == "baseline":
            if isinstance(content, torch.Tensor):
                self._baselines.append(
                    (sender, particles.mean(content.detach().float().reshape(-1)))
                )
        elif kind == "cost" and isinstance(content, torch.Tensor):
            # the cost-to-go lives in the target's inbox for the whole pass anyway:
            # keep the reference, take all its norms at the end (deduplicated)
            self._sent.append((sender, target, kind, content))
        elif isinstance(content, torch.Tensor):
            # a fresh gradient term: take its norm now so the term can be freed
            self._sent.append(
                (sender, target, kind, torch.linalg.vector_norm(content.detach().float()))
            )

    def capture(self, tape) -> tuple:
        """The pass as device scalars and light node descriptors: no host sync, and
        no reference to the nodes (which would keep their autograd graphs alive)."""
        scalars: list = []
        pending: dict[int, tuple[torch.Tensor, list[int]]] = {}  # id -> (tensor, slots)

        def slot(value) -> int:
            scalars.append(value)
            return len(scalars) - 1

        def norm_slot(t: torch.Tensor) -> int:
            i = slot(None)
            pending.setdefault(id(t), (t, []))[1].append(i)
            return i

        light = {id(n): _Light(n) for n in tape}

        def lite(node):
            return None if node is None else light.get(id(node)) or _Light(node)

        inbox = []
        for node in tape:
            grad = node.inbox.get("grad")
            cost = node.inbox.get("cost")
            inbox.append(
                (
                    lite(node),
                    norm_slot(grad) if isinstance(grad, torch.Tensor) else None,
                    norm_slot(cost) if isinstance(cost, torch.Tensor) else None,
                )
            )
        sent = [
            (lite(s), lite(t), k, norm_slot(n) if n.dim() else slot(n)) for s, t, k, n in self._sent
        ]
        for t, norm in zip(
            (t for t, _ in pending.values()), norms([t for t, _ in pending.values()])
        ):
            for i in pending[id(t)][1]:
                scalars[i] = norm
        if particles.current() is not None and scalars:  # every slot so far holds a norm
            squares = torch.stack([s.reshape(()).float() for s in scalars]) ** 2
            scalars = list(particles.summed(squares).sqrt())
        weights = [(lite(s), {k: slot(v) for k, v in w.items()}) for s, w in self._weights]
        baselines = [(lite(s), slot(b)) for s, b in self._baselines]
        return inbox, sent, weights, baselines, scalars


def build(raw) -> dict[str, dict]:
    inbox, sent, weights, baselines, scalars = raw
    values = to_floats(scalars)  # the one host sync of the pass

    records: dict[str, dict] = {}
    for node, g, c in inbox:
        rec = records[site_id(node.site, node.instance)] = {
            "site": node.site,
            "instance": node.instance,
            "kind": node.kind,
            "propagator": None if node.kind == "loss" else node.propagator_name,
            "sent": [],
            "messages": {},
        }
        if g is not None:
            rec["messages"]["grad"] = values[g]
        if c is not None:
            rec["messages"]["cost"] = values[c]
    backprop: dict[str, list[float]] = {}
    for s, t, k, i in sent:
        sid = site_id(s.site, s.instance)
        to = "autograd" if t is None else site_id(t.site, t.instance)
        records[sid]["sent"].append({"to": to, "kind": k, "norm": values[i]})
        if k == "backprop":
            backprop.setdefault(sid, []).append(values[i])
    for sid, terms in backprop.items():
        records[sid]["messages"]["backprop"] = rss(terms)
    for s, w in weights:
        records[site_id(s.site, s.instance)]["weights"] = {k: values[i] for k, i in w.items()}
    for s, i in baselines:
        records[site_id(s.site, s.instance)]["baseline"] = values[i]

    return records
