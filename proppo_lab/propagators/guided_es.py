"""Guided evolution strategies: antithetic perturbations in a subspace of recent surrogate
gradients (Maheswaranathan, Metz, Tucker, Choi & Sohl-Dickstein, ICML 2019).

Evolution strategies estimate the gradient of a Gaussian-smoothed cost from
costs alone: with perturbations eps ~ N(0, sigma^2 Sigma) drawn in antithetic
pairs, ``g = eps (f(x + eps) - f(x - eps)) / (2 sigma^2)``. In many dimensions
that is noisy. Often a *surrogate* gradient is at hand, biased or noisy (a
gradient through a simplified model, a straight-through estimator): guided ES
stretches the search distribution along the span U of the last k surrogate
gradients,

    Sigma = alpha I + (1 - alpha) (d / k) U U^T      (trace d, as plain ES's I),

so most of the search happens where the surrogate points, while the
``alpha`` part keeps exploring every direction and corrects its bias. The
estimate's mean is Sigma times the smoothed gradient: a descent direction.

Here the node's value is the point x: a forward node's value, or a sample
node's draw. The surrogate is the gradient that reached the node's output
through the program (its incoming RP gradient); a program supplies its own by
writing it as the gradient of its cost (``f.detach() + (x * s).sum() -
(x * s).sum().detach()`` has value f and gradient s). Coupled particles: each
antithetic pair is a group of the engine's coupling contract, so everything
upstream is shared within a pair.
"""

from __future__ import annotations

import math

import torch

from ..core import particles
from ..core.coupling import Coupling
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from .parts import draw


@register(
    "GuidedES",
    display="Guided ES",
    colour="#a6761d",
    kinds=("sample", "forward"),
    options={
        "k": Option("int", 1, "surrogate gradients kept (the subspace's dimension)", min=1),
        "sigma": Option("float", 0.1, "perturbation scale", min=1e-8),
        "alpha": Option(
            "float", 0.5, "weight of the full space (1: plain ES, 0: subspace only)", min=0, max=1
        ),
    },
    _builtin=True,
)
class GuidedES(Propagator):
    """Guided evolution strategies: the node's value is perturbed in antithetic
    pairs (coupled particles), mostly along the last k surrogate gradients (the
    gradient that reached the node through the program), partly in every
    direction (alpha). The gradient is read from the pairs' cost differences
    alone, so it needs no derivative of what follows the node, and the
    surrogate's bias is corrected. Particle count: a multiple of 2."""

    coupled = True
    reads_grad = True

    def __init__(self, k: int = 1, sigma: float = 0.1, alpha: float = 0.5):
        self.k, self.sigma, self.alpha = k, sigma, alpha

    def coupling(self, node):
        return Coupling(2, "antithetic")

    def forward(self, node, fp):
        coupling = node.coupling
        x = draw(node, "rsample")
        coupling.groups(x.shape[0], self.name)  # the engine checks only sample nodes' counts
        centre = coupling.split(x.detach().reshape(x.shape[0], -1))[:, 0]  # (pairs, d)
        eps = self._perturbations(fp.state(node), centre)
        values = coupling.merge(torch.stack([centre + eps, centre - eps], 1))
        node.saved.update(value=x, eps=eps)
        return fp.detach(node, values.reshape(x.shape), grad=True)

    def _perturbations(self, state: dict, centre: torch.Tensor) -> torch.Tensor:
        """eps ~ N(0, sigma^2 Sigma) for each pair, Sigma as in the module docstring."""
        pairs, d = centre.shape
        history = state.get("surrogates")
        if history is None or history.shape[1] != d or self.alpha == 1:  # plain ES
            return self.sigma * torch.randn_like(centre)
        basis, _ = torch.linalg.qr(history.T.to(centre))  # (d, k) orthonormal
        k = basis.shape[1]
        inside = torch.randn(pairs, k, dtype=centre.dtype, device=centre.device) @ basis.T
        everywhere = torch.randn_like(centre)
        return self.sigma * (
            math.sqrt(self.alpha) * everywhere + math.sqrt((1 - self.alpha) * d / k) * inside
        )

    def backward(self, node, bp):
        x, eps, coupling = node.saved["value"], node.saved["eps"], node.coupling
        surrogate = bp.grad(node).reshape(x.shape[0], -1).sum(0)  # d mean cost / d x
        if bool(surrogate.ne(0).any()):  # one host read per pass: no surrogate, no update
            self._remember(bp.state(node), surrogate.detach())
        costs = bp.group_costs(node)
        if costs is None:
            return
        per_pair = eps * ((costs[:, 0] - costs[:, 1]) / (2 * self.sigma**2)).unsqueeze(1)
        # each member's copy of the point gets its share: the mean over pairs in all
        grad = coupling.repeat(per_pair) / particles.count(costs.numel())
        bp.backprop(node, [x], [grad.reshape(x.shape)])

    def _remember(self, state: dict, surrogate: torch.Tensor) -> None:
        history = state.get("surrogates")
        if history is None or history.shape[1] != surrogate.numel():
            history = surrogate[None]
        else:
            history = torch.cat([history, surrogate[None]])[-self.k :]
        state["surrogates"] = history


__all__ = ["GuidedES"]
