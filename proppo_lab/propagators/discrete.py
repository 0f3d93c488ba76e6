"""Estimators for discrete nodes: antithetic pairs (ARM, DisARM), exact enumeration, and the
Gumbel-softmax relaxation.

ARM, DisARM and Enumerate are coupled propagators (:mod:`proppo_lab.core.coupling`): they
draw their node's particles in groups and read each group's costs-to-go on the way back.
Gumbel is pathwise: it replaces the discrete draw by a differentiable relaxation (biased).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, OneHotCategorical

from ..core import particles
from ..core.coupling import Coupling
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from .parts import per_particle_sum

#: the most outcomes per particle Enumerate evaluates
MAX_OUTCOMES = 64


def require(node, kinds: tuple, name: str):
    """The node's distribution, or a ValueError saying what ``name`` serves."""
    if not isinstance(node.dist, kinds):
        got = type(node.dist).__name__ if node.dist is not None else f"a {node.kind} node"
        serves = ", ".join(k.__name__ for k in kinds)
        raise ValueError(f"{name} serves {serves} sample nodes, not {got}")
    return node.dist


class _Antithetic(Propagator):
    """Bernoulli particles in antithetic pairs: one uniform u per pair, member 0 takes
    b = 1[u < p] and member 1 takes b~ = 1[1 - u < p]; both are Bernoulli(p) draws."""

    coupled = True

    def coupling(self, node):
        require(node, (Bernoulli,), self.name)
        return Coupling(2, "antithetic")

    def forward(self, node, fp):
        pair = node.coupling.split(node.dist.probs.detach())  # (pairs, 2, ...)
        u = torch.rand_like(pair[:, 0])
        b = (u < pair[:, 0]).to(pair.dtype)
        b_anti = (1 - u < pair[:, 1]).to(pair.dtype)
        node.saved["u"] = u
        x = node.coupling.merge(torch.stack([b, b_anti], 1))
        node.saved["value"] = x
        return fp.detach(node, x, grad=False)

    def backward(self, node, bp):
        costs = bp.group_costs(node)
        logits = node.dist.logits
        if costs is None or not logits.requires_grad:
            return
        u = node.saved["u"]
        f = costs.reshape(*costs.shape, *[1] * (u.dim() - 1))  # (pairs, 2, 1...)
        pairs = node.coupling.split(node.saved["value"])
        per_pair = self.pair_gradient(
            f[:, 0],
            f[:, 1],
            pairs[:, 0],
            pairs[:, 1],
            u,
            node.coupling.split(logits.detach())[:, 0],
        )
        # each member's logits get half of its pair's estimate: the mean over particles
        bp.backprop(
            node, [logits], [node.coupling.repeat(per_pair) / particles.count(costs.numel())]
        )

    def pair_gradient(self, f, f_anti, b, b_anti, u, logits) -> torch.Tensor:
        raise NotImplementedError


@register("ARM", display="ARM (antithetic)", colour="#882255", _builtin=True)
class ARM(_Antithetic):
    """Augment-REINFORCE-merge (Yin & Zhou 2019) for Bernoulli nodes: particles come
    in antithetic pairs sharing one uniform u (b = 1[u < p], b~ = 1[1 - u < p]) and
    the gradient with respect to the logits is (f(b~) - f(b)) (u - 1/2) per pair.
    Unbiased. Costs two cost evaluations per estimate (the particle count must be
    even); an upstream node draws one value per pair."""

    def pair_gradient(self, f, f_anti, b, b_anti, u, logits):
        return (f_anti - f) * (u - 0.5)


@register("DisARM", display="DisARM", colour="#aa4499", _builtin=True)
class DisARM(_Antithetic):
    """DisARM (Dong, Mnih & Tucker 2020) for Bernoulli nodes: ARM's antithetic pairs
    with the uniform integrated out analytically, 1/2 (f(b) - f(b~))
    (-1)^b~ 1[b != b~] sigmoid(|logits|) per pair: zero when the pair agrees, and
    never more variance than ARM. Unbiased. Costs two cost evaluations per estimate
    (the particle count must be even); an upstream node draws one value per pair."""

    def pair_gradient(self, f, f_anti, b, b_anti, u, logits):
        sign = 1 - 2 * b_anti
        return 0.5 * (f - f_anti) * sign * (b != b_anti) * torch.sigmoid(logits.abs())


def outcomes(dist, name: str = "Enumerate") -> torch.Tensor:
    """Every value one particle of ``dist`` can take: (outcomes, *per-particle shape)."""
    rest = tuple(dist.batch_shape[1:])
    coords = math.prod(rest)
    if isinstance(dist, Bernoulli):
        per = 2
    elif isinstance(dist, (Categorical, OneHotCategorical)):
        per = dist.probs.shape[-1]
    else:
        raise ValueError(
            f"{name} serves Bernoulli, Categorical and OneHotCategorical sample "
            f"nodes, not {type(dist).__name__}"
        )
    if coords * math.log2(max(per, 1)) > math.log2(MAX_OUTCOMES) + 1e-9:
        raise ValueError(
            f"a particle of this {type(dist).__name__} node has {per}^{coords} "
            f"outcomes; {name} evaluates at most {MAX_OUTCOMES}. Use LR, DisARM "
            "or Gumbel, or split the node"
        )
    table = torch.tensor(
        list(itertools.product(range(per), repeat=coords)), device=dist.probs.device
    ).reshape(-1, *rest)
    if isinstance(dist, Categorical):
        return table
    if isinstance(dist, OneHotCategorical):
        return F.one_hot(table, per).to(dist.probs.dtype)
    return table.to(dist.probs.dtype)


@register("Enumerate", display="Enumerate", colour="#117733", _builtin=True)
class Enumerate(Propagator):
    """Exact expectation over a small discrete support: each group of particles
    takes every outcome of the node once (Bernoulli: 0 and 1; Categorical and
    OneHotCategorical: each category; a node with several coordinates: every joint
    outcome), weighted by its probability. The node adds no variance at all. Costs
    one cost evaluation per outcome (at most 64; the particle count must be a
    multiple of the number of outcomes); upstream nodes draw one value per group."""

    coupled = True

    def coupling(self, node):
        dist = require(node, (Bernoulli, Categorical, OneHotCategorical), self.name)
        node.saved["outcomes"] = outcomes(dist, self.name)
        return Coupling(len(node.saved["outcomes"]), "outcomes")

    def forward(self, node, fp):
        table = node.saved.pop("outcomes")
        groups = node.dist.batch_shape[0] // len(table)
        x = node.coupling.merge(table.unsqueeze(0).expand(groups, *table.shape))
        logp = per_particle_sum(node.dist.log_prob(x))
        node.saved["logp"] = logp
        # outcome k of a group stands for probability p_k of the group's mass
        fp.weigh(node, len(table) * logp.detach().exp())
        node.saved["value"] = x
        return fp.detach(node, x, grad=False)

    def backward(self, node, bp):
        cost = bp.cost(node)
        if cost is None:
            return
        # sum_k grad(p_k) f_k = sum_k p_k grad(log p_k) f_k, per group
        bp.backprop(
            node,
            [node.saved["logp"]],
            [cost * node.saved["weights"] / particles.count(cost.shape[0])],
        )


@register(
    "Gumbel",
    display="Gumbel-softmax",
    colour="#ddcc77",
    options={
        "temperature": Option(
            "float", 0.5, "of the relaxation: lower is less biased but noisier", min=1e-3, max=100.0
        ),
        "straight_through": Option(
            "bool", False, "hard value forward, the relaxed gradient backward"
        ),
    },
    _builtin=True,
)
class Gumbel(Propagator):
    """Gumbel-softmax / concrete relaxation (Jang et al. 2017, Maddison et al. 2017)
    for Bernoulli, Categorical and OneHotCategorical nodes: the discrete draw is
    replaced by softmax((logits + Gumbel noise) / temperature), which is
    differentiable, and the gradient flows through it pathwise. With
    straight_through the program receives the hard value and only the gradient is
    relaxed. Biased (less so as the temperature falls, at the price of variance).
    Costs one cost evaluation per particle. A Categorical node receives its index
    as a float (the relaxed one-hot vector dotted with 0..K-1): use
    OneHotCategorical where the program looks values up."""

    def __init__(self, temperature: float, straight_through: bool):
        self.temperature = temperature
        self.straight_through = straight_through

    def forward(self, node, fp):
        dist = require(node, (Bernoulli, Categorical, OneHotCategorical), self.name)
        logits = dist.logits
        u = torch.rand_like(logits).clamp(1e-10, 1 - 1e-7)
        if isinstance(dist, Bernoulli):  # the difference of two Gumbels is logistic
            soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / self.temperature)
            hard = (soft > 0.5).to(soft.dtype)
        else:
            soft = torch.softmax((logits - torch.log(-torch.log(u))) / self.temperature, -1)
            hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
        x = hard + (soft - soft.detach()) if self.straight_through else soft
        if isinstance(dist, Categorical):
            x = x @ torch.arange(x.shape[-1], dtype=x.dtype, device=x.device)
        return fp.watch(node, x)


__all__ = ["ARM", "DisARM", "Enumerate", "Gumbel", "outcomes"]
