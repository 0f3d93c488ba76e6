"""Gradient statistics: Welford, intervals, compare, sweep, non-finite localisation."""

import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.systems import ChaoticRNN, GaussianToy
from proppo_lab.trace import (
    ForwardCheck,
    GradientStats,
    Welford,
    chi2_quantile,
    compare,
    sweep,
    variance_interval,
)


def test_welford_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(500, 3)) * np.array([1.0, 10.0, 1e-3]) + 1e4
    w = Welford()
    for row in data:
        w.update(torch.tensor(row, dtype=torch.float64))
    assert w.n == 500
    np.testing.assert_allclose(w.mean.numpy(), data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(w.variance.numpy(), data.var(0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(w.std_error.numpy(), data.std(0, ddof=1) / math.sqrt(500), rtol=1e-9)
    np.testing.assert_allclose(w.snr.numpy(), np.abs(data.mean(0)) / data.std(0, ddof=1), rtol=1e-9)
    b = Welford()
    for chunk in np.array_split(data, 7):
        b.update_batch(torch.tensor(chunk))
    np.testing.assert_allclose(b.variance.numpy(), data.var(0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(b.mean.numpy(), data.mean(0), rtol=1e-12)
    one = Welford()
    one.update(torch.tensor(1.0))
    assert torch.isnan(one.variance)


def test_gradient_stats_history_and_summary():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=20)
    s = GradientStats()
    for x in xs:
        s.update({"a": torch.tensor(x), "v": torch.tensor([x, 2 * x])})
    h = s.history()
    np.testing.assert_allclose(h["a"]["grad"], xs)
    assert math.isnan(h["a"]["variance"][0])
    np.testing.assert_allclose(h["a"]["variance"][-1], xs.var(ddof=1), rtol=1e-6)
    summ = s.summary()
    assert math.isclose(summ["v"]["variance"], 5 * xs.var(ddof=1), rel_tol=1e-6)
    lo, hi = summ["a"]["variance_ci"]
    assert lo < summ["a"]["variance"] < hi


def test_chi2_quantiles():
    # reference values of chi^2 quantiles (scipy.stats.chi2.ppf)
    for p, k, ref in [
        (0.025, 10, 3.24697),
        (0.975, 10, 20.48318),
        (0.975, 100, 129.5612),
        (0.025, 30, 16.79077),
    ]:
        assert math.isclose(chi2_quantile(p, k), ref, rel_tol=0.01)
    lo, hi = variance_interval(2.0, 101)
    assert math.isclose(lo, 100 * 2.0 / 129.5612, rel_tol=0.01)
    assert math.isclose(hi, 100 * 2.0 / 74.2219, rel_tol=0.01)
    assert all(math.isnan(v) for v in variance_interval(1.0, 1))


def test_compare_gaussian_toy():
    toy = GaussianToy(particles=200)
    n = 40
    res = compare(toy, {"RP": "RP", "LR": "LR", "TP": {"x": "TP"}}, n, seed=3)
    assert not res.errors
    truth = {k: float(v) for k, v in toy.analytic_gradient().items()}
    for plan in ("RP", "LR", "TP"):
        for param in ("mu", "sigma"):
            s = res.summary[plan][param]
            assert s["n"] == n
            assert abs(s["mean"] - truth[param]) < 5 * s["se"]
            assert s["variance_ci"][0] < s["variance"] < s["variance_ci"][1]
    rows = res.rows
    assert len(rows) == 3 * 2 * n
    assert set(rows[0]) == {"plan", "param", "iteration", "grad"}
    assert len(res.table()) == 6
    fig = res.variance_figure("mu")
    assert [t.name for t in fig.data] == ["RP", "LR", "TP"]
    assert all(len(t.y) == n for t in fig.data) and fig.layout.yaxis.type == "log"
    fig = res.final_variance_figure("sigma")
    assert list(fig.data[0].x) == ["RP", "LR", "TP"] and len(fig.data[0].error_y.array) == 3
    fig = res.mean_figure()
    assert list(fig.data[0].x) == ["RP", "LR", "TP"]
    json.dumps(res.to_dict())


def test_common_random_numbers():
    toy = GaussianToy(particles=50)
    res = compare(toy, {"a": "RP", "b": {"x": "RP"}}, 5, seed=11)
    assert res.history["a"]["mu"]["grad"] == res.history["b"]["mu"]["grad"]
    again = compare(toy, {"a": "RP"}, 5, seed=11)
    assert again.history["a"]["mu"]["grad"] == res.history["a"]["mu"]["grad"]


def test_sweep_resume_and_extend(tmp_path, capsys):
    path = tmp_path / "sweep.json"
    factory = lambda beta: ChaoticRNN(beta=beta, particles=30, steps=8)  # noqa: E731
    plans = {"RP": "RP", "LR": "LR", "TP": "TP"}
    first = sweep(factory, {"beta": [1.0, 2.4]}, plans, 4, path=path, progress=True)
    assert first.computed == 6 and first.skipped == 0
    err = capsys.readouterr().err  # tqdm's bar: "sweep: 100%|...| 24/24 [...]"
    assert "sweep:" in err and "24/24" in err
    saved = json.loads(path.read_text())
    assert len(saved["entries"]) == 6
    again = sweep(factory, {"beta": [1.0, 2.4]}, plans, 4, path=path, progress=False)
    assert again.computed == 0 and again.skipped == 6
    assert again.entries == first.entries
    more = sweep(factory, {"beta": [1.0, 2.4, 3.0]}, plans, 4, path=path, progress=False)
    assert more.computed == 3 and more.skipped == 6 and len(more.entries) == 9
    fig = more.figure("beta")
    assert [t.name for t in fig.data] == ["RP", "LR", "TP"]
    assert all(list(t.x) == [1.0, 2.4, 3.0] for t in fig.data)
    assert fig.layout.yaxis.type == "log"
    assert len(more.rows) == 9
    # a changed iteration count recomputes
    ticks = []
    redo = sweep(
        factory,
        {"beta": [1.0]},
        {"RP": "RP"},
        5,
        path=path,
        progress=lambda d, t, s: ticks.append((d, t)),
    )
    assert redo.computed == 1 and ticks[-1] == (5, 5)


class Blows:
    """A 5-step chain whose step 3 turns NaN from iteration 2 on."""

    sites = ("state", "cost")

    def __init__(self):
        self.params = {"theta": torch.tensor(0.5, requires_grad=True)}
        self.calls = 0

    def __call__(self, pm):
        theta = pm.param("theta", self.params["theta"])
        s = theta.expand(8)
        for t in range(5):
            loc = s * theta
            if t == 3 and self.calls >= 2:
                loc = loc * float("nan")
            s = pm.sample("state", Normal(loc, 0.1, validate_args=False))
        self.calls += 1
        pm.loss("cost", s**2)


def test_nonfinite_forward_is_located():
    res = compare(Blows(), {"LR": "LR"}, 5, check=True)
    assert len(res.errors) == 1
    err = res.errors[0]
    assert (err["site"], err["instance"], err["propagator"], err["iteration"], err["phase"]) == (
        "state",
        3,
        "LR",
        2,
        "forward",
    )
    assert err["plan"] == "LR" and err["type"] == "NonFiniteError"
    assert res.summary["LR"]["theta"]["n"] == 2
    with pytest.raises(pl.NonFiniteError) as info:
        compare(Blows(), {"RP": "RP"}, 5, check=True, on_error="raise")
    assert (info.value.site, info.value.instance, info.value.iteration) == ("state", 3, 2)


def test_nonfinite_backward_is_located_by_the_engine():
    class Sqrt:
        sites = ("z", "cost")
        params = {"mu": torch.tensor(0.2, requires_grad=True)}

        def __call__(self, pm):
            mu = pm.param("mu", self.params["mu"])
            z = pm.sample("z", Normal(mu.expand(4), 1.0))
            pm.loss("cost", torch.sqrt(z * 0))

    res = compare(Sqrt(), {"pause": {"z": "Pause"}}, 3)
    err = res.errors[0]
    assert (err["site"], err["instance"], err["propagator"], err["iteration"], err["phase"]) == (
        "z",
        0,
        "Pause",
        0,
        "backward",
    )


def test_nonfinite_gradient_without_engine_checks():
    class Sqrt:
        sites = ("z", "cost")
        params = {"mu": torch.tensor(0.2, requires_grad=True)}
        calls = 0

        def __call__(self, pm):
            mu = pm.param("mu", self.params["mu"])
            z = pm.sample("z", Normal(mu.expand(4), 1.0))
            k = 0.0 if self.calls == 1 else 1.0
            self.calls += 1
            pm.loss("cost", torch.sqrt(z * z * k))

    res = compare(Sqrt(), {"RP": "RP"}, 3, check_finite=False)
    assert res.errors == [
        {
            "type": "NonFiniteGradient",
            "message": res.errors[0]["message"],
            "site": None,
            "instance": None,
            "propagator": None,
            "phase": "gradient",
            "param": "mu",
            "iteration": 1,
            "plan": "RP",
        }
    ]


def test_forward_check_observer_directly():
    pm = pl.PropagationManager()
    check = ForwardCheck(pm)
    pm.sample("ok", Normal(torch.zeros(3), 1.0))
    pm.forward("bad", torch.tensor([1.0, float("inf")]))
    pm.forward("worse", torch.tensor([float("nan")]))
    pm.loss("cost", torch.zeros(3))
    with pytest.raises(pl.NonFiniteError) as info:
        pm.backward()  # checked together, before anything propagates
    assert info.value.site == "bad" and info.value.propagator == "Backprop"
    assert info.value.phase == "forward"
    check.detach()


def test_forward_check_explains_a_later_failure_by_the_first_nan():
    pm = pl.PropagationManager()
    check = ForwardCheck(pm)
    pm.forward("bad", torch.tensor([float("nan"), 1.0]))
    later = pl.PropagationError("cholesky failed", site="fit", instance=0, propagator="GR")
    found = check.explain(later)
    assert isinstance(found, pl.NonFiniteError) and found.site == "bad"
    assert check.explain(later) is later  # nothing pending any more: the error stands
    pm.discard()
    check.detach()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compare_on_gpu():
    toy = GaussianToy(particles=100, device="cuda")
    res = compare(toy, {"RP": "RP", "TP": "TP"}, 5)
    assert res.summary["TP"]["mu"]["n"] == 5 and not res.errors


# -- per-particle shares of an estimate ---------------------------------------


@pytest.mark.parametrize("plan", ["RP", "LR", "TP", "GS", "Pause"])
def test_per_particle_shares_add_up_to_the_estimate(plan):
    import proppo_lab as pl

    torch.manual_seed(0)
    chain = pl.systems.GaussianChain(particles=64)
    pm = pl.PropagationManager(default=plan)
    pm.per_particle = True
    grads = pm.estimate(chain)
    shares = pm.particle_gradients
    assert shares.exact and shares.values.shape == (64, 2)
    estimate = torch.stack([grads["mu"], grads["a"]])
    assert torch.allclose(shares.values.mean(0), estimate, rtol=1e-4, atol=1e-6)


def test_spread_predicts_the_variance_across_iterations():
    import proppo_lab as pl
    from proppo_lab import trace

    n = 200
    result = trace.compare(
        pl.systems.GaussianToy(particles=n), {"RP": "RP"}, iterations=300, spread=True
    )
    history = result.history["RP"]["mu"]
    spread = torch.tensor(history["spread"])
    grads = torch.tensor(history["grad"])
    predicted = spread.mean() / n  # i.i.d. particles: Var(mean) = Var(particle) / N
    observed = grads.var()
    # the variance of a sample variance with 299 dof is about 2/299 relative: allow 4 sigma
    assert abs(observed / predicted - 1) < 4 * (2 / 299) ** 0.5


def test_spread_with_many_parameters_uses_probes():
    import proppo_lab as pl

    torch.manual_seed(0)
    policy = torch.nn.Linear(8, 16)
    inputs = torch.randn(32, 8)

    def program(pm):
        pm.param("policy", policy)
        x = pm.sample("x", torch.distributions.Normal(policy(inputs).sum(-1), 1.0))
        pm.loss("cost", x**2)

    pm = pl.PropagationManager(default="RP")
    pm.per_particle = True
    pm.estimate(program)
    shares = pm.particle_gradients
    assert not shares.exact and set(shares.spread()) == {"total"}
    assert shares.values.shape == (32, 64)


def test_lazy_forward_check_scans_only_when_a_loss_is_not_finite():
    pm = pl.PropagationManager()
    check = ForwardCheck(pm, lazy=True)
    pm.forward("unused", torch.tensor([float("nan")]))  # never reaches a loss: harmless
    pm.loss("cost", torch.zeros(3))
    pm.backward()
    pm.forward("bad", torch.tensor([1.0, float("inf")]))
    pm.loss("cost", torch.tensor([1.0, float("inf")]))
    with pytest.raises(pl.NonFiniteError) as info:
        pm.backward()  # found at its source, not at the loss
    assert info.value.site == "bad" and info.value.phase == "forward"
    check.detach()


@pytest.mark.parametrize("prop", ["DisARM", "Enumerate"])
def test_spread_counts_a_coupled_group_as_one_sample(prop):
    import proppo_lab as pl
    from proppo_lab import trace

    toy = pl.systems.BernoulliToy(theta=0.3, target=0.2, particles=100)
    result = trace.compare(toy, {prop: {"z": prop}}, iterations=300, spread=True)
    history = result.history[prop]["theta"]
    spread, grads = torch.tensor(history["spread"]), torch.tensor(history["grad"])
    groups = 50  # 100 particles: DisARM's antithetic pairs, or Enumerate's outcomes 0 and 1
    predicted, observed = spread.mean() / groups, grads.var()
    if prop == "Enumerate":  # every group is the exact gradient: no spread, no variance
        assert predicted < 1e-12 and observed < 1e-12
    else:
        assert abs(observed / predicted - 1) < 4 * (2 / 299) ** 0.5
