"""GuidedES: antithetic pairs in the span of recent surrogate gradients (coupled particles)."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

import proppo_lab as pl

DIM, EVALUATIONS, SEEDS = 100, 1000, (0, 1, 2, 3)


def _biased_quadratic(seed: int):
    """f(x) = 1/2 sum h_i (x_i - x*_i)^2 (optimum 0) with a surrogate gradient that is
    the true one plus a fixed bias of norm 1 and fresh noise of norm about 1
    (Maheswaranathan et al. 2019, figure 1). Returns (theta, program(particles), f)."""
    g = torch.Generator().manual_seed(seed)
    curvature = 0.5 + torch.rand(DIM, generator=g)
    optimum = torch.randn(DIM, generator=g)
    bias = torch.randn(DIM, generator=g)
    bias = bias / bias.norm()
    theta = torch.zeros(DIM, requires_grad=True)

    def f(x):
        return 0.5 * (curvature * (x - optimum) ** 2).sum(-1)

    def program(pm, particles: int):
        pm.param("theta", theta)
        x = pm.forward("x", theta.expand(particles, DIM))
        with torch.no_grad():
            noise = torch.randn(particles, DIM) / math.sqrt(DIM)
            surrogate = curvature * (x - optimum) + bias + noise
        # value f(x), gradient the surrogate: how a program hands its own surrogate over
        pm.loss("cost", f(x).detach() + (x * surrogate).sum(-1) - (x * surrogate).sum(-1).detach())

    return theta, program, f


def _final_loss(plan: dict | None, lr: float, seed: int) -> float:
    """Gradient descent with ``EVALUATIONS`` evaluations of f: an antithetic pair costs
    two, a surrogate gradient one."""
    theta, program, f = _biased_quadratic(seed)
    particles = 2 if plan else 1
    pm = pl.PropagationManager(plan=plan or {})
    torch.manual_seed(seed)
    for _ in range(EVALUATIONS // particles):
        grad = pm.estimate(lambda pm: program(pm, particles))["theta"]
        with torch.no_grad():
            theta -= lr * grad
    return float(f(theta.detach()))


def _es(alpha: float) -> dict:
    return {"x": {"propagator": "GuidedES", "options": {"alpha": alpha, "k": 1, "sigma": 0.1}}}


def test_guided_es_beats_plain_es_and_surrogate_descent():
    """Each method at its best step size on a grid measured once ({0.03, 0.1, 0.3} for
    surrogate descent, {0.001, 0.003, 0.01, 0.02} for the ES; larger ones diverge):
    guided ES ends lower than both, by more than the seeds' spread."""
    runs = {
        "guided": [_final_loss(_es(0.5), 0.01, s) for s in SEEDS],
        "plain ES": [_final_loss(_es(1.0), 0.01, s) for s in SEEDS],
        "surrogate": [_final_loss(None, 0.1, s) for s in SEEDS],
    }
    mean = {k: statistics.mean(v) for k, v in runs.items()}
    se = {k: statistics.stdev(v) / math.sqrt(len(v)) for k, v in runs.items()}
    for other in ("plain ES", "surrogate"):
        assert mean["guided"] + 3 * (se["guided"] + se[other]) < mean[other], (mean, se)


def test_guided_es_estimate_is_the_smoothed_gradient_in_expectation():
    """Plain ES (alpha = 1) on a linear cost c.x is unbiased: E[g] = c."""
    c = torch.linspace(-1, 1, 5)
    theta = torch.zeros(5, requires_grad=True)

    def program(pm):
        pm.param("theta", theta)
        x = pm.forward("x", theta.expand(4000, 5))
        pm.loss("cost", (x * c).sum(-1))

    pm = pl.PropagationManager(plan=_es(1.0))
    grads = torch.stack([pm.estimate(program)["theta"] for _ in range(5)])
    se = grads.std(0) / math.sqrt(len(grads))
    assert bool(((grads.mean(0) - c).abs() < 4 * se + 1e-6).all()), (grads.mean(0), se)


def test_guided_es_needs_pairs():
    theta = torch.zeros(3, requires_grad=True)

    def program(pm):
        pm.param("theta", theta)
        pm.loss("cost", pm.forward("x", theta.expand(3, 3)).sum(-1))

    with pytest.raises(pl.PropagationError, match="multiple of 2") as err:
        pl.PropagationManager(plan=_es(0.5)).estimate(program)
    assert err.value.site == "x" and err.value.propagator == "GuidedES"
