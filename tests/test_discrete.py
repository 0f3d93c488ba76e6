"""Coupled particles and the estimators built on them (ARM, DisARM, Enumerate, MVD), and
Gumbel's bias: unbiasedness within 4 standard errors against analytic gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_variance_lt, assert_within_se, collect, mean_se
from torch.distributions import Bernoulli, Categorical, Normal, OneHotCategorical

import proppo_lab as pl
from proppo_lab.core.coupling import Coupling
from proppo_lab.systems import BernoulliToy, GaussianToy

NEW = ["ARM", "DisARM", "Enumerate", "MVD", "Gumbel"]


def test_new_propagators_in_the_catalogue():
    cat = {e["name"]: e for e in pl.catalogue()}
    for name in NEW:
        assert cat[name]["builtin"] and "sample" in cat[name]["kinds"]
        assert "cost" in cat[name]["doc"].lower(), f"{name}'s explanation says what it costs"
    assert set(cat["Gumbel"]["options"]) == {"temperature", "straight_through"}


def test_coupling_layout():
    c = Coupling(2, "antithetic")
    x = torch.arange(6.0)
    assert c.groups(6) == 3 and c.split(x).tolist() == [[0, 1], [2, 3], [4, 5]]
    assert c.shared(x).tolist() == [0, 0, 2, 2, 4, 4]
    assert c.means(x).tolist() == [0.5, 2.5, 4.5] and c.repeat(torch.tensor([7.0])).tolist() == [
        7,
        7,
    ]
    with pytest.raises(ValueError, match="multiple of 2"):
        c.groups(5)


@pytest.mark.parametrize("prop", ["ARM", "DisARM", "Enumerate", "LR"])
def test_bernoulli_unbiased(seeded, prop):
    toy = BernoulliToy(theta=0.3, target=0.2, particles=100)
    samples = collect(pl.PropagationManager({"z": prop}), toy, 200)
    truth = toy.analytic_gradient()["theta"]
    if prop == "Enumerate":  # exact: every estimate is the gradient itself
        assert torch.allclose(samples["theta"], truth.double(), rtol=1e-5, atol=1e-7)
    else:
        assert_within_se(samples["theta"], truth, what=prop)


def _categorical(one_hot: bool, particles: int = 60):
    logits = torch.tensor([0.2, -0.4, 0.7], requires_grad=True)
    values = torch.tensor([1.0, -2.0, 0.5])

    def program(pm):
        lg = pm.param("logits", logits).expand(particles, 3)
        if one_hot:
            z = pm.sample("z", OneHotCategorical(logits=lg))
            v = z @ values
        else:
            z = pm.sample("z", Categorical(logits=lg))
            v = values[z]
        pm.loss("cost", (v - 0.3) ** 2)

    p = torch.softmax(logits, 0)
    f = (values - 0.3) ** 2
    truth = torch.autograd.grad((p * f).sum(), logits)[0]
    return program, truth.detach()


@pytest.mark.parametrize("one_hot", [False, True])
def test_categorical_enumerate_exact_and_lr_unbiased(seeded, one_hot):
    program, truth = _categorical(one_hot)
    exact = collect(pl.PropagationManager({"z": "Enumerate"}), program, 3)["logits"]
    assert torch.allclose(exact, truth.double().expand_as(exact), atol=1e-6)
    lr = collect(pl.PropagationManager({"z": "LR"}), program, 200)["logits"]
    assert_within_se(lr, truth, what="LR on a categorical")


def test_enumerate_joint_outcomes_of_several_coordinates(seeded):
    theta = torch.tensor([0.3, -0.5, 1.0], requires_grad=True)

    def program(pm):
        z = pm.sample("z", Bernoulli(logits=pm.param("theta", theta).expand(16, 3)))
        pm.loss("cost", (z[:, 0] * z[:, 1] - 0.5 * z[:, 2]) ** 2)

    grads = collect(pl.PropagationManager({"z": "Enumerate"}), program, 2)["theta"]
    p = torch.sigmoid(theta)
    exact = p[0] * p[1] * (1 - p[2]) + 0.25 * p[2] * (1 - p[0] * p[1]) + 0.25 * p[0] * p[1] * p[2]
    truth = torch.autograd.grad(exact, theta)[0]
    assert torch.allclose(grads, truth.double().expand_as(grads), atol=1e-6)


def test_mvd_unbiased_on_a_gaussian(seeded):
    toy = GaussianToy(mu=0.5, sigma=1.2, particles=400)  # groups of 1 + 3
    samples = collect(pl.PropagationManager({"x": "MVD"}), toy, 200)
    for name, truth in toy.analytic_gradient().items():
        assert_within_se(samples[name], truth, what=f"MVD d/d{name}")


def test_mvd_per_coordinate(seeded):
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    sigma = torch.tensor([0.8, 1.5], requires_grad=True)

    def program(pm):
        x = pm.sample(
            "x", Normal(pm.param("mu", mu).expand(280, 2), pm.param("sigma", sigma).expand(280, 2))
        )  # groups of 7
        pm.loss("cost", (x**2).sum(1) + x[:, 0] * x[:, 1])

    samples = collect(pl.PropagationManager({"x": "MVD"}), program, 200)
    m = mu.detach()
    assert_within_se(samples["mu"], 2 * m + m.flip(0), what="MVD d/dmu")
    assert_within_se(samples["sigma"], 2 * sigma.detach(), what="MVD d/dsigma")


def test_gumbel_bias_shrinks_with_the_temperature(seeded):
    toy = BernoulliToy(theta=0.3, target=0.2, particles=500)
    truth = float(toy.analytic_gradient()["theta"])
    biases = []
    for temperature in (1.0, 0.3, 0.1):
        pm = pl.PropagationManager(
            {"z": {"propagator": "Gumbel", "options": {"temperature": temperature}}}
        )
        mean, se = mean_se(collect(pm, toy, 100)["theta"])
        biases.append((abs(float(mean) - truth), float(se)))
    (b1, s1), (b2, s2), (b3, s3) = biases
    assert b1 > 4 * s1, f"Gumbel at temperature 1 should be visibly biased: {biases}"
    assert b2 + 4 * s2 < b1 and b3 < b2 + 4 * (s2 + s3), f"bias should shrink: {biases}"


def test_gumbel_straight_through_gives_hard_values(seeded):
    toy = BernoulliToy(particles=50)
    pm = pl.PropagationManager(
        {"z": {"propagator": "Gumbel", "options": {"straight_through": True}}}
    )
    toy(pm)
    z = pm.tape[0].output
    assert set(z.unique().tolist()) <= {0.0, 1.0} and z.requires_grad
    pm.backward()
    assert toy.params["theta"].grad is not None


def test_disarm_beats_lr_loo_at_two_cost_evaluations(seeded):
    """The t = 0.49 toy, where the signal is tiny: one antithetic pair against LR with two
    particles (leave-one-out baseline), the comparison of Dong, Mnih & Tucker (2020)."""
    toy = BernoulliToy(theta=0.3, target=0.49, particles=2)
    disarm = collect(pl.PropagationManager({"z": "DisARM"}), toy, 1500)["theta"]
    lr = collect(pl.PropagationManager({"z": "LR"}), toy, 1500)["theta"]
    assert_variance_lt(disarm, lr, what="DisARM vs LR-loo")
    assert_within_se(disarm, toy.analytic_gradient()["theta"], what="DisARM")


def _mixed(particles: int):
    """x ~ N(mu, 1), b ~ Bernoulli(sigmoid(a + x)), y ~ N(c b + x, 1), cost y^2 + 0.3 x:
    a coupled node (b) downstream of one node and upstream of another."""
    params = {
        k: torch.tensor(v, requires_grad=True) for k, v in (("mu", 0.3), ("a", -0.2), ("c", 1.5))
    }

    def program(pm):
        mu, a, c = (pm.param(k, v) for k, v in params.items())
        x = pm.sample("x", Normal(mu.expand(particles), 1.0))
        b = pm.sample("b", Bernoulli(logits=a + x))
        y = pm.sample("y", Normal(c * b + x, 1.0))
        pm.loss("cost", y**2 + 0.3 * x)

    # E[cost] = 1 + mu^2 + 1 + 0.3 mu + E_x[sigmoid(a + x) (c^2 + 2 c x)], by quadrature
    nodes, weights = (
        torch.tensor(v, dtype=torch.float64) for v in np.polynomial.hermite.hermgauss(60)
    )
    mu, a, c = (params[k].double() for k in ("mu", "a", "c"))
    x = mu + np.sqrt(2) * nodes
    inner = (weights * torch.sigmoid(a + x) * (c**2 + 2 * c * x)).sum() / np.sqrt(np.pi)
    total = mu**2 + 2 + 0.3 * mu + inner
    truth = dict(zip(params, torch.autograd.grad(total, [params[k] for k in params])))
    return program, truth


@pytest.mark.parametrize(
    "plan",
    [
        {"x": "RP", "b": "DisARM", "y": "LR"},
        {"x": "LR", "b": "Enumerate", "y": "RP"},
        {"x": "TP", "b": "ARM", "y": "TP"},
        {"x": "MVD", "b": "LR", "y": "RP"},
        {"x": "LR", "b": "LR", "y": "MVD"},
    ],
    ids=lambda p: "-".join(p.values()),
)
def test_coupled_nodes_under_mixed_plans(seeded, plan):
    program, truth = _mixed(240)
    pm = pl.PropagationManager(plan)
    samples = collect(pm, program, 150)
    for name, value in truth.items():
        assert_within_se(samples[name], value, what=f"{plan} d/d{name}")


def test_upstream_nodes_draw_one_value_per_group(seeded):
    program, _ = _mixed(8)
    pm = pl.PropagationManager({"b": "DisARM"})
    pm.estimate(program)  # learns the grouping (runs the iteration twice)
    program(pm)
    x = pm.tape[0].output
    assert torch.equal(x[0::2], x[1::2]) and pm.tape[0].coupling == Coupling(2, "antithetic")
    assert pm.tape[2].coupling is None  # downstream: independent draws
    pm.backward()


def test_manual_loop_is_told_to_run_again(seeded):
    program, _ = _mixed(8)
    pm = pl.PropagationManager({"b": "ARM"})
    with pytest.raises(pl.PropagationError, match="run the iteration again") as info:
        program(pm)
    assert (info.value.site, info.value.propagator) == ("b", "ARM")
    pm.discard()
    program(pm)
    pm.backward()


def test_data_grouped_by_pm_coupling_before_the_coupled_node(seeded):
    """A program that repeats its per-particle data by ``pm.coupling`` before any
    sample node read None on the first iteration: that iteration runs again."""
    theta = torch.tensor(0.3, requires_grad=True)
    groupings, noises = [], []

    def program(pm):
        noise = torch.randn(8)
        if pm.coupling is not None:  # one value per group, as the README advises
            noise = pm.coupling.repeat(pm.coupling.means(noise))
        groupings.append(pm.coupling)
        noises.append(noise)
        b = pm.sample("b", Bernoulli(logits=pm.param("theta", theta).expand(8)))
        pm.loss("cost", (b - 0.49 + 0.1 * noise) ** 2)

    pm = pl.PropagationManager({"b": "DisARM"})
    pm.estimate(program)
    assert groupings == [None, Coupling(2, "antithetic")]  # the first try was run again
    assert torch.equal(noises[-1][0::2], noises[-1][1::2])


@pytest.mark.parametrize("prop", ["ARM", "DisARM"])
def test_odd_particle_count_is_refused_naming_the_node(prop):
    toy = BernoulliToy(particles=7)
    with pytest.raises(pl.PropagationError, match="multiple of 2") as info:
        pl.PropagationManager({"z": prop}).estimate(toy)
    assert (info.value.site, info.value.instance, info.value.propagator) == ("z", 0, prop)


def test_wrong_nodes_are_refused_with_clear_errors():
    with pytest.raises(pl.PropagationError, match="serves Bernoulli"):
        pl.PropagationManager({"x": "DisARM"}).estimate(GaussianToy(particles=10))

    def big(pm):
        pm.sample("z", Bernoulli(logits=torch.zeros(4, 7, requires_grad=True)))

    with pytest.raises(pl.PropagationError, match="at most 64") as info:
        pl.PropagationManager({"z": "Enumerate"}).estimate(big)
    assert info.value.site == "z"
    with pytest.raises(pl.PropagationError, match="DisARM, Enumerate or Gumbel"):
        pl.PropagationManager({"z": "RP"}).estimate(BernoulliToy(particles=4))


def test_a_second_coupled_node_is_refused():
    def program(pm):
        b1 = pm.sample("b1", Bernoulli(logits=torch.zeros(4, requires_grad=True)))
        b2 = pm.sample("b2", Bernoulli(logits=b1 - 0.5))
        pm.loss("cost", b2)

    with pytest.raises(pl.PropagationError, match="second coupled node") as info:
        pl.PropagationManager({"b1": "DisARM", "b2": "ARM"}).estimate(program)
    assert info.value.site == "b2"


def test_graph_capture_and_compare_with_a_coupled_node(seeded):
    from proppo_lab import trace

    program, truth = _mixed(40)
    graph = trace.capture(program, {"b": "DisARM"})
    assert {i.site for i in graph.instances} >= {"x", "b", "y"}
    result = trace.compare(program, {"LR": {"b": "LR"}, "DisARM": {"b": "DisARM"}}, 5)
    assert result is not None
