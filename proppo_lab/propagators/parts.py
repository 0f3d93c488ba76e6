"""Parts from which propagators are assembled.

A :class:`Composite` propagator draws the node's value, lets each *part* store
what it needs, hands the program a detached copy, and on the way back sums the
parts' gradient terms, either with fixed weights or mixed by inverse variance::

    LR = Composite([ScoreFunction(baseline="loo")], draw="sample")
    TP = Composite([Pathwise(), ScoreFunction()], mix="inverse_variance")

A part gives ``(tensors, grads)`` pairs for autograd: the pathwise part gives
the drawn value with the gradient that reached it; the score-function part
gives the log-density with the (baselined) cost-to-go. That part is
:class:`ScoreFunctionReference` as the formula reads, and
:class:`~.score_fast.ScoreFunction` (the one LR, TP and GS use) by faster routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..core import particles
from ..core.node import Node
from ..core.passes import BackwardPass, ForwardPass
from ..core.propagator import Propagator
from . import baselines, mixing, normal

Terms = tuple[list[torch.Tensor], list[torch.Tensor]]


def draw(node: Node, how: str, keep_noise: bool = True) -> torch.Tensor:
    """The node's value: a reparameterised or plain sample, or a forward node's value.

    ``keep_noise``: a Normal's noise is kept for the parts' written-out
    cotangents (:mod:`.normal`); a propagator that needs none passes False."""
    if node.dist is None:
        return node.evaluate()
    dist = node.dist
    if how == "rsample":
        if not dist.has_rsample:
            support = getattr(dist, "support", None)
            discrete = (
                "; for a discrete node: LR, ARM, DisARM, Enumerate or Gumbel"
                if getattr(support, "is_discrete", False)
                else ""
            )
            raise ValueError(
                f"{type(dist).__name__} has no reparameterised sampler (rsample); "
                f"use a score-function propagator such as LR{discrete}"
            )
        x = normal.rsample(node, keep_noise) if normal.is_normal(dist) else dist.rsample()
    elif normal.is_normal(dist):
        # where a reparameterised sampler exists it draws the same noise as RP,
        # which gives common random numbers across plans (and is faster)
        x = normal.rsample(node, grad=False)
    else:
        with torch.no_grad():
            x = dist.rsample() if dist.has_rsample else dist.sample()
    if node.coupling is not None:  # upstream of a coupled node: one draw per group
        node.coupling.groups(x.shape[0], f"a coupled node downstream of '{node.site}'")
        x = node.coupling.shared(x)
        node.saved.pop("eps", None)  # no longer the noise of every particle
    return x


def per_particle_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over everything but the particle dimension: (particles, ...) -> (particles,)."""
    return x.reshape(x.shape[0], -1).sum(1) if x.dim() > 1 else x


class Part:
    #: the part's key in TP's "weights" note (and so in the Lab's flows and plots);
    #: a subclass's class name unless it sets its own
    name = "Part"
    #: how plots label the part; its name unless it sets its own
    title = "Part"
    reads_grad = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.name = cls.__dict__.get("name", cls.__name__)
        cls.title = cls.__dict__.get("title", cls.name)

    @staticmethod
    def title_for(name: str) -> str:
        """The plot label of the part called ``name`` (``name`` when no part has it)."""
        stack = list(Part.__subclasses__())
        while stack:
            cls = stack.pop()
            if cls.name == name:
                return cls.title
            stack.extend(cls.__subclasses__())
        return name

    def forward(self, node: Node, x: torch.Tensor, fp: ForwardPass) -> None:
        """Store what ``terms`` will need."""

    def terms(self, node: Node, bp: BackwardPass) -> Terms:
        """``(tensors, grads)`` to hand to autograd (grads already scaled by 1/N)."""
        raise NotImplementedError

    def defer(self, node: Node, bp: BackwardPass, weight: float) -> bool:
        """Optionally hand this node's terms (times ``weight``) to a later, batched
        computation; True when done so."""
        return False


class Pathwise(Part):
    """The reparameterisation part: the gradient that reached the value flows through it."""

    title = "RP (pathwise)"
    reads_grad = True

    def terms(self, node, bp):
        g = bp.grad(node)
        x = node.saved["value"]
        dist = node.dist
        if normal.is_normal(dist):  # x = loc + scale * eps: the cotangents at loc and scale
            loc, scale = dist.loc, dist.scale
            tensors, grads = [loc], [g]
            if scale.requires_grad:
                tensors.append(scale)
                grads.append(g * normal.standard_noise(node))
            return tensors, grads
        return [x], [g]


class ScoreFunctionReference(Part):
    """The likelihood-ratio part as the formula reads: the log-density of the
    detached sample, times the advantage ``(cost-to-go - baseline) / N``, handed
    to autograd, which takes it to the distribution's parameters.

    ``density(node, x)`` gives the distribution whose log-density is used; by
    default the node's own distribution. :class:`~.score_fast.ScoreFunction`
    (LR's, TP's and GS's part) gives the same terms by faster routes and is
    tested against this one on the same noise.
    """

    title = "LR (score function)"

    def __init__(
        self,
        baseline: str = "loo",
        options: dict[str, Any] | None = None,
        density: Callable[[Node, torch.Tensor], Any] | None = None,
    ):
        self.baseline = baselines.get(baseline)
        self.baseline_name = baseline
        self.options = dict(options or {})
        if density is not None:  # a density no particle's inputs describe (GS's fitted Gaussian)
            self.options.setdefault("node_inputs", False)
        self.density = density

    def forward(self, node, x, fp):
        dist = self.density(node, x) if self.density is not None else node.dist
        if dist is None:
            raise ValueError(
                "a score-function estimator needs a distribution; "
                f"'{node.site}' is a {node.kind} node"
            )
        node.saved["logp"] = per_particle_sum(dist.log_prob(x.detach()))

    def terms(self, node, bp):
        cost = bp.cost(node)
        if cost is None:
            return [], []
        b, w = self.advantage(node, cost, bp)
        bp.note(node, "baseline", b)
        return [node.saved["logp"]], [w]

    def advantage(self, node: Node, cost: torch.Tensor, bp: BackwardPass):
        """The baseline and the cost-to-go's share ``(cost - baseline) / N``,
        weighted by a coupled node upstream if any."""
        b = group_baseline(node, self.baseline, cost, bp.state(node), self.options)
        return b, node.weighted((cost - b) / particles.count(cost.shape[0]))


def group_baseline(node: Node, fn, cost: torch.Tensor, state: dict, options: dict):
    """The baseline, with a group of particles that share this node's draw
    (upstream of a coupled node) counted as one particle: a member's own group
    must not enter its baseline, or the estimator would be biased. A baseline
    registered with ``inputs=True`` also gets the node's inputs as features."""
    coupling = node.coupling
    inputs = (baselines.features(node, cost, options),) if baselines.wants_inputs(fn) else ()
    if coupling is None:
        return fn(cost, state, options, *inputs)
    inputs = tuple(coupling.split(x)[:, 0] for x in inputs)  # a group's members share them
    return coupling.repeat(fn(coupling.means(cost), state, options, *inputs))


class Composite(Propagator):
    """A propagator assembled from parts.

    ``draw``: "rsample" or "sample" (ignored at forward nodes, whose value is
    given). ``mix``: "sum" adds the parts' terms (times ``weights``);
    "inverse_variance" weighs them by the inverse of the variance of their
    per-particle contributions to the named parameters, recomputed every
    ``every`` instances (reused for the instances in between).
    """

    def __init__(
        self,
        parts: Sequence[Part],
        *,
        draw: str = "rsample",
        mix: str = "sum",
        weights: Sequence[float] | None = None,
        every: int = 1,
        directions: int = 64,
    ):
        if not parts:
            raise ValueError("a composite propagator needs at least one part")
        if mix not in ("sum", "inverse_variance"):
            raise ValueError(f"mix must be 'sum' or 'inverse_variance', got {mix!r}")
        if draw not in ("rsample", "sample"):
            raise ValueError(f"draw must be 'rsample' or 'sample', got {draw!r}")
        if any(isinstance(p, Pathwise) for p in parts) and draw != "rsample":
            raise ValueError("a pathwise part needs draw='rsample'")
        self.parts = list(parts)
        self.draw = draw
        self.mix = mix
        self.weights = list(weights) if weights is not None else [1.0] * len(self.parts)
        if len(self.weights) != len(self.parts):
            raise ValueError("give one weight per part")
        self.every = every
        self.directions = directions
        self.reads_grad = any(p.reads_grad for p in self.parts)

    def forward(self, node: Node, fp: ForwardPass) -> torch.Tensor:
        x = draw(node, self.draw)
        node.saved["value"] = x
        for part in self.parts:
            part.forward(node, x, fp)
        return fp.detach(node, x, grad=self.reads_grad)

    def backward(self, node: Node, bp: BackwardPass) -> None:
        if self.mix == "sum":
            for w, part in zip(self.weights, self.parts):
                if not part.defer(node, bp, w):
                    tensors, grads = part.terms(node, bp)
                    bp.backprop(node, tensors, [w * g for g in grads])
            return
        terms = [part.terms(node, bp) for part in self.parts]
        weights = mixing.mixing_weights(self, node, bp, terms)
        # terms at the same tensor (the parts' cotangents at loc) enter autograd summed
        sums: dict[int, list] = {}
        for w, (tensors, grads) in zip(weights, terms):
            for t, g in zip(tensors, grads):
                entry = sums.get(id(t))
                if entry is None:
                    sums[id(t)] = [t, w * g]
                else:
                    entry[1] = entry[1] + w * g
        bp.backprop(node, [t for t, _ in sums.values()], [g for _, g in sums.values()])
