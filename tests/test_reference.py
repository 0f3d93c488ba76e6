"""Bias against a reference: compare(..., reference=) and trace.gradcheck."""

import math

import pytest
import torch

import proppo_lab as pl
from proppo_lab import trace


def register_clip_rp():
    """Per-particle gradient clipping: RP with each particle's incoming gradient
    clipped (biased whenever the clip bites)."""

    @pl.register("TestClipRP", colour="#882255", options={"max_norm": pl.Option("float", 1.0, "")})
    class ClipRP(pl.Propagator):
        reads_grad = True

        def __init__(self, max_norm):
            self.max_norm = max_norm

        def forward(self, node, fp):
            x = node.dist.rsample()
            node.saved["x"] = x
            return fp.detach(node, x, grad=True)

        def backward(self, node, bp):
            g = bp.grad(node)  # carries the 1/N of the mean loss
            scale = (self.max_norm / g.abs().clamp_min(1e-30)).clamp(max=1.0)
            bp.backprop(node, [node.saved["x"]], [g * scale])


def register_cv_lr():
    """LR with a leave-one-out control variate, assembled from parts: unbiased."""

    @pl.register("TestCvLR", colour="#117733")
    def cv_lr():
        return pl.Composite([pl.ScoreFunction("loo")], draw="sample")


@pytest.fixture
def estimators(clean_registry):
    register_clip_rp()
    register_cv_lr()


CLIP = {"propagator": "TestClipRP", "options": {"max_norm": 2e-3}}


def test_reference_flags_clipping_and_passes_a_control_variate(estimators):
    system = pl.systems.GaussianChain(particles=200)
    plans = {"clip": {"x1": CLIP, "x2": CLIP}, "cv": "TestCvLR"}
    cmp = trace.compare(system, plans, 200, reference="analytic")
    rows = {(r["plan"], r["param"]): r for r in cmp.table()}
    exact = system.analytic_gradient()
    for param in ("mu", "a"):
        clip, cv = rows[("clip", param)], rows[("cv", param)]
        assert clip["reference"] == pytest.approx(float(exact[param]))
        assert abs(clip["z"]) > 10, clip
        assert abs(cv["z"]) < 4, cv
        # MSE is bias squared plus the variance of one estimate
        assert clip["mse"] == pytest.approx(clip["bias"] ** 2 + clip["variance"])
        assert cv["cost_mse"] == pytest.approx(cv["mse"] * cmp.seconds["cv"] / cv["n"])


def test_gradcheck_answers_pass_or_fail_with_the_numbers(estimators):
    system = pl.systems.GaussianToy(particles=200)
    good = trace.gradcheck(system, "TestCvLR", n=100)
    bad = trace.gradcheck(system, {"x": CLIP}, n=100)
    assert good and not bad
    assert str(good).startswith("gradcheck PASS: plan 'TestCvLR', 100 estimates")
    assert str(bad).startswith("gradcheck FAIL")
    assert "mu: mean" in str(bad) and "max |z|" in str(bad)
    assert {r["param"] for r in bad.rows} == {"mu", "sigma"}


def test_a_high_particle_run_is_a_reference_with_its_own_error():
    ref = trace.Reference.run(pl.systems.GaussianChain(particles=5000), "RP", iterations=20)
    assert ref.se["mu"] > 0
    exact = pl.systems.GaussianChain().analytic_gradient()
    assert abs(float(ref.mean["mu"] - exact["mu"])) < 5 * float(ref.se["mu"])
    check = trace.gradcheck(pl.systems.GaussianChain(particles=100), "LR", ref, n=60)
    assert check, str(check)


def test_an_exact_mapping_and_a_callable_are_references():
    system = pl.systems.GaussianToy(particles=100)
    exact = {"mu": 1.0, "sigma": 2.0}
    by_value = trace.compare(system, {"RP": "RP"}, 5, reference=exact).table()
    by_call = trace.compare(system, {"RP": "RP"}, 5, reference=lambda: exact).table()
    assert [r["bias"] for r in by_value] == [r["bias"] for r in by_call]
    assert by_value[0]["bias"] == pytest.approx(by_value[0]["mean"] - 1.0)


def test_a_program_without_a_closed_form_says_so():
    with pytest.raises(ValueError, match="ChaoticRNN has no analytic_gradient"):
        trace.compare(
            pl.systems.ChaoticRNN(steps=3, particles=8), {"RP": "RP"}, 2, reference="analytic"
        )


def test_a_plan_that_failed_is_marked_incomplete_and_has_no_snr(clean_registry):
    @pl.register("FailsLate", colour="#000000")
    class FailsLate(pl.Propagator):
        calls = 0

        def forward(self, node, fp):
            FailsLate.calls += 1
            if FailsLate.calls > 3:
                raise ValueError("gave up")
            return node.dist.rsample()

    system = pl.systems.GaussianToy(particles=50)
    cmp = trace.compare(system, {"RP": "RP", "late": "FailsLate"}, 6)
    rows = {(r["plan"], r["param"]): r for r in cmp.table()}
    assert cmp.incomplete == {"late"}
    assert rows[("late", "mu")]["complete"] is False and math.isnan(rows[("late", "mu")]["snr"])
    assert rows[("late", "mu")]["n"] == 3
    assert rows[("RP", "mu")]["complete"] is True and rows[("RP", "mu")]["snr"] > 0
    assert cmp.to_dict()["incomplete"] == ["late"]


def test_the_reference_is_resolved_before_any_plan_runs():
    calls = []

    def program(pm):
        calls.append(1)
        mu = pm.param("mu", torch.tensor(0.0, requires_grad=True))
        pm.loss("cost", pm.sample("x", torch.distributions.Normal(mu.expand(4), 1.0)))

    with pytest.raises(TypeError, match="must map param -> gradient, got int"):
        trace.compare(program, {"RP": "RP"}, 2, reference=lambda: 3)
    assert calls == []
