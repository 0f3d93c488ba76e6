"""Plans: plain JSON-able data, validated when built, checked against the program's sites."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.systems import ChaoticRNN, GaussianChain, GaussianToy

RICH = {
    "state": {
        "propagator": "TP",
        "options": {"every": 5, "baseline": "ema", "decay": 0.5},
        "instances": {"0": "RP", "99": {"propagator": "LR", "options": {"baseline": "none"}}},
    },
    "other": "LR",
    "third": {"propagator": "GS", "options": {"jitter": 0.001}},
}


# -- round trips ---------------------------------------------------------------------------
def test_dict_round_trip_is_stable_and_json_compatible():
    plan = pl.Plan.from_dict(RICH)
    d = plan.to_dict()
    json.dumps(d)  # plain data only
    assert pl.Plan.from_dict(d) == plan
    assert pl.Plan.from_dict(d).to_dict() == d
    # defaults are not written out; given options are
    assert d["other"] == "LR"
    assert d["state"]["options"] == {"every": 5, "baseline": "ema", "decay": 0.5}
    assert set(d["state"]["instances"]) == {"0", "99"}
    assert d["state"]["instances"]["0"] == "RP"
    assert d["state"]["instances"]["99"] == {"propagator": "LR", "options": {"baseline": "none"}}


def test_json_round_trip():
    plan = pl.Plan.from_dict(RICH)
    text = plan.to_json()
    assert isinstance(text, str)
    again = pl.Plan.from_json(text)
    assert again == plan
    assert again.to_json() == text
    assert json.loads(text) == plan.to_dict()


def test_invalid_json_text_is_a_plan_error():
    with pytest.raises(pl.PlanError):
        pl.Plan.from_json("{not json")


def test_none_and_empty_plans():
    assert pl.Plan.from_dict(None).to_dict() == {}
    assert pl.Plan.from_dict({}).spec_for("x", 0) is None


def test_options_defaults_filled_in_spec():
    plan = pl.Plan.from_dict({"s": "TP"})
    spec = plan.spec_for("s", 3)
    assert spec.propagator == "TP"
    assert spec.options["baseline"] == "loo" and spec.options["every"] == 1


def test_int_given_for_float_is_converted():
    plan = pl.Plan.from_dict({"s": {"propagator": "LR", "options": {"decay": 1}}})
    assert plan.spec_for("s", 0).options["decay"] == 1.0
    assert isinstance(plan.spec_for("s", 0).options["decay"], float)


# -- per-instance overrides ----------------------------------------------------------------
def test_per_instance_override_lookup():
    plan = pl.Plan.from_dict(RICH)
    assert plan.spec_for("state", 0).propagator == "RP"
    assert plan.spec_for("state", 99).propagator == "LR"
    assert plan.spec_for("state", 99).options["baseline"] == "none"
    assert plan.spec_for("state", 5).propagator == "TP"
    assert plan.spec_for("nowhere", 0) is None


def test_per_instance_override_reaches_the_nodes():
    system = ChaoticRNN(particles=20, steps=6)
    pm = pl.PropagationManager(
        {"state": {"propagator": "LR", "instances": {"2": "RP", 4: "TP"}}}, sites=system.sites
    )
    system(pm)
    names = [n.propagator_name for n in pm.tape if n.site == "state"]
    assert names == ["LR", "LR", "RP", "LR", "TP", "LR"]
    pm.backward()
    assert torch.isfinite(system.params["beta"].grad)


# -- immutability --------------------------------------------------------------------------
def test_assign_and_clear_return_new_plans():
    base = pl.Plan.from_dict({"a": "RP"})
    before = base.to_dict()
    p1 = base.assign("b", "LR", {"baseline": "none"})
    p2 = p1.assign("b", "TP", instance=3)
    p3 = p2.clear("b", instance=3)
    p4 = p3.clear("b")
    assert base.to_dict() == before == {"a": "RP"}
    assert p1.to_dict() == {"a": "RP", "b": {"propagator": "LR", "options": {"baseline": "none"}}}
    assert p2.spec_for("b", 3).propagator == "TP" and p2.spec_for("b", 2).propagator == "LR"
    assert p1.spec_for("b", 3).propagator == "LR"
    assert p3.spec_for("b", 3).propagator == "LR"
    assert p4.to_dict() == {"a": "RP"}
    assert base.clear("zzz").to_dict() == {"a": "RP"}
    # reassigning the site keeps its instance overrides
    assert p2.assign("b", "RP").spec_for("b", 3).propagator == "TP"


def test_plan_internals_cannot_be_mutated():
    plan = pl.Plan.from_dict({"a": {"propagator": "LR", "instances": {"1": "RP"}}})
    with pytest.raises(TypeError):
        plan.sites["b"] = plan.sites["a"]
    with pytest.raises(TypeError):
        plan.sites["a"].spec.options["baseline"] = "none"
    with pytest.raises(TypeError):
        plan.sites["a"].instances[2] = plan.sites["a"].spec
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        plan.sites = {}


def test_source_dict_mutation_does_not_leak_into_plan():
    raw = {"a": {"propagator": "LR", "options": {"baseline": "none"}}}
    plan = pl.Plan.from_dict(raw)
    raw["a"]["options"]["baseline"] = "loo"
    raw["b"] = "RP"
    assert plan.to_dict() == {"a": {"propagator": "LR", "options": {"baseline": "none"}}}


def test_assign_validates_and_instance_needs_site():
    base = pl.Plan.from_dict({})
    with pytest.raises(pl.PlanError):
        base.assign("a", "NoSuchProp")
    with pytest.raises(pl.PlanError):
        base.assign("a", "LR", {"baseline": "nope"})
    with pytest.raises(pl.PlanError):
        base.assign("a", "LR", instance=0)  # site not assigned yet
    with pytest.raises(pl.PlanError):
        base.assign("a", "LR").assign("a", "RP", instance=-1)


# -- rejection of bad plans ----------------------------------------------------------------
BAD_PLANS = {
    "unknown propagator": {"s": "Backprobb"},
    "unknown propagator in mapping": {"s": {"propagator": "XYZ"}},
    "unknown propagator in instance": {"s": {"propagator": "LR", "instances": {"0": "XYZ"}}},
    "propagator not a string": {"s": {"propagator": 3}},
    "spec not a string/mapping": {"s": 3},
    "missing propagator": {"s": {"options": {}}},
    "unknown spec key": {"s": {"propagator": "LR", "option": {}}},
    "unknown option": {"s": {"propagator": "LR", "options": {"baselines": "loo"}}},
    "option on optionless propagator": {"s": {"propagator": "RP", "options": {"x": 1}}},
    "bool for int": {"s": {"propagator": "TP", "options": {"every": True}}},
    "bool for float": {"s": {"propagator": "LR", "options": {"decay": False}}},
    "str for float": {"s": {"propagator": "LR", "options": {"decay": "0.5"}}},
    "float for int": {"s": {"propagator": "TP", "options": {"every": 2.5}}},
    "int for str": {"s": {"propagator": "LR", "options": {"baseline": 1}}},
    "bad choice": {"s": {"propagator": "LR", "options": {"baseline": "mean"}}},
    "below minimum": {"s": {"propagator": "TP", "options": {"every": 0}}},
    "above maximum": {"s": {"propagator": "LR", "options": {"decay": 1.5}}},
    "negative float": {"s": {"propagator": "GS", "options": {"jitter": -1e-3}}},
    "nan": {"s": {"propagator": "LR", "options": {"decay": math.nan}}},
    "inf": {"s": {"propagator": "GR", "options": {"jitter": math.inf}}},
    "options not a mapping": {"s": {"propagator": "LR", "options": ["loo"]}},
    "instances not a mapping": {"s": {"propagator": "LR", "instances": ["RP"]}},
    "instance key negative": {"s": {"propagator": "LR", "instances": {"-1": "RP"}}},
    "instance key not a number": {"s": {"propagator": "LR", "instances": {"first": "RP"}}},
    "instance key float string": {"s": {"propagator": "LR", "instances": {"1.5": "RP"}}},
    "instance key bool": {"s": {"propagator": "LR", "instances": {True: "RP"}}},
    "instance key float": {"s": {"propagator": "LR", "instances": {1.0: "RP"}}},
    "instance with instances": {
        "s": {"propagator": "LR", "instances": {"0": {"propagator": "RP", "instances": {}}}}
    },
    "empty site name": {"": "RP"},
    "non-string site name": {3: "RP"},
}


@pytest.mark.parametrize("name", sorted(BAD_PLANS))
def test_bad_plans_are_rejected_when_built(name):
    with pytest.raises(pl.PlanError):
        pl.Plan.from_dict(BAD_PLANS[name])
    with pytest.raises(pl.PlanError):
        pl.PropagationManager(BAD_PLANS[name])


def test_plan_must_be_a_mapping():
    with pytest.raises(pl.PlanError):
        pl.Plan.from_dict(["s", "RP"])
    with pytest.raises(pl.PlanError):
        pl.Plan.from_json('["RP"]')


def test_error_message_names_the_problem():
    with pytest.raises(pl.PlanError, match="Backprobb"):
        pl.Plan.from_dict({"s": "Backprobb"})
    with pytest.raises(pl.PlanError, match="baselines"):
        pl.Plan.from_dict({"s": {"propagator": "LR", "options": {"baselines": "loo"}}})


def test_bad_default_rejected():
    with pytest.raises(pl.PlanError):
        pl.PropagationManager(default="NoSuch")
    with pytest.raises(pl.PlanError):
        pl.PropagationManager(default={"loss": "RP"})
    with pytest.raises(pl.PlanError):
        pl.PropagationManager(default=3)


# -- unknown sites -------------------------------------------------------------------------
def test_unknown_site_rejected_with_sites_given():
    with pytest.raises(pl.PlanError, match="stat"):
        pl.PropagationManager({"stat": "TP"}, sites=ChaoticRNN.sites)
    pm = pl.PropagationManager({"state": "TP"}, sites=ChaoticRNN.sites)
    with pytest.raises(pl.PlanError):
        pm.set_plan({"states": "LR"})
    assert pm.plan.to_dict() == {"state": "TP"}  # the failed set_plan changed nothing


def test_unknown_site_rejected_at_first_backward_before_propagation():
    system = GaussianChain(particles=50)
    pm = pl.PropagationManager({"x1": "LR", "x3": "LR"})  # no sites given: x3 is not known yet
    for p in system.params.values():
        p.grad = None
    with pytest.raises(pl.PlanError, match="x3"):
        pm.estimate(system)
    assert all(p.grad is None for p in system.params.values()), "a gradient was written"
    # the manager recovers: a corrected plan runs
    pm.set_plan({"x1": "LR"})
    grads = pm.estimate(system)
    assert set(grads) == {"mu", "a"} and all(torch.isfinite(g) for g in grads.values())
    # and now the sites are known, so a bad plan is rejected at once
    with pytest.raises(pl.PlanError):
        pm.set_plan({"x3": "LR"})


def test_unknown_site_rejected_at_backward_when_driving_by_hand():
    system = GaussianToy(particles=10)
    pm = pl.PropagationManager({"y": "LR"})
    system(pm)
    with pytest.raises(pl.PlanError):
        pm.backward()
    assert all(p.grad is None for p in system.params.values())


# -- set_plan changes behaviour without a program change ------------------------------------
def test_set_plan_between_iterations_changes_behaviour():
    system = GaussianToy(particles=64)
    pm = pl.PropagationManager({"x": "RP"}, sites=system.sites)
    seen = []

    class Watch:
        def node_created(self, node):
            if node.site == "x":
                seen.append(node.propagator_name)

    pm.observe(Watch())
    torch.manual_seed(0)
    g_rp = pm.estimate(system)
    pm.set_plan({"x": "LR"})
    torch.manual_seed(0)
    g_lr = pm.estimate(system)
    pm.set_plan(pl.Plan.from_dict({"x": "RP"}))
    torch.manual_seed(0)
    g_rp2 = pm.estimate(system)
    assert seen == ["RP", "LR", "RP"]
    assert not torch.allclose(g_rp["mu"], g_lr["mu"])
    assert torch.equal(g_rp["mu"], g_rp2["mu"]) and torch.equal(g_rp["sigma"], g_rp2["sigma"])


def test_default_mapping_by_kind():
    def program(pm):
        mu = pm.param("mu", mu_t)
        x = pm.sample("x", Normal(mu.expand(16), 1.0))
        y = pm.forward("f", x * 2)
        pm.loss("cost", y**2)

    mu_t = torch.tensor(0.3, requires_grad=True)
    pm = pl.PropagationManager(default={"sample": "LR", "forward": "Pause"})
    program(pm)
    assert [n.propagator_name for n in pm.tape[:2]] == ["LR", "Pause"]
    pm.discard()
