"""The built-in propagators, registered exactly as a user's own would be."""

from __future__ import annotations

from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import baselines
from .gaussian import fitted_gaussian, resampled
from .parts import Composite, Pathwise, ScoreFunction, draw


def _baseline_options() -> dict:
    return {
        "baseline": Option(
            "str", "loo", "what is subtracted from the cost-to-go", choices=baselines.names
        ),
        "decay": Option("float", 0.9, "memory of the 'ema' baseline", min=0.0, max=1.0),
    }


@register("Backprop", display="Backprop", colour="#7f7f7f", kinds=("forward",), _builtin=True)
class Backprop(Propagator):
    """Ordinary backpropagation: the gradient flows through this node untouched,
    exactly as plain PyTorch autograd would carry it. The default for
    deterministic (forward) nodes."""

    def forward(self, node, fp):
        return passed_through(node, fp)


def passed_through(node, fp, inputs=None):
    """A forward node's value with the gradient flowing through it untouched, as
    Backprop serves it (also the uncut instances of Truncate and SyntheticGradient);
    ``inputs``: run on these instead of the node's own (Truncate's, state detached)."""
    x = node.evaluate(inputs)
    # a view gives the node an autograd identity of its own (for drawing edges)
    return fp.watch(node, x.view_as(x)) if x.requires_grad else x


@register("RP", display="Reparameterisation", colour="#0072b2", _builtin=True)
class RP(Propagator):
    """Reparameterisation (pathwise) gradient: the sample is written as a
    differentiable function of the distribution's parameters and noise
    (x = mu + sigma * eps), so the gradient of the cost flows back through x.
    Low variance on smooth problems, but on chaotic dynamics the chain of
    Jacobians multiplies up and the variance can explode. Needs rsample."""

    def forward(self, node, fp):
        return fp.watch(node, draw(node, "rsample", keep_noise=False))


@register(
    "LR", display="Likelihood ratio", colour="#e69f00", options=_baseline_options(), _builtin=True
)
def LR(baseline: str, decay: float):
    """Likelihood ratio (score function, REINFORCE): the gradient is the
    cost-to-go times the gradient of the log-density of the sample. It never
    differentiates the dynamics, so it does not explode on chaos and works for
    discrete distributions, but it is noisy: a baseline (by default the mean
    cost of the other particles) is subtracted to reduce its variance."""
    return Composite([ScoreFunction(baseline, {"decay": decay})], draw="sample")


@register(
    "TP",
    display="Total propagation",
    colour="#009e73",
    options={
        **_baseline_options(),
        "every": Option("int", 1, "recompute the weights every k instances", min=1, max=100000),
        "directions": Option(
            "int",
            64,
            "parameter elements measured exactly; beyond, random probes estimate the variance",
            min=1,
            max=4096,
        ),
    },
    _builtin=True,
)
def TP(baseline: str, decay: float, every: int, directions: int):
    """Total propagation (PIPPS): at every node, both the reparameterisation and
    the likelihood-ratio gradients are computed and combined with weights
    inversely proportional to their variances across particles. Where the RP
    gradient explodes, the weight moves to LR; where RP is accurate, it keeps
    RP's low variance."""
    return Composite(
        [Pathwise(), ScoreFunction(baseline, {"decay": decay})],
        mix="inverse_variance",
        every=every,
        directions=directions,
    )


@register(
    "GR",
    display="Gaussian resampling",
    colour="#cc79a7",
    kinds=("sample", "forward"),
    options={
        "estimator": Option(
            "str", "RP", "propagator for the resampled node", choices=("RP", "LR", "TP")
        ),
        "jitter": Option("float", 1e-6, "added to the fitted covariance", min=0.0),
    },
    _builtin=True,
)
class GR(Propagator):
    """Gaussian resampling: fit a Gaussian to the particles at this node (their
    mean and covariance) and draw fresh particles from it. Gradients flow
    through the fit, so every particle's gradient depends on all of them,
    which smooths out chaotic dynamics. The resampled node is then served by
    an inner estimator (RP, LR or TP)."""

    def __init__(self, estimator: str, jitter: float):
        from ..core import registry

        entry = registry.get(estimator)
        self.inner = entry.build(registry.check(estimator, None, "GR estimator"))
        self.jitter = jitter
        self.reads_grad = self.inner.reads_grad

    def forward(self, node, fp):
        x = draw(node, "rsample")
        return resampled(node, x, self.jitter, lambda: self.inner.forward(node, fp))

    def backward(self, node, bp):
        self.inner.backward(node, bp)


@register(
    "GS",
    display="Gaussian shaping",
    colour="#d55e00",
    kinds=("sample", "forward"),
    options={
        **_baseline_options(),
        "jitter": Option("float", 1e-6, "added to the fitted covariance", min=0.0),
    },
    _builtin=True,
)
def GS(baseline: str, decay: float, jitter: float):
    """Gaussian shaping gradient (PIPPS): the particles stay as they are, but
    the gradient treats them as samples of a Gaussian fitted to them. A
    likelihood-ratio estimator on that fitted density: its mean and covariance
    depend on the parameters through all particles, so the learning signal
    shapes the whole distribution instead of following single trajectories."""
    return Composite(
        [
            ScoreFunction(
                baseline, {"decay": decay}, density=lambda node, x: fitted_gaussian(x, jitter)
            )
        ]
    )


@register("Pause", display="Pause", colour="#56b4e9", kinds=("sample", "forward"), _builtin=True)
class Pause(Propagator):
    """Holds the gradient at this node until the backward pass reaches it, then
    passes it on unchanged. The estimate equals backprop's; the gradient
    message becomes visible (and editable by a custom propagator) here."""

    reads_grad = True

    def forward(self, node, fp):
        x = draw(node, "rsample")
        node.saved["value"] = x
        return fp.detach(node, x, grad=True)

    def backward(self, node, bp):
        bp.backprop(node, [node.saved["value"]], [bp.grad(node)])


@register("Skip", display="Skip", colour="#c7c7c7", kinds=("forward",), _builtin=True)
class Skip(Propagator):
    """Takes the node out of the message path: gradients pass through autograd
    and messages addressed to it (cost-to-go) go straight to the node before."""

    routes_past = True

    def forward(self, node, fp):
        x = node.evaluate()
        return x.view_as(x) if x.requires_grad else x


__all__ = ["Backprop", "RP", "LR", "TP", "GR", "GS", "Pause", "Skip"]
