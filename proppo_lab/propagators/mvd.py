"""The measure-valued derivative (MVD) of a Normal node: the third family of gradient
estimators beside pathwise (RP) and score function (LR) (Pflug 1989; Mohamed, Rosca,
Figurnov & Mnih 2020, section 6).

The derivative of a density with respect to a parameter is written as a constant times
the difference of two densities, d/dθ p = c (p⁺ - p⁻), so
d/dθ E_p[f] = c (E_{p⁺}[f] - E_{p⁻}[f]): two evaluations of the cost, no derivative of
f and no score. For N(μ, σ²), coordinate by coordinate:

* μ: c = 1 / (σ √(2π)), p± = μ ± σ W with W ~ Weibull(√2, 2) (a Rayleigh variable);
  one W serves both sides (common random numbers);
* σ: c = 1 / σ, p⁺ = μ + σ M with M double-sided Maxwell, p⁻ = N(μ, σ²) itself.

A coupled propagator: each group of particles is one plain draw x (weight = group size:
the group's sample for every other node, and σ's p⁻) followed by, for each coordinate j,
x with coordinate j replaced by μ_j + σ_j W_j, by μ_j - σ_j W_j, and (when σ is learned)
by μ_j + σ_j M_j; these evaluation points have weight 0 (they are not draws of the node).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from ..core import particles
from ..core.coupling import Coupling
from ..core.propagator import Propagator
from ..core.registry import register
from .discrete import require


def _wants(dist) -> tuple[bool, bool]:
    return dist.loc.requires_grad, dist.scale.requires_grad


@register("MVD", display="Measure-valued", colour="#44aa99", _builtin=True)
class MVD(Propagator):
    """Measure-valued derivative for Normal nodes: the gradient is a difference of
    costs at paired evaluation points, the loc's by the Weibull (Rayleigh)
    decomposition mu +- sigma W, the scale's by the double-sided Maxwell against the
    Gaussian itself. Unbiased, needs no derivative of the cost (works through
    non-differentiable or discrete downstream code) and no score. Costs per particle
    one plain draw plus 2 cost evaluations per dimension for the loc and 1 more per
    dimension for the scale: the particle count must be a multiple of
    1 + 3 x dimension (1 + 2 x dimension with a fixed scale)."""

    coupled = True

    def coupling(self, node):
        dist = require(node, (Normal,), self.name)
        want_loc, want_scale = _wants(dist)
        dims = math.prod(dist.batch_shape[1:])
        return Coupling(1 + dims * (2 * want_loc + want_scale), "coordinates")

    def forward(self, node, fp):
        dist, coupling = node.dist, node.coupling
        want_loc, want_scale = _wants(dist)
        n, size = dist.batch_shape[0], coupling.size
        groups = n // size
        mu = coupling.split(dist.loc.detach().reshape(n, -1))[:, 0]  # (groups, dims)
        sd = coupling.split(dist.scale.detach().reshape(n, -1))[:, 0]
        dims = mu.shape[1]
        values = (mu + sd * torch.randn_like(mu)).unsqueeze(1).repeat(1, size, 1)
        one = torch.eye(dims, dtype=torch.bool, device=mu.device)
        start = 1
        if want_loc:
            w = torch.sqrt(-2 * torch.log1p(-torch.rand_like(mu)))  # Weibull(√2, 2)
            values[:, start : start + dims][:, one] = mu + sd * w
            values[:, start + dims : start + 2 * dims][:, one] = mu - sd * w
            start += 2 * dims
        if want_scale:  # double-sided Maxwell: ± the length of a 3-D standard normal
            sign = torch.randint_like(mu, 2) * 2 - 1
            m = sign * torch.randn(*mu.shape, 3, dtype=mu.dtype, device=mu.device).norm(dim=-1)
            values[:, start : start + dims][:, one] = mu + sd * m
        weights = torch.zeros(groups, size, dtype=mu.dtype, device=mu.device)
        weights[:, 0] = size
        fp.weigh(node, coupling.merge(weights))
        x = coupling.merge(values).reshape(dist.batch_shape)
        return fp.detach(node, x, grad=False)

    def backward(self, node, bp):
        costs = bp.group_costs(node)
        if costs is None:
            return
        dist, coupling = node.dist, node.coupling
        want_loc, want_scale = _wants(dist)
        n = costs.numel()
        sd = coupling.split(dist.scale.detach().reshape(n, -1))[:, 0]
        dims = sd.shape[1]
        tensors, grads = [], []

        def send(tensor, per_group):  # each member's copy gets its share of the group's
            tensors.append(tensor)
            grads.append(coupling.repeat(per_group).reshape(tensor.shape) / particles.count(n))

        start = 1
        if want_loc:
            plus, minus = costs[:, start : start + dims], costs[:, start + dims : start + 2 * dims]
            send(dist.loc, (plus - minus) / (sd * math.sqrt(2 * math.pi)))
            start += 2 * dims
        if want_scale:
            send(dist.scale, (costs[:, start : start + dims] - costs[:, :1]) / sd)
        bp.backprop(node, tensors, grads)


__all__ = ["MVD"]
