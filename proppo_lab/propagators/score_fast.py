"""The score-function part, fast: the terms of
:class:`.parts.ScoreFunctionReference` by routes that spare most of its work.

Each route gives the reference's terms exactly (``tests/test_score_fast.py``
checks them against each other on the same noise):

* **Normal cotangents.** For torch's ``Normal`` (decided once per node, in
  ``forward``) the score is written out in the kept noise
  (:func:`.normal.score_cotangents`): no log-density graph per node.
* **One advantage per loss.** Nodes before the same loss share one cost-to-go
  tensor; a baseline that keeps no state and reads only the costs gives them
  all the same advantage, computed once per pass (``bp.scratch.advantage``).
* **Stacked delivery.** A score term reads no gradient, so nothing downstream
  waits for it: a run of Normal nodes with such a baseline leaves its terms to
  one stacked computation at the next delivery (:func:`_score_terms_stacked`).
"""

from __future__ import annotations

import torch

from ..core import particles
from ..core.node import Node
from ..core.passes import BackwardPass
from . import baselines, normal
from .parts import ScoreFunctionReference, Terms

#: baselines that keep no state per node: their advantage can be shared and stacked
STATELESS = ("loo", "none")


class ScoreFunction(ScoreFunctionReference):
    """The likelihood-ratio part: (cost-to-go - baseline) times d log p.

    ``density(node, x)`` gives the distribution whose log-density is used; by
    default the node's own distribution. The same estimate as
    :class:`.parts.ScoreFunctionReference`, faster (see the module's docstring).
    """

    title = "LR (score function)"

    def forward(self, node, x, fp):
        if self.density is None and normal.is_normal(node.dist):
            return  # written out from the noise: terms() finds no "logp"
        super().forward(node, x, fp)

    def terms(self, node, bp):
        if "logp" in node.saved:
            return super().terms(node, bp)
        cost = bp.cost(node)
        if cost is None:
            return [], []
        b, w = self.advantage(node, cost, bp)
        bp.note(node, "baseline", b)
        dist = node.dist
        return _normal_terms(
            node,
            *normal.score_cotangents(
                w,
                normal.standard_noise(node),
                dist.scale.detach(),
                dist.loc.requires_grad,
                dist.scale.requires_grad,
            ),
        )

    def shares_advantage(self, node: Node) -> bool:
        """Whether this node's advantage is the one of every node before the same
        loss: a stateless baseline of the costs alone, no coupling, no weights."""
        return (
            self.baseline_name in STATELESS
            and node.coupling is None
            and node.weight is None
            and not baselines.wants_inputs(self.baseline)
        )

    def advantage(self, node: Node, cost: torch.Tensor, bp: BackwardPass):
        if not self.shares_advantage(node):
            return super().advantage(node, cost, bp)
        seen = bp.scratch.advantage(self.baseline_name, cost)
        if seen is None:
            seen = super().advantage(node, cost, bp)
            bp.scratch.keep_advantage(self.baseline_name, cost, *seen)
        return seen

    def defer(self, node: Node, bp: BackwardPass, weight: float) -> bool:
        """Leave a Normal node's terms to one stacked computation at the next delivery."""
        if "logp" in node.saved or not self.shares_advantage(node):
            return False
        cost = bp.cost(node)
        if cost is not None:
            bp.defer(_score_terms_stacked, (node, cost, self, weight))
        return True


def _normal_terms(node, g_loc, g_scale) -> Terms:
    tensors, grads = [], []
    for t, g in ((node.dist.loc, g_loc), (node.dist.scale, g_scale)):
        if t.requires_grad:
            tensors.append(t)
            grads.append(g)
    return tensors, grads


def _score_terms_stacked(items, bp: BackwardPass) -> None:
    """The deferred score terms of many nodes: one stacked computation per group
    of nodes with the same shapes, baseline and weight."""
    groups: dict[tuple, list] = {}
    for node, cost, part, weight in items:
        x, dist = node.saved["value"], node.dist
        key = (
            part.baseline_name,
            tuple(x.shape),
            x.dtype,
            x.device,
            weight,
            dist.loc.requires_grad,
            dist.scale.requires_grad,
        )
        groups.setdefault(key, []).append((node, cost, part))
    for (*_, weight, want_loc, want_scale), members in groups.items():
        part = members[0][2]
        nodes = [node for node, _, _ in members]
        # nodes before the same loss share one cost-to-go tensor, and a program's
        # noise scale is often one tensor broadcast to every node: each is computed
        # with once, not once per node
        costs, rows = _distinct([cost for _, cost, _ in members], id)
        b = part.baseline(costs, {}, part.options)
        w = weight * (costs - b) / particles.count(costs.shape[-1])
        w, b = _per_node(w, rows), _per_node(b, rows)
        scales = _per_node(*_distinct([n.dist.scale.detach() for n in nodes], _same_values))
        g_loc, g_scale = normal.score_cotangents(
            w,
            torch.stack([normal.standard_noise(n).detach() for n in nodes]),
            scales,
            want_loc,
            want_scale,
        )
        if not bp.quiet:  # notes are for observers
            for k, node in enumerate(nodes):
                bp.note(node, "baseline", b[k if b.shape[0] > 1 else 0])
        if g_loc is not None:
            bp.backprop_each(nodes, [n.dist.loc for n in nodes], g_loc)
        if g_scale is not None:
            bp.backprop_each(nodes, [n.dist.scale for n in nodes], g_scale)


def _distinct(tensors: list[torch.Tensor], identity) -> tuple[torch.Tensor, list | None]:
    """The distinct ``tensors`` stacked, and which row is each tensor's (None when
    every tensor has its own row, or one row stands for all and broadcasts)."""
    keys: dict = {}
    distinct: list[torch.Tensor] = []
    rows = []
    for t in tensors:
        row = keys.setdefault(identity(t), len(keys))
        if row == len(distinct):  # a new one
            distinct.append(t)
        rows.append(row)
    stacked = torch.stack(distinct)
    return stacked, (None if len(distinct) in (1, len(tensors)) else rows)


def _per_node(stacked: torch.Tensor, rows: list | None) -> torch.Tensor:
    """One row per node from :func:`_distinct`'s rows (no index tensor: on a GPU
    one would be copied from the host)."""
    return stacked if rows is None else torch.stack([stacked[k] for k in rows])


def _same_values(t: torch.Tensor) -> tuple:
    """Tensors with this key hold the same numbers (views of one memory, laid out alike)."""
    return (t.data_ptr(), t.shape, t.stride(), t.dtype, t.device)
