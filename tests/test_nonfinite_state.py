"""One bad iteration must not break a propagator for good.

A step whose forward is finite but whose backward is NaN (``torch.where`` with
a ``sqrt`` on the branch not taken), or a NaN cost, gives a NonFiniteError that
names the node; learned state (SyntheticGradient's predictor, RELAX's
surrogate, ABPT's critic, the ``learned`` and ``ema`` baselines) is left as it
was, so the next good iteration runs as if the bad one had not happened; and
what function nodes deliver to the parameters is checked as messages are.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal

import proppo_lab as pl


def _snapshot(pm: pl.PropagationManager) -> dict:
    """Every tensor of the manager's kept state (modules' weights and optimiser
    moments included), copied."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, torch.Tensor):
            out[prefix] = value.detach().clone()
        elif isinstance(value, nn.Module):
            walk(prefix, value.state_dict())
        elif isinstance(value, torch.optim.Optimizer):
            walk(prefix, value.state_dict()["state"])
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, (tuple, list)):
            for k, v in enumerate(value):
                walk(f"{prefix}/{k}", v)

    walk("", copy.copy(pm._state))
    return out


def _assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f"learned state changed on a refused iteration: {changed[:5]}"


def _rnn(seed: int = 0):
    torch.manual_seed(seed)
    cell = nn.RNNCell(3, 4)
    obs = torch.randn(8, 5, 3)
    bad = {"on": False}

    def step(x, h):
        h = cell(x, h)
        # finite going forward; going back, the branch not taken gives 0 * NaN
        return torch.where(h > 100, torch.sqrt(h - 100), h) if bad["on"] else h

    def program(pm):
        pm.param("cell", cell)
        h = torch.zeros(5, 4)
        for t in range(8):
            h = pm.forward("state", step, obs[t], h)
            pm.loss("cost", (h**2).sum(-1))

    return cell, program, bad


@pytest.mark.parametrize("sobolev", [False, True])
def test_synthetic_gradient_refuses_a_nan_target_and_keeps_its_predictor(sobolev):
    cell, program, bad = _rnn()
    options = {"every": 3, "sobolev": sobolev}
    plan = {"state": {"propagator": "SyntheticGradient", "options": options}}
    pm = pl.PropagationManager(plan=plan)
    for _ in range(3):
        pm.estimate(program)
    before = _snapshot(pm)
    assert any("predictor" in k for k in before)

    bad["on"] = True
    with pytest.raises(pl.NonFiniteError) as caught:
        pm.estimate(program)
    assert caught.value.site == "state" and caught.value.propagator == "SyntheticGradient"
    assert "not finite" in str(caught.value)
    _assert_same(before, _snapshot(pm))

    # the good program again, also after another plan and back: finite, and trains on
    bad["on"] = False
    pm.plan = pl.Plan.from_dict({"state": "Backprop"})
    pm.estimate(program)
    pm.plan = pl.Plan.from_dict(plan)
    grads = pm.estimate(program)
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert not all(torch.equal(before[k], v) for k, v in _snapshot(pm).items())


@pytest.mark.parametrize(
    "plan",
    [{"state": "Backprop"}, {"state": {"propagator": "Truncate", "options": {"k": 3}}}],
    ids=["Backprop", "Truncate"],
)
def test_a_nan_gradient_at_the_parameters_raises(plan):
    cell, program, bad = _rnn()
    bad["on"] = True
    pm = pl.PropagationManager(plan=plan)
    with pytest.raises(pl.NonFiniteError, match=r"parameter 'cell\.weight") as caught:
        pm.estimate(program)
    # named at the function whose backward made it, not at the loss that sent the terms
    assert caught.value.site == "state" and caught.value.instance == 7
    # off, the same NaN is returned as it always was: the check is what stops it
    pm = pl.PropagationManager(plan=plan, check_finite=False)
    grads = pm.estimate(program)
    assert not torch.isfinite(grads["cell.weight_hh"]).all()


def _noisy(cost_of, sample):
    """A one-node program whose cost is NaN while ``bad['on']``."""
    bad = {"on": False}
    theta = torch.zeros(3, requires_grad=True)

    def program(pm):
        pm.param("theta", theta)
        x = sample(pm, theta)
        cost = cost_of(x)
        pm.loss("cost", cost + (float("nan") if bad["on"] else 0.0))

    return program, bad


def _normal(pm, theta):
    return pm.sample("x", Normal(theta.expand(16, 3), torch.ones(16, 3)))


def _bernoulli(pm, theta):
    return pm.sample("x", Bernoulli(logits=theta.expand(16, 3)))


@pytest.mark.parametrize(
    "plan, sample",
    [
        ({"x": {"propagator": "RELAX"}}, _bernoulli),
        ({"x": {"propagator": "LR", "options": {"baseline": "learned"}}}, _normal),
        ({"x": {"propagator": "LR", "options": {"baseline": "ema"}}}, _normal),
        ({"x": {"propagator": "ABPT"}}, _normal),
    ],
    ids=["RELAX", "learned-baseline", "ema-baseline", "ABPT"],
)
def test_learned_state_refuses_a_nan_cost(plan, sample):
    torch.manual_seed(1)
    program, bad = _noisy(lambda x: ((x - 0.5) ** 2).sum(-1), sample)
    pm = pl.PropagationManager(plan=plan)
    for _ in range(3):
        pm.estimate(program)
    before = _snapshot(pm)
    assert before, "the propagator kept no state to protect"

    bad["on"] = True
    with pytest.raises(pl.NonFiniteError) as caught:
        pm.estimate(program)
    assert caught.value.site in ("x", "cost")
    _assert_same(before, _snapshot(pm))

    bad["on"] = False
    grads = pm.estimate(program)
    assert torch.isfinite(grads["theta"]).all()
