"""Amended backpropagation through time (ABPT; Li et al. 2025): backprop's gradient at a
state, mixed with the gradient of a learned critic of the cost-to-go.

Backpropagating through a rollout differentiates the costs the program wrote
differentiably; a term that is not differentiable (a penalty for leaving the
track, a success bonus, a step function) contributes nothing, so the gradient
is biased wherever such a term matters. A critic ``V(s)`` trained on the
cost-to-go that was actually paid sees every term, and its gradient
``dV/ds`` is a zero-step estimate of how the cost-to-go changes with the
state. ABPT sends back, from each state node,

    (1 - weight) * (the gradient that reached the state by backprop)
      + weight   * (the critic's gradient at the state),

the N-step and the 0-step value gradient of the paper.

The critic is learned state (:mod:`.learned`): one small network per
(site, instance), i.e. per step of the rollout, built on first use, trained
online by one Adam step per backward pass on the node's cost-to-go, and
reported as its learned loss (:func:`.learned.report`: the Lab plots it). It
predicts ``mean + spread * output`` of the tracked cost scale, so the targets
stay near unit size; its last layer starts at zero, so ABPT starts as
(1 - weight) times backprop.
"""

from __future__ import annotations

import torch

from ..core import particles
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import learned
from .parts import draw


@register(
    "ABPT",
    display="Amended BPTT",
    colour="#1b9e77",
    kinds=("sample", "forward"),
    options={
        "weight": Option(
            "float", 0.5, "weight of the critic's gradient (0: backprop, 1: critic)", min=0, max=1
        ),
        "hidden": Option("int", 32, "the critic's hidden units", min=1, max=4096),
        "lr": Option("float", 0.01, "the critic's Adam step size", min=0.0),
    },
    _builtin=True,
)
class ABPT(Propagator):
    """Amended backpropagation through time: the gradient leaving this state
    node mixes backprop's gradient with the gradient of a critic of the
    cost-to-go, learned online in the node's state. The critic sees the costs
    that backprop cannot differentiate (penalties, step functions), so the mix
    repairs backprop's bias where the rewards are only partly differentiable."""

    reads_grad = True

    def __init__(self, weight: float = 0.5, hidden: int = 32, lr: float = 0.01):
        self.weight, self.hidden, self.lr = weight, hidden, lr

    def forward(self, node, fp):
        x = draw(node, "rsample", keep_noise=False)
        node.saved["value"] = x
        return fp.detach(node, x, grad=True)

    def backward(self, node, bp):
        x = node.saved["value"]
        grad = bp.grad(node)
        cost = bp.cost(node)
        if cost is None:  # nothing downstream: nothing to learn or mix
            bp.backprop(node, [x], [grad])
            return
        features = x.detach().reshape(x.shape[0], -1)
        state = bp.state(node)
        critic, optimiser = learned.kept(
            state,
            "critic",
            (features.shape[1], self.hidden),
            lambda: learned.mlp(features.shape[1], self.hidden, zero=True),
            self.lr,
            features,
        )
        mean, spread = learned.cost_scale(state, features)
        with torch.enable_grad():
            at = features.clone().requires_grad_()
            predicted = critic(at).squeeze(-1)
            # d (mean cost) / d state of particle i is (1/N) dV/ds_i, in cost units
            value_grad = torch.autograd.grad(predicted.sum(), at, retain_graph=True)[0]
            value_grad = value_grad * spread / particles.count(x.shape[0])
            # train on this pass's costs-to-go after reading the gradient, so the
            # gradient never fits the very noise it is averaged with
            mean, spread = learned.track_cost(state, cost, decay=0.9)
            loss = ((predicted - (cost.detach() - mean) / spread) ** 2).mean()
        learned.step(optimiser, loss)
        learned.report(bp, node, state, loss)
        mixed = (1 - self.weight) * grad + self.weight * value_grad.reshape(grad.shape)
        bp.backprop(node, [x], [mixed])


__all__ = ["ABPT"]
