"""The propagator of loss nodes: where the cost-to-go starts.

Not in the registry: every ``pm.loss`` node uses it and no plan can choose
another, so the manager builds it directly.
"""

from __future__ import annotations

import torch

from . import particles
from .messages import Merge, Message
from .propagator import Propagator


class LossPropagator(Propagator):
    """Adds a per-particle cost: its mean over particles is the objective."""

    def forward(self, node, fp):
        return node.inputs[0]

    def backward(self, node, bp):
        cost = node.inputs[0]
        bp.check(node, "cost", cost)
        node.inbox.put(Message("cost", cost.detach(), Merge.SUM, node))
        share = torch.full_like(cost, 1.0 / particles.count(cost.shape[0]))
        # particles weighted by a coupled node upstream (outcomes by probability) count so
        bp.backprop(node, [cost], [node.weighted(share)])
