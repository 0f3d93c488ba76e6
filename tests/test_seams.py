"""The engine's seams: coupling that holds for every draw upstream of a coupled node,
and errors that keep the user's exception type while naming the node."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from conftest import assert_within_se, collect
from torch.distributions import Bernoulli, Normal

import proppo_lab as pl
from proppo_lab import trace


def _normal_into_bernoulli(particles: int):
    """z ~ Normal(theta, 1) feeds b ~ Bernoulli(logits=z); the cost adds a quantised
    reading of z, which varies per particle but carries no pathwise gradient. So the
    estimate is DisARM's term carried back to theta through z (expected value
    0.2 E[sigmoid'(z)]), and a pair whose members drew different z compares costs
    that differ by that reading too."""
    theta = torch.tensor(0.3, requires_grad=True)

    def program(pm):
        z = pm.sample("z", Normal(pm.param("theta", theta).expand(particles), 1.0))
        b = pm.sample("b", Bernoulli(logits=z))
        pm.loss("cost", (b - 0.4) ** 2 + z.round() ** 2)

    return program


def _expected_estimate(theta: float = 0.3) -> float:
    """0.2 E[sigmoid'(z)], z ~ Normal(theta, 1), by quadrature on a fine grid."""
    z = torch.linspace(theta - 12, theta + 12, 200_001, dtype=torch.float64)
    density = torch.exp(-0.5 * (z - theta) ** 2) / math.sqrt(2 * math.pi)
    s = torch.sigmoid(z)
    return float(0.2 * (s * (1 - s) * density).sum() * (z[1] - z[0]))


def _register_hand_rp():
    """Reparameterisation written as tutorial 3 writes it: its own ``rsample``."""

    @pl.register("HandRP", colour="#117733")
    class HandRP(pl.Propagator):
        def forward(self, node, fp):
            return node.dist.rsample()


def _var_and_se(samples: torch.Tensor) -> tuple[float, float]:
    """The variance over repeated estimates, and its standard error (Gaussian approximation)."""
    var = float(samples.var())
    return var, var * math.sqrt(2 / (samples.shape[0] - 1))


def test_a_hand_drawn_value_upstream_of_disarm_is_shared_within_each_pair(seeded, clean_registry):
    _register_hand_rp()
    program = _normal_into_bernoulli(16)
    pm = pl.PropagationManager({"z": "HandRP", "b": "DisARM"})
    pm.estimate(program)  # learns the grouping
    program(pm)
    z = pm.tape[0].output
    assert torch.equal(z[0::2], z[1::2]), "a pair's members drew different z"
    pm.backward()

    hand = collect(pm, program, 300)["theta"]
    drawn = collect(pl.PropagationManager({"z": "RP", "b": "DisARM"}), program, 300)["theta"]
    (hand_var, hand_se), (drawn_var, drawn_se) = _var_and_se(hand), _var_and_se(drawn)
    assert abs(hand_var - drawn_var) <= 4 * math.hypot(hand_se, drawn_se), (hand_var, drawn_var)
    assert_within_se(hand, _expected_estimate(), what="hand-drawn z, DisARM b")


def test_a_hand_drawn_score_function_upstream_of_disarm_is_refused_naming_both(
    seeded, clean_registry
):
    """Its gradient comes from its own per-particle draws (no autograd path through
    the value), which the manager cannot make a pair share: refused."""

    @pl.register("HandLR", colour="#332288")
    class HandLR(pl.Propagator):
        def forward(self, node, fp):
            node.saved["x"] = x = node.dist.sample()
            return x

        def backward(self, node, bp):
            log_p = node.dist.log_prob(node.saved["x"])
            bp.backprop(node, [log_p], [bp.cost(node).detach() / log_p.shape[0]])

    pm = pl.PropagationManager({"z": "HandLR", "b": "DisARM"})
    with pytest.raises(pl.PropagationError, match=r"b\[0\] \(DisARM\)") as info:
        pm.estimate(_normal_into_bernoulli(8))
    assert (info.value.site, info.value.propagator) == ("z", "HandLR")
    assert pm.tape == ()


def test_capture_draws_hand_drawn_values_in_groups(clean_registry):
    _register_hand_rp()
    torch.manual_seed(0)
    graph = trace.capture(_normal_into_bernoulli(8), {"z": "HandRP", "b": "DisARM"})
    assert [i.site for i in graph.instances] == ["z", "b", "cost"]


# -- errors keep their type ----------------------------------------------------------


def _typed_program(fail_at: int | None, kind=TypeError):
    """A chain of three function nodes whose step raises ``kind`` at instance ``fail_at``."""
    w = torch.tensor(0.5, requires_grad=True)

    def step(h, t):
        if t == fail_at:
            raise kind("step got a bad input")
        return torch.tanh(w * h)

    def program(pm):
        pm.param("w", w)
        h = torch.ones(4)
        for t in range(3):
            h = pm.forward("step", lambda x, t=t: step(x, t), h)
        pm.loss("cost", h**2)

    return program


def test_a_users_type_error_is_still_a_type_error_that_names_the_node():
    pm = pl.PropagationManager()
    with pytest.raises(TypeError, match="step got a bad input") as info:
        pm.estimate(_typed_program(fail_at=1))
    err = info.value
    assert isinstance(err, pl.PropagationError)
    assert (err.site, err.instance, err.propagator, err.iteration) == ("step", 1, "Backprop", 0)
    assert err.phase == "forward" and type(err.__cause__) is TypeError
    # it crosses processes (sweeps on process pools) with its type and fields
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, TypeError) and isinstance(back, pl.PropagationError)
    assert (back.site, back.instance, str(back)) == ("step", 1, str(err))


def test_an_error_whose_constructor_takes_other_arguments_keeps_its_type_and_fields():
    class BadShape(ValueError):
        def __init__(self, message, shape):
            super().__init__(message)
            self.shape = shape

    def kind(message):
        return BadShape(message, (4, 2))

    pm = pl.PropagationManager()
    with pytest.raises(BadShape) as info:
        pm.estimate(_typed_program(fail_at=2, kind=kind))
    err = info.value
    assert isinstance(err, pl.PropagationError) and err.shape == (4, 2)
    assert (err.site, err.instance) == ("step", 2)


def test_a_backward_error_keeps_its_type_and_the_iteration_advances_by_one(clean_registry):
    @pl.register("Picky", colour="#aa4499")
    class Picky(pl.Propagator):
        def forward(self, node, fp):
            return node.dist.rsample()

        def backward(self, node, bp):
            if fail:
                raise KeyError("no such entry")

    theta = torch.tensor(0.3, requires_grad=True)

    def program(pm):
        pm.loss("cost", pm.sample("x", Normal(pm.param("theta", theta).expand(4), 1.0)) ** 2)

    pm = pl.PropagationManager({"x": "Picky"})
    fail = False
    for _ in range(3):
        pm.estimate(program)
    fail = True
    iterations = []
    for _ in range(2):
        with pytest.raises(KeyError) as info:
            pm.estimate(program)
        assert isinstance(info.value, pl.PropagationError) and info.value.phase == "backward"
        iterations.append(info.value.iteration)
    assert iterations == [3, 4] and pm.iteration == 5
    fail = False
    pm.estimate(program)  # and it recovers
    assert pm.iteration == 6


def test_plan_errors_name_their_site_and_propagator():
    with pytest.raises(pl.PlanError) as info:
        pl.Plan.from_dict({"state": {"propagator": "TP", "options": {"nope": 1}}})
    assert (info.value.site, info.value.propagator) == ("state", "TP")
    with pytest.raises(pl.PlanError) as info:
        pl.Plan.from_dict({"state": "NoSuchPropagator"})
    assert (info.value.site, info.value.propagator) == ("state", "NoSuchPropagator")
    with pytest.raises(pl.PlanError) as info:
        pl.Plan.from_dict({"state": "TP"}).check_sites({"stat"})
    assert (info.value.site, info.value.propagator) == ("state", None)
    with pytest.raises(pl.PlanError) as info:
        pl.Plan().assign("x", "LR", {"decay": 2.0})
    assert (info.value.site, info.value.propagator) == ("x", "LR")
    assert info.value.as_dict()["site"] == "x"
