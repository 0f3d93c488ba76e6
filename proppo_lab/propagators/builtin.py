"""The built-in propagators, registered exactly as a user's own would be."""

from __future__ import annotations

from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import baselines
from .gaussian import fitted_gaussian, resampled
from .parts import Composite, Pathwise, draw
from .score_fast import ScoreFunction


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


#: GR's and GS's ridge: relative, so that a small noise keeps its fitted variance
_JITTER = Option(
    "float",
    1e-6,
    "ridge added to the fitted covariance, as a fraction of its mean variance (trace / dim)",
    min=0.0,
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
        "jitter": _JITTER,
    },
    _builtin=True,
)
class GR(Propagator):
    """Gaussian resampling: fit a Gaussian to the particles at this node (their
    mean and covariance) and draw fresh particles from it. Gradients flow
    through the fit, so every particle's gradient depends on all of them,
    which smooths out chaotic dynamics. The resampled node is then served by
    an inner estimator (RP, LR or TP). The rollout is no longer the program's
    own: each resampled node forgets its cloud's shape beyond the first two
    moments (exact on a linear-Gaussian chain, where every cloud is Gaussian).
    ``jitter`` is relative to the covariance (see :func:`.gaussian.fitted_gaussian`)."""

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
        "jitter": _JITTER,
    },
    _builtin=True,
)
def GS(baseline: str, decay: float, jitter: float):
    """Gaussian shaping: a likelihood-ratio estimator that scores each particle
    under the Gaussian fitted to its node's particles instead of under its
    own conditional distribution.

    At each node the particles x_i are fitted with N(m, S), their mean and
    covariance (plus the relative ``jitter`` ridge), and the node's term is
    sum_i (C_i - b_i) / N * d log N(x_i; m, S), with x_i held fixed in the
    score, C_i the particle's own cost-to-go along its real trajectory and
    b_i the baseline. m and S depend on the parameters through this node's
    draws (one reparameterised step; earlier nodes' values are held fixed),
    so the term is the LR gradient of the step's marginal distribution,
    taken to be Gaussian. The particles are not resampled: the rollout is
    the program's own. This is not PIPPS's Gaussian shaping gradient, which
    is derived for the model that resamples from the fit at every step (GR's
    model); both are exact on a linear-Gaussian chain, where every marginal
    is Gaussian (ours up to an O(1/N) bias from fitting and scoring the same
    particles), and this is the one without resampling.

    Its limit is a cloud that is not Gaussian: the fitted density's score is
    then not the marginal's, and the estimate is biased however many
    particles there are. On the chaotic RNN (``systems.ChaoticRNN``, 1000
    particles, noise 1e-3; mean +- SE of independent estimates, measured
    2026-12) it gives -0.90 +- 0.02 at beta = 2.4 (5 estimates) against TP's
    0.017 +- 0.012: there the chaotic map stretches the cloud into a
    heavy-tailed one (excess kurtosis along a principal axis 7 at the median
    step, up to 120). At beta = 1, where the cloud stays nearly Gaussian
    (excess kurtosis below 0.5), it gives
    -0.0264 +- 0.0011 (30 estimates) against TP's -0.0273."""
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
