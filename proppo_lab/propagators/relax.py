"""RELAX (Grathwohl, Choi, Wu, Roeder & Duvenaud 2018) and REBAR (Tucker et al. 2017)
for Bernoulli, Categorical and OneHotCategorical nodes: the score function with a learned
control variate, kept unbiased by the relaxation's own gradient.

The discrete draw is written through a continuous one: z = logits + logistic noise
(Bernoulli) or log softmax(logits) + Gumbel noise (categorical), b = H(z) (the sign, the
argmax). Given b, a second relaxed draw z~ ~ p(z | b) is made with its own noise. For
any function c of the relaxed value, per particle::

    g = (f(b) - c(z~)) d log p(b) + d c(z) - d c(z~)

is unbiased for d E[f(b)] (the last two terms are pathwise, through z(logits, u) and
z~(logits, v, b)). c is a small network of sigma_lambda(z) (the relaxed value at
temperature lambda) and of the node's logits, detached; it is trained online to minimise
the estimator's variance: one Adam step per backward pass on the mean over particles of
|g|^2 (the gradient of E|g|^2 is that of the variance, E g not depending on c). The
variance is taken at the node's logits, not at the program's parameters, which would need
the program's Jacobians: it is a proxy that needs nothing from the rest of the graph.

**The cost.** f(b) is the node's cost-to-go (``bp.cost``), as LR reads it: the sum of the
losses downstream of this node for the particle, with whatever was drawn downstream of
it. c sees only z and the logits (which carry everything upstream), so at best it learns
E[cost-to-go | z, upstream]; the downstream draws' noise stays in f, where no function of
this node's draw can remove it. c is trained after the estimate is made, so a particle's
own b and its downstream draws never enter its control variate: unbiased.

**REBAR.** REBAR's control variate is eta f(sigma_lambda(z)): the program's own cost at
the relaxed value, differentiated through the program. This engine runs the program once
per iteration on the values its nodes hand out, and downstream code need not accept a
relaxed value (a Categorical index), so the program's cost cannot be evaluated there.
``surrogate="rebar"`` keeps REBAR's form with f replaced by a *linear model of the
cost-to-go* in the node's value and logits, fitted to the observed costs at the hard
values (least squares, online): eta f_hat(sigma_lambda(z)), with eta and lambda trained
for variance. For a cost that depends on the node only (a multilinear function of a
Bernoulli value) f_hat can match it on the outcomes; it is not REBAR's exact construction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Categorical, OneHotCategorical

from ..core import particles
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import learned
from .discrete import require
from .parts import per_particle_sum

_TINY = 1e-6


def _clamped(u: torch.Tensor) -> torch.Tensor:
    return u.clamp(_TINY, 1 - _TINY)


class _Surrogate(nn.Module):
    """c(z) = eta head([sigma_lambda(z), logits]), in units of the cost's spread around its
    mean; the head is an MLP ("mlp") or linear ("rebar"), and starts at zero."""

    def __init__(self, width: int, kind: str, hidden: int, temperature: float):
        super().__init__()
        inputs = 2 * width  # the soft value and the logits
        self.head = (
            learned.mlp(inputs, hidden, zero=True)
            if kind == "mlp"
            else learned.zeroed(nn.Linear(inputs, 1))
        )
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.eta = nn.Parameter(torch.ones(())) if kind == "rebar" else None

    def forward(self, soft: torch.Tensor, logits: torch.Tensor, fixed_head: bool = False):
        if not fixed_head:
            out = self.head(self._rows(soft, logits)).squeeze(-1)
        else:  # REBAR: the variance trains eta and the temperature only
            w, b = self.head.weight.detach(), self.head.bias.detach()
            out = F.linear(self._rows(soft, logits), w, b).squeeze(-1)
        return out if self.eta is None else self.eta * out

    def cost_model(self, value: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """REBAR's f_hat at a (hard) value."""
        return self.head(self._rows(value, logits)).squeeze(-1)

    @staticmethod
    def _rows(value, logits):
        return torch.cat(
            [value.reshape(value.shape[0], -1), logits.reshape(logits.shape[0], -1)], 1
        )


class _Family:
    """The relaxation of one discrete family: z, b = H(z), z~ | b, log p(b), the soft value."""

    def __init__(self, dist):
        self.bernoulli = isinstance(dist, Bernoulli)

    def relaxed(self, logits, u):
        if self.bernoulli:
            return logits + torch.log(u) - torch.log1p(-u)
        return torch.log_softmax(logits, -1) - torch.log(-torch.log(u))

    def hard(self, z):
        return (z > 0).to(z.dtype) if self.bernoulli else z.argmax(-1)

    def conditional(self, logits, b, v):
        """z~ ~ p(z | b), a differentiable function of the logits for fixed noise v."""
        if self.bernoulli:  # u | b is uniform on (1 - p, 1) when b = 1, on (0, 1 - p) when 0
            p = torch.sigmoid(logits)
            u = _clamped(torch.where(b > 0, 1 - p + v * p, v * (1 - p)))
            return logits + torch.log(u) - torch.log1p(-u)
        # the max is Gumbel(0) (log-probabilities sum to 0), the others Gumbels below it
        log_p = torch.log_softmax(logits, -1)
        log_vb = torch.log(v.gather(-1, b.unsqueeze(-1)))
        z_max = -torch.log(-log_vb)
        others = -torch.log(-torch.log(v) * torch.exp(-log_p) - log_vb)
        return torch.where(F.one_hot(b, v.shape[-1]).bool(), z_max, others)

    def log_prob(self, logits, b):
        if self.bernoulli:
            return -F.binary_cross_entropy_with_logits(logits, b, reduction="none")
        return torch.log_softmax(logits, -1).gather(-1, b.unsqueeze(-1)).squeeze(-1)

    def soft(self, z, temperature):
        return (
            torch.sigmoid(z / temperature) if self.bernoulli else torch.softmax(z / temperature, -1)
        )

    def one_hot(self, b, like):
        return b if self.bernoulli else F.one_hot(b, like.shape[-1]).to(like.dtype)


@register(
    "RELAX",
    display="RELAX (learned control variate)",
    colour="#332288",
    options={
        "surrogate": Option(
            "str",
            "mlp",
            "control variate: a small network ('mlp', RELAX) or REBAR's eta f(sigma(z)) "
            "with f a learned linear model of the cost ('rebar')",
            choices=("mlp", "rebar"),
        ),
        "learning_rate": Option("float", 1e-2, "of the surrogate's Adam steps", min=1e-6, max=1.0),
        "hidden": Option("int", 32, "hidden units of the 'mlp' surrogate", min=1, max=1024),
        "temperature": Option(
            "float", 0.5, "of the relaxation sigma(z / temperature)", min=1e-3, max=100.0
        ),
        "learn_temperature": Option("bool", True, "train the temperature with the surrogate"),
    },
    _builtin=True,
)
class RELAX(Propagator):
    """RELAX (Grathwohl et al. 2018) for Bernoulli, Categorical and OneHotCategorical
    nodes: the score function with a learned control variate c(z) of the relaxed draw z,
    made unbiased by adding c's own pathwise gradient at z and subtracting it at a second
    relaxed draw conditioned on the outcome. c is a small network kept in the node's
    state and trained online, each backward pass, to minimise the estimator's variance;
    surrogate='rebar' uses REBAR's form eta f(sigma(z)), with f a linear model of the
    cost fitted online, since the engine cannot run the program's cost on a relaxed value.
    Unbiased. Costs one cost evaluation per particle (like LR) plus, per node and
    iteration, the surrogate's forward pass at two relaxed draws, a double backward
    and one optimiser step; its variance falls as the surrogate trains."""

    def __init__(
        self,
        surrogate: str,
        learning_rate: float,
        hidden: int,
        temperature: float,
        learn_temperature: bool,
    ):
        self.surrogate = surrogate
        self.learning_rate = learning_rate
        self.hidden = hidden
        self.temperature = temperature
        self.learn_temperature = learn_temperature

    def forward(self, node, fp):
        dist = require(node, (Bernoulli, Categorical, OneHotCategorical), self.name)
        logits = dist.logits.detach()
        u, v = torch.rand_like(logits), torch.rand_like(logits)
        if node.coupling is not None:  # upstream of a coupled node: one draw per group
            u, v = node.coupling.shared(u), node.coupling.shared(v)
        family = _Family(dist)
        b = family.hard(family.relaxed(logits, _clamped(u)))
        node.saved.update(u=_clamped(u), v=_clamped(v), b=b)
        x = (
            F.one_hot(b, logits.shape[-1]).to(logits.dtype)
            if type(dist) is OneHotCategorical
            else b
        )
        node.saved["value"] = x
        return fp.detach(node, x, grad=False)

    def backward(self, node, bp):
        cost = bp.cost(node)
        logits = node.dist.logits
        if cost is None or not logits.requires_grad:
            return
        family, saved = _Family(node.dist), node.saved
        state = bp.state(node)
        at = logits.detach().requires_grad_(True)  # the estimate is taken here, per particle
        width = at[0].numel()
        c, optimizer = learned.kept(
            state,
            "surrogate",
            (width, self.surrogate, self.hidden, self.temperature),
            lambda: _Surrogate(width, self.surrogate, self.hidden, self.temperature),
            self.learning_rate,
            at,
        )
        c.log_temperature.requires_grad_(self.learn_temperature)
        temperature = c.log_temperature.exp()
        z = family.relaxed(at, saved["u"])
        z_given_b = family.conditional(at, saved["b"], saved["v"])
        context = at.detach()
        mean, spread = learned.cost_scale(state, cost)

        def cv(soft, fixed_head):  # c: the cost's moving mean and spread around the network
            return mean + spread * c(soft, context, fixed_head)

        soft_given_b = family.soft(z_given_b, temperature)
        log_p = per_particle_sum(family.log_prob(at, saved["b"]))
        f = cost.detach()
        fixed = self.surrogate == "rebar"  # REBAR's f_hat is fitted to the costs, not for variance
        # the score term's weight f - c(z~) is a constant for the logits but not for c
        score_weight = f - cv(family.soft(z_given_b.detach(), temperature), fixed)
        pathwise = cv(family.soft(z, temperature), fixed) - cv(soft_given_b, fixed)
        (g,) = torch.autograd.grad((score_weight * log_p + pathwise).sum(), at, create_graph=True)
        # particles weighted by a coupled node upstream, if any
        bp.backprop(node, [logits], [node.weighted(g.detach() / particles.count(cost.shape[0]))])
        loss = (g.reshape(g.shape[0], -1) ** 2).sum(1).mean()
        if fixed:  # f_hat: least squares on the costs at the hard values
            fitted = c.cost_model(family.one_hot(saved["b"], at), context)
            loss = loss + ((fitted - (f - mean) / spread) ** 2).mean()
        learned.step(optimizer, loss)
        learned.track_cost(state, cost, 0.9)
        learned.report(bp, node, state, loss)  # the surrogate's training loss, a diagnostic


__all__ = ["RELAX"]
