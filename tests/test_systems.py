"""Ready programs: physics sanity, rebuilding from repr, moving devices."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_within_se, collect

import proppo_lab as pl
from proppo_lab.systems import CartPole, SigmoidBeliefNet, bars_and_stripes


def rollout(cp: CartPole, start, force=0.0, steps=20):
    s = torch.tensor([start], dtype=torch.float32)
    for _ in range(steps):
        s = cp.dynamics(s, torch.full((1,), force))
    return s[0]


def test_cartpole_hanging_is_stable_and_upright_falls():
    cp = CartPole()
    hanging = rollout(cp, [0.0, 0.0, 0.0, 0.0])
    assert torch.allclose(hanging, torch.zeros(4), atol=1e-6)
    nudged = rollout(cp, [0.0, 0.0, math.pi - 0.01, 0.0], steps=15)
    assert abs(nudged[2] - math.pi) > 0.3, "a nudged upright pole must fall"


def test_cartpole_push_moves_the_cart_the_right_way():
    cp = CartPole()
    assert rollout(cp, [0.0, 0.0, 0.0, 0.0], force=5.0, steps=5)[0] > 0
    assert rollout(cp, [0.0, 0.0, 0.0, 0.0], force=-5.0, steps=5)[0] < 0


def test_cartpole_cost_is_zero_upright_at_the_origin():
    cp = CartPole()
    assert cp.step_cost(torch.tensor([[0.0, 0.0, math.pi, 0.0]])).item() == pytest.approx(
        0.0, abs=1e-6
    )
    assert cp.step_cost(torch.tensor([[0.0, 0.0, 0.0, 0.0]])).item() > 0.8


@pytest.mark.parametrize("plan", ["RP", "LR", "TP", "GS"])
def test_cartpole_policy_gradients_under_each_plan(plan):
    torch.manual_seed(0)
    cp = CartPole(horizon=8, particles=32)
    grads = pl.PropagationManager(default=plan, sites=cp.sites).estimate(cp)
    assert set(grads) == set(cp.params) and len(grads) == 4
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for g in grads.values())


def test_cartpole_untrained_policy_pushes_gently():
    # tutorial 4 relies on it: a saturated random policy drives the cart away and
    # every cost, and so every gradient, saturates
    cp = CartPole()
    states = torch.tensor(
        [[0.0, 0.0, math.pi, 0.0], [0.5, -1.0, math.pi - 0.3, 2.0], [-1.0, 1.0, 0.0, -3.0]]
    )
    force = cp.policy(states)
    assert force.abs().max() < 0.25 * cp.policy.max_force


def test_cartpole_records_the_cost_per_step():
    torch.manual_seed(0)
    cp = CartPole(horizon=6, particles=16)
    pl.PropagationManager(default="RP", sites=cp.sites).estimate(cp)
    assert cp.last_cost.shape == (6,)
    assert ((cp.last_cost >= 0) & (cp.last_cost <= 1)).all()
    assert not cp.last_cost.requires_grad


def test_cartpole_rejects_unknown_task():
    with pytest.raises(ValueError, match="task"):
        CartPole(task="juggle")


@pytest.mark.parametrize(
    "system",
    [
        pl.systems.ChaoticRNN(beta=2.7, steps=7, particles=9),
        pl.systems.GaussianChain(mu=0.1, a=2.0),
        pl.systems.BernoulliToy(theta=-0.4),
        CartPole(horizon=5, particles=3, task="swingup"),
        pl.systems.SigmoidBeliefNet(latents=3, images=5, particles=4, seed=2),
    ],
)
def test_repr_rebuilds_the_same_program(system):
    rebuilt = eval(repr(system), {"pl": pl})
    assert type(rebuilt) is type(system)
    assert rebuilt.settings() == system.settings()


def test_to_moves_parameters_and_keeps_values():
    rnn = pl.systems.ChaoticRNN(beta=2.5)
    rnn.to("cpu")
    assert rnn.params["beta"].is_leaf and rnn.params["beta"].requires_grad
    assert rnn.params["beta"].item() == pytest.approx(2.5)
    assert rnn.W.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_to_cuda_runs_there():
    rnn = pl.systems.ChaoticRNN(beta=2.5, steps=5, particles=16).to("cuda")
    grads = pl.PropagationManager(default="TP").estimate(rnn)
    assert grads["beta"].is_cuda


def test_bars_and_stripes_are_distinct_bars_or_stripes():
    images = bars_and_stripes(4).reshape(-1, 4, 4)
    assert images.shape[0] == 2**5 - 2 and torch.unique(images, dim=0).shape[0] == 30
    rows_equal = (images == images[:, :, :1]).all(-1).all(-1)  # every row constant: stripes
    cols_equal = (images == images[:, :1, :]).all(-1).all(-1)  # every column constant: bars
    assert (rows_equal | cols_equal).all()


def test_sbn_objective_is_the_mean_of_the_particles_costs():
    # the exact negative ELBO (summed over all latent vectors) against a Monte Carlo mean
    torch.manual_seed(0)
    sbn = SigmoidBeliefNet(latents=4, particles=20000)
    pm = pl.PropagationManager({"z": "LR"}, sites=sbn.sites)
    sbn(pm)
    costs = pm.tape[-1].inputs[0].detach().double()
    pm.discard()
    exact = sbn.objective().item()
    assert abs(costs.mean().item() - exact) < 4 * costs.std().item() / len(costs) ** 0.5


@pytest.mark.parametrize("plan", ["LR", "ARM", "DisARM", "Gumbel"])
def test_sbn_trains_under_each_estimator(plan):
    torch.manual_seed(0)
    sbn = SigmoidBeliefNet(particles=16)
    pm = pl.PropagationManager({"z": plan}, sites=sbn.sites)
    start = sbn.objective().item()
    for _ in range(150):
        grads = pm.estimate(sbn)
        assert set(grads) == set(sbn.params)
        with torch.no_grad():
            for name, p in sbn.params.items():
                p -= 1.0 * grads[name]
    assert sbn.objective().item() < start - 1.0, f"{plan} should lower the negative ELBO"


@pytest.mark.parametrize("plan", ["LR", "ARM", "DisARM"])
def test_sbn_gradient_unbiased_against_enumerate(seeded, plan):
    # 2 images x 3 latents: 64 joint outcomes per particle, which Enumerate can serve
    sbn = SigmoidBeliefNet(latents=3, images=2, particles=64, seed=1, init_scale=0.5)
    exact = pl.PropagationManager({"z": "Enumerate"}, sites=sbn.sites).estimate(sbn)
    for name, value in sbn.analytic_gradient().items():
        assert torch.allclose(exact[name], value, atol=1e-5), f"Enumerate is exact for {name}"
    samples = collect(pl.PropagationManager({"z": plan}, sites=sbn.sites), sbn, 300)
    for name, truth in exact.items():
        varies = samples[name].std(0) > 0  # pixels off in both images get no gradient at all
        assert varies.any()
        fixed = samples[name][0][~varies]  # the same in every estimate: must be the truth
        assert torch.allclose(fixed, truth.double()[~varies], atol=1e-6), name
        assert_within_se(samples[name][:, varies], truth[varies], what=f"{plan} d/d{name}")
