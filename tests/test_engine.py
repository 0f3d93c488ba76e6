"""Engine semantics: equivalence with autograd, accumulation, structure, observers, errors."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_close_means, collect
from torch import nn
from torch.distributions import Bernoulli, Laplace, Normal

import proppo_lab as pl
from proppo_lab.systems import ChaoticRNN, GaussianChain, GaussianToy


# ==========================================================================================
# RP through the engine == plain autograd, for identical noise
# ==========================================================================================
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [2.4, 3.0])
def test_rp_equals_plain_autograd_on_chaotic_rnn(beta, dtype):
    """Normal.rsample draws its eps with the global generator in order, one
    (particles, 2) block per step, so reseeding and drawing the same blocks with
    torch.randn reproduces the engine's noise exactly."""
    system = ChaoticRNN(beta=beta, particles=200, steps=60, dtype=dtype)
    pm = pl.PropagationManager({"state": "RP"}, sites=system.sites)
    torch.manual_seed(7)
    engine = pm.estimate(system)["beta"]
    torch.manual_seed(7)
    noise = torch.stack(
        [torch.randn(system.particles, 2, dtype=dtype) for _ in range(system.steps)]
    )
    beta_t = system.params["beta"]
    beta_t.grad = None
    system.plain(noise).backward()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(engine, beta_t.grad, rtol=tol, atol=0.0)
    assert engine.abs() > 0


def test_rp_equals_hand_written_twin_on_a_small_program():
    """A program with a forward node, two sample sites and two losses, and its
    autograd twin written with explicit eps."""
    w = torch.tensor([[0.3, -0.2], [0.1, 0.4]], requires_grad=True)
    b = torch.tensor([0.05, -0.1], requires_grad=True)
    n = 64

    def program(pm):
        pm.param("w", w)
        pm.param("b", b)
        h = pm.sample("h", Normal(torch.zeros(n, 2) + b, 0.5))
        z = pm.forward("lin", torch.tanh(h @ w))
        pm.loss("c1", (z**2).sum(-1))
        y = pm.sample("y", Normal(z, torch.full((n, 2), 0.2)))
        pm.loss("c2", ((y - 1) ** 2).sum(-1))

    torch.manual_seed(4)
    g = pl.PropagationManager().estimate(program)
    torch.manual_seed(4)
    e1, e2 = torch.randn(n, 2), torch.randn(n, 2)
    w.grad = b.grad = None
    h = torch.zeros(n, 2) + b + 0.5 * e1
    z = torch.tanh(h @ w)
    y = z + 0.2 * e2
    ((z**2).sum(-1).mean() + ((y - 1) ** 2).sum(-1).mean()).backward()
    torch.testing.assert_close(g["w"], w.grad)
    torch.testing.assert_close(g["b"], b.grad)


def test_lr_equals_hand_written_score_function():
    """LR with the leave-one-out baseline against REINFORCE written out by hand."""
    system = GaussianToy(mu=0.4, sigma=1.3, particles=50)
    torch.manual_seed(12)
    g = pl.PropagationManager({"x": "LR"}).estimate(system)
    torch.manual_seed(12)
    mu, sigma = system.params["mu"], system.params["sigma"]
    mu.grad = sigma.grad = None
    with torch.no_grad():
        x = Normal(mu.expand(50), sigma.expand(50)).sample()
    c = x**2
    base = (c.sum() - c) / 49
    logp = Normal(mu.expand(50), sigma.expand(50)).log_prob(x)
    ((c - base) * logp).mean().backward()
    torch.testing.assert_close(g["mu"], mu.grad)
    torch.testing.assert_close(g["sigma"], sigma.grad)


@pytest.mark.parametrize("family", [Normal, Laplace])
def test_lr_with_shared_and_own_costs_and_scales(family):
    """LR computes a run of Normal nodes' score terms in one stacked step (other
    families node by node), computing a cost-to-go's advantage or a noise scale
    that several nodes share only once: against REINFORCE by hand with losses
    between nodes (three distinct costs-to-go), two scale tensors each shared by
    two nodes, and learned per-node scales."""
    n = 40
    theta = torch.tensor([0.1, 0.2, -0.3], requires_grad=True)
    log_scale = torch.tensor(-0.7, requires_grad=True)
    shared = [torch.tensor(0.5), torch.tensor(0.7)]

    def scale(t):
        return shared[t % 2] if t < 4 else log_scale.exp().expand(n, 3)

    def program(pm):
        pm.param("theta", theta)
        pm.param("log_scale", log_scale)
        x = torch.zeros(n, 3)
        for t in range(6):
            x = pm.sample("s", family(torch.tanh(x + theta), scale(t), validate_args=False))
            if t in (2, 4):
                pm.loss("c", (x**2).sum(-1))
        pm.loss("c", (x - 1).pow(2).sum(-1))

    torch.manual_seed(5)
    g = pl.PropagationManager({"s": "LR"}).estimate(program)

    torch.manual_seed(5)
    theta.grad = log_scale.grad = None
    x, logps, costs = torch.zeros(n, 3), [], []
    for t in range(6):
        dist = family(torch.tanh(x + theta), scale(t))
        x = dist.sample()
        logps.append(dist.log_prob(x).sum(-1))
        costs.append((x**2).sum(-1) if t in (2, 4) else torch.zeros(n))
    costs[-1] = costs[-1] + (x - 1).pow(2).sum(-1)
    surrogate = 0
    for t in range(6):
        to_go = sum(costs[t:])
        base = (to_go.sum() - to_go) / (n - 1)
        surrogate = surrogate + ((to_go - base) * logps[t]).mean()
    surrogate.backward()
    torch.testing.assert_close(g["theta"], theta.grad)
    torch.testing.assert_close(g["log_scale"], log_scale.grad)


# ==========================================================================================
# .grad semantics
# ==========================================================================================
@pytest.mark.parametrize("spec", ["RP", "LR", "TP", "Pause"])
def test_gradients_accumulate_like_loss_backward(spec):
    system = GaussianChain(particles=64)
    pm = pl.PropagationManager(default=spec, sites=system.sites)
    torch.manual_seed(1)
    system(pm)
    pm.backward()
    once = {k: p.grad.clone() for k, p in system.params.items()}
    torch.manual_seed(1)
    system(pm)
    pm.backward()  # no zeroing in between
    for k, p in system.params.items():
        torch.testing.assert_close(p.grad, 2 * once[k])
    for p in system.params.values():
        p.grad = None


@pytest.mark.parametrize("spec", ["RP", "LR", "TP"])
def test_params_without_requires_grad_get_no_gradient(spec):
    mu = torch.tensor(0.5, requires_grad=True)
    sigma = torch.tensor(1.0)  # frozen

    def program(pm):
        m = pm.param("mu", mu)
        s = pm.param("sigma", sigma)
        x = pm.sample("x", Normal(m.expand(32), s.expand(32)))
        pm.loss("cost", x**2)

    torch.manual_seed(0)
    g = pl.PropagationManager(default=spec).estimate(program)
    assert sigma.grad is None
    assert mu.grad is not None and torch.isfinite(mu.grad) and mu.grad != 0
    assert torch.equal(g["sigma"], torch.zeros(()))


def test_estimate_zeroes_previous_gradients():
    system = GaussianToy(particles=16)
    pm = pl.PropagationManager()
    torch.manual_seed(0)
    a = pm.estimate(system)
    torch.manual_seed(0)
    b = pm.estimate(system)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
        torch.testing.assert_close(system.params[k].grad, b[k])


# ==========================================================================================
# several sites, nested loops, modules
# ==========================================================================================
def test_nested_loops_number_instances_and_match_autograd():
    theta = torch.tensor(0.8, requires_grad=True)
    n = 32
    seen = []

    class Watch:
        def node_created(self, node):
            seen.append((node.site, node.instance, node.propagator_name))

    def program(pm):
        th = pm.param("theta", theta)
        s = torch.zeros(n)
        for _ in range(2):
            for _ in range(3):
                s = pm.sample("inner", Normal(torch.sin(th * s) + 0.1, 0.3))
            s = pm.forward("outer", 0.5 * s)
        pm.loss("cost", (s - 1) ** 2)

    pm = pl.PropagationManager({"inner": {"propagator": "RP", "instances": {"4": "Pause"}}})
    pm.observe(Watch())
    torch.manual_seed(3)
    g = pm.estimate(program)["theta"]
    assert [x[:2] for x in seen if x[0] == "inner"] == [("inner", k) for k in range(6)]
    assert [x[:2] for x in seen if x[0] == "outer"] == [("outer", 0), ("outer", 1)]
    assert [x[2] for x in seen if x[0] == "inner"] == ["RP"] * 4 + ["Pause", "RP"]
    # autograd twin
    torch.manual_seed(3)
    theta.grad = None
    s = torch.zeros(n)
    for _ in range(2):
        for _ in range(3):
            s = torch.sin(theta * s) + 0.1 + 0.3 * torch.randn(n)
        s = 0.5 * s
    ((s - 1) ** 2).mean().backward()
    torch.testing.assert_close(g, theta.grad)


class NoisyPolicy(nn.Module):
    """A module that marks its own node: pm.sample inside forward."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, pm, s):
        return pm.sample("action", Normal(self.net(s), 0.3))


def _policy_program(policy, n):
    s0 = torch.linspace(-1.0, 1.0, n).unsqueeze(1)

    def program(pm):
        pm.param("policy", policy)
        s = s0
        for _ in range(3):
            s = policy(pm, torch.tanh(s))
        pm.loss("cost", ((s - 0.5) ** 2).sum(-1))

    return program


@pytest.mark.parametrize("spec", ["Pause", "TP", "GS"])
def test_state_shared_between_nodes(spec):
    """Residual dynamics s <- 0.9 s + a: the autograd segment between two nodes
    (0.9 s + a) is used both by the cost and by the next node's distribution.
    A propagator that reads its incoming gradient (Pause, TP) makes the engine
    deliver gradients in several autograd calls; each must still be able to
    pass through the shared segment. Pause must equal RP exactly."""
    w = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        ww = pm.param("w", w)
        s = torch.linspace(-1.0, 1.0, 40)
        for _ in range(3):
            s = 0.9 * s + pm.sample("a", Normal(torch.tanh(ww * s), 0.3))
        pm.loss("cost", s**2)

    torch.manual_seed(6)
    g = pl.PropagationManager({"a": spec}).estimate(program)["w"]
    torch.manual_seed(6)
    rp = pl.PropagationManager({"a": "RP"}).estimate(program)["w"]
    assert torch.isfinite(g)
    if spec == "Pause":
        torch.testing.assert_close(g, rp)


def test_module_params_named_and_tp_unbiased_vs_rp():
    """TP with per-particle weights over an MLP's parameters (25 elements, exact
    per-particle directions) agrees with RP on a smooth problem."""
    torch.manual_seed(0)
    policy = NoisyPolicy()
    program = _policy_program(policy, 100)
    names = {f"policy.{k}" for k, _ in policy.named_parameters()}
    torch.manual_seed(1)
    rp = collect(pl.PropagationManager({"action": "RP"}), program, 80)
    torch.manual_seed(2)
    pm_tp = pl.PropagationManager({"action": "TP"})
    weights = []

    class Watch:
        def message_sent(self, message, target):
            if message.kind == "weights":
                weights.append(message.content)

    pm_tp.observe(Watch())
    tp = collect(pm_tp, program, 80)
    assert set(rp) == set(tp) == names
    for k in names:
        assert bool(torch.isfinite(tp[k]).all()), k
        assert_close_means(tp[k].reshape(80, -1), rp[k].reshape(80, -1), k=4.5, what=k)
    # the weights really are computed per node and lie in [0, 1]
    assert weights and all(0.0 <= float(w["Pathwise"]) <= 1.0 for w in weights)
    assert all(abs(float(w["Pathwise"]) + float(w["ScoreFunction"]) - 1.0) < 1e-5 for w in weights)


def test_tp_with_random_probes_on_a_module():
    torch.manual_seed(0)
    policy = NoisyPolicy()
    program = _policy_program(policy, 50)
    pm = pl.PropagationManager({"action": {"propagator": "TP", "options": {"directions": 4}}})
    torch.manual_seed(3)
    g = pm.estimate(program)
    assert all(bool(torch.isfinite(v).all()) for v in g.values())


# ==========================================================================================
# Pause and Skip
# ==========================================================================================
@pytest.mark.parametrize("where", ["sample", "forward"])
def test_pause_equals_rp_and_backprop(where):
    a = torch.tensor(0.7, requires_grad=True)

    def program(pm):
        aa = pm.param("a", a)
        x = pm.sample("x", Normal(aa.expand(40), 1.0))
        y = pm.forward("f", torch.tanh(aa * x))
        z = pm.sample("z", Normal(y, 0.5))
        pm.loss("cost", (z - 0.3) ** 2)

    plan = {"x": "Pause", "z": "Pause"} if where == "sample" else {"f": "Pause"}
    torch.manual_seed(8)
    paused = pl.PropagationManager(plan).estimate(program)["a"]
    torch.manual_seed(8)
    plain = pl.PropagationManager().estimate(program)["a"]
    torch.testing.assert_close(paused, plain)

    system = ChaoticRNN(particles=50, steps=20)
    torch.manual_seed(9)
    g1 = pl.PropagationManager({"state": "Pause"}).estimate(system)["beta"]
    torch.manual_seed(9)
    g2 = pl.PropagationManager({"state": "RP"}).estimate(system)["beta"]
    torch.testing.assert_close(g1, g2)


def test_skip_routes_cost_past_the_node():
    mu = torch.tensor(0.5, requires_grad=True)
    inboxes = {}

    def program(pm):
        m = pm.param("mu", mu)
        x = pm.sample("x", Normal(m.expand(30), 1.0))
        y = pm.forward("f", 2 * x)
        pm.loss("cost", y**2)
        inboxes["nodes"] = pm.tape

    targets = []

    class Watch:
        def message_sent(self, message, target):
            if message.kind == "cost" and target is not None:
                targets.append(target.site)

    results = {}
    for fprop in ("Skip", "Backprop"):
        pm = pl.PropagationManager({"x": "LR", "f": fprop})
        pm.observe(Watch())
        targets.clear()
        torch.manual_seed(4)
        results[fprop] = pm.estimate(program)["mu"]
        f_node = [n for n in inboxes["nodes"] if n.site == "f"][0]
        x_node = [n for n in inboxes["nodes"] if n.site == "x"][0]
        if fprop == "Skip":
            assert targets == ["x"]
            assert "cost" not in f_node.inbox
        else:
            assert targets == ["f", "x"]
            assert "cost" in f_node.inbox
        assert "cost" in x_node.inbox
    torch.testing.assert_close(results["Skip"], results["Backprop"])


# ==========================================================================================
# observers and structure
# ==========================================================================================
class Recorder:
    def __init__(self):
        self.events = []

    def node_created(self, node):
        self.events.append(("node_created", node.label))

    def message_sent(self, message, target):
        self.events.append(("message_sent", message.kind, None if target is None else target.label))

    def backward_started(self, tape):
        self.events.append(("backward_started", len(tape)))

    def backward_finished(self, tape):
        self.events.append(("backward_finished", len(tape)))


@pytest.mark.parametrize("spec", ["RP", "LR", "TP"])
def test_observer_receives_events(spec):
    system = GaussianChain(particles=20)
    pm = pl.PropagationManager(default=spec)
    rec = Recorder()
    detach = pm.observe(rec)
    pm.estimate(system)
    kinds = [e[0] for e in rec.events]
    created = [e[1] for e in rec.events if e[0] == "node_created"]
    assert created == ["x1[0]", "x2[0]", "cost[0]"]
    assert kinds.index("backward_started") > max(
        i for i, k in enumerate(kinds) if k == "node_created"
    )
    assert kinds[-1] == "backward_finished"
    assert ("backward_started", 3) in rec.events
    sent = [e for e in rec.events if e[0] == "message_sent"]
    assert ("message_sent", "cost", "x2[0]") in sent and ("message_sent", "cost", "x1[0]") in sent
    assert any(e[1] == "backprop" for e in sent)
    if spec == "TP":
        assert any(e[1] == "weights" for e in sent)
    if spec != "RP":
        assert any(e[1] == "baseline" for e in sent)
    n = len(rec.events)
    detach()
    pm.estimate(system)
    assert len(rec.events) == n


@pytest.mark.parametrize("spec", ["RP", "LR", "TP", "GS", "Pause"])
def test_no_events_built_without_listeners(spec, monkeypatch):
    """A message event is built only when an attached observer handles message_sent."""
    from proppo_lab.core import passes

    built = []

    def counting(*args, **kwargs):
        message = pl.Message(*args, **kwargs)
        built.append(message.kind)
        return message

    monkeypatch.setattr(passes, "Message", counting)
    system = GaussianChain(particles=20)

    def run(*observers):
        built.clear()
        pm = pl.PropagationManager(default=spec)
        with pm.observing(*observers):
            grads = pm.estimate(system)
        assert all(torch.isfinite(v) for v in grads.values())
        return list(built)

    class NodesOnly(pl.Observer):
        def node_created(self, node):
            pass

    quiet = run()
    assert "backprop" not in quiet  # handed to autograd, told to nobody
    assert run(NodesOnly(), object()) == quiet
    assert "backprop" in run(Recorder())


# ==========================================================================================
# error paths: each names the node, and the manager keeps working afterwards
# ==========================================================================================
def _assert_recovers(pm, plan=None):
    """A fresh, valid iteration runs on the same manager, numbering instances from 0."""
    system = GaussianToy(particles=16)
    pm.set_plan(plan if plan is not None else {})
    created = []

    class Watch:
        def node_created(self, node):
            created.append((node.site, node.instance))

    detach = pm.observe(Watch())
    try:
        grads = pm.estimate(system)
    finally:
        detach()
    assert created == [("x", 0), ("cost", 0)], f"stale state after the error: {created}"
    assert all(torch.isfinite(v) for v in grads.values())


def _bernoulli_program(n=10):
    theta = torch.tensor(0.2, requires_grad=True)

    def program(pm):
        th = pm.param("theta", theta)
        z = pm.sample("x", Bernoulli(logits=th.expand(n)))
        pm.loss("cost", z)

    return program


def _assert_names(err, site, instance, propagator):
    assert (err.site, err.instance, err.propagator) == (site, instance, propagator)
    text = str(err)
    assert f"'{site}'" in text and f"instance {instance}" in text and propagator in text
    assert err.as_dict()["site"] == site


@pytest.mark.parametrize("spec", ["RP", "TP"])
def test_pathwise_on_bernoulli_names_the_node(spec):
    pm = pl.PropagationManager({"x": spec})
    with pytest.raises(pl.PropagationError) as info:
        pm.estimate(_bernoulli_program())
    _assert_names(info.value, "x", 0, spec)
    assert info.value.phase == "forward"
    _assert_recovers(pm)


def test_pathwise_error_at_a_later_instance_names_it():
    n = 8
    p = torch.tensor(0.1, requires_grad=True)

    def program(pm):
        pp = pm.param("p", p)
        s = torch.zeros(n)
        for _ in range(3):
            s = pm.sample("s", Normal(s + pp, 1.0))
        z = pm.sample("s", Normal(s, 1.0))
        pm.loss("cost", z)

    pm = pl.PropagationManager({"s": {"propagator": "LR", "instances": {"2": "GS"}}})
    pm.estimate(program)  # fine
    pm.set_plan({"s": {"propagator": "LR", "instances": {"2": "Skip"}}})
    with pytest.raises(pl.PropagationError) as info:
        pm.estimate(program)
    _assert_names(info.value, "s", 2, "Skip")
    _assert_recovers(pm)


def test_lr_on_forward_node_is_rejected():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        m = pm.param("mu", mu)
        x = pm.sample("x", Normal(m.expand(10), 1.0))
        y = pm.forward("f", x * 3)
        pm.loss("cost", y**2)

    for prop in ("LR", "TP", "RP"):
        pm = pl.PropagationManager({"f": prop})
        with pytest.raises(pl.PropagationError) as info:
            pm.estimate(program)
        _assert_names(info.value, "f", 0, prop)
        assert mu.grad is None
        _assert_recovers(pm)


@pytest.mark.parametrize("spec", ["RP", "LR", "TP"])
def test_non_finite_cost_raises_naming_a_node(spec):
    """A cost that becomes inf is a non-finite message: NonFiniteError names the node
    (the loss node, where the cost arises, or the sample node it reaches)."""
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        m = pm.param("mu", mu)
        x = pm.sample("x", Normal(m.expand(10), 1.0))
        pm.loss("cost", x**2 / torch.zeros(()))  # inf

    pm = pl.PropagationManager(default=spec)
    with pytest.raises(pl.NonFiniteError) as info:
        pm.estimate(program)
    err = info.value
    assert err.site in ("cost", "x"), err.site
    assert f"'{err.site}'" in str(err) and err.instance == 0
    _assert_recovers(pm)


def test_huge_but_finite_messages_pass_the_finiteness_check():
    """The CPU check sums 2-norms, which overflow for huge finite values: those must
    still pass, and a NaN or inf anywhere among many messages must not."""
    from proppo_lab.core.finite import all_finite

    huge = torch.full((4,), 3e38)
    assert all_finite([huge, torch.ones(3)])
    for bad in (float("nan"), float("inf"), -float("inf")):
        assert not all_finite([huge, torch.tensor([1.0, bad]), torch.ones(3)])


def test_custom_propagator_sending_nan_raises_non_finite(clean_registry):
    @pl.register("NaNProp", colour="#ff0000")
    class NaNProp(pl.Propagator):
        def forward(self, node, fp):
            x = node.dist.rsample()
            node.saved["value"] = x
            return fp.detach(node, x, grad=True)

        def backward(self, node, bp):
            v = node.saved["value"]
            bp.backprop(node, [v], [torch.full_like(v, float("nan"))])

    system = GaussianChain(particles=10)
    pm = pl.PropagationManager({"x1": "NaNProp"})
    with pytest.raises(pl.NonFiniteError) as info:
        pm.estimate(system)
    _assert_names(info.value, "x1", 0, "NaNProp")
    assert info.value.phase == "backward"
    assert system.params["mu"].grad is None
    _assert_recovers(pm)


def test_non_finite_check_can_be_disabled():
    system = GaussianChain(particles=10)
    pm = pl.PropagationManager({"x1": "LR"}, check_finite=False)
    system.s1 = float("inf")
    try:
        g = pm.estimate(system)
    finally:
        system.s1 = 1.0
    assert not all(torch.isfinite(v) for v in g.values())


@pytest.mark.parametrize("phase", ["forward", "backward"])
def test_propagator_raising_is_wrapped(phase, clean_registry):
    class Boom(Exception):
        pass

    @pl.register("Boomer", colour="#000000", kinds=("sample", "forward"))
    class Boomer(pl.Propagator):
        def forward(self, node, fp):
            if phase == "forward" and node.instance == 1:
                raise Boom("forward exploded")
            return node.dist.rsample() if node.dist is not None else node.inputs[0]

        def backward(self, node, bp):
            if phase == "backward" and node.instance == 1:
                raise Boom("backward exploded")

    system = ChaoticRNN(particles=5, steps=3)
    pm = pl.PropagationManager({"state": "Boomer"})
    with pytest.raises(pl.PropagationError) as info:
        pm.estimate(system)
    err = info.value
    _assert_names(err, "state", 1, "Boomer")
    assert err.phase == phase and isinstance(err.__cause__, Boom)
    assert "exploded" in str(err)
    _assert_recovers(pm)


def test_backward_twice_raises_clearly():
    system = GaussianToy(particles=10)
    pm = pl.PropagationManager()
    system(pm)
    pm.backward()
    with pytest.raises(RuntimeError, match="nothing recorded"):
        pm.backward()
    _assert_recovers(pm)


def test_backward_with_no_loss_raises():
    mu = torch.tensor(0.5, requires_grad=True)

    def no_loss(pm):
        pm.sample("x", Normal(pm.param("mu", mu).expand(10), 1.0))

    pm = pl.PropagationManager()
    with pytest.raises(RuntimeError, match="no loss"):
        pm.estimate(no_loss)
    assert mu.grad is None
    _assert_recovers(pm)
    # by hand: the tape stays so the loss can still be added
    x = pm.sample("x", Normal(mu.expand(10), 1.0))
    with pytest.raises(RuntimeError, match="no loss"):
        pm.backward()
    pm.loss("cost", x**2)
    pm.backward()
    assert torch.isfinite(mu.grad)
    _assert_recovers(pm)


@pytest.mark.parametrize(
    "bad",
    [
        lambda x: x.sum(),
        lambda x: x.unsqueeze(1),
        lambda x: x.unsqueeze(1).expand(10, 2),
        lambda x: 1.0,
    ],
)
def test_loss_with_wrong_shape_raises(bad):
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        x = pm.sample("x", Normal(pm.param("mu", mu).expand(10), 1.0))
        pm.loss("cost", bad(x))

    pm = pl.PropagationManager()
    with pytest.raises(ValueError, match="per-particle"):
        pm.estimate(program)
    _assert_recovers(pm)


def test_one_site_as_sample_and_forward_raises():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        x = pm.sample("x", Normal(pm.param("mu", mu).expand(10), 1.0))
        y = pm.forward("x", x * 2)
        pm.loss("cost", y**2)

    pm = pl.PropagationManager()
    with pytest.raises(ValueError, match="'x'"):
        pm.estimate(program)
    # across iterations, too: a site keeps its kind
    pm2 = pl.PropagationManager()
    pm2.estimate(GaussianToy(particles=4))
    with pytest.raises(ValueError):
        pm2.forward("x", torch.zeros(4))
    pm2.discard()
    _assert_recovers(pm2)


def test_bad_site_names_and_inputs():
    pm = pl.PropagationManager()
    with pytest.raises(ValueError):
        pm.sample("", Normal(torch.zeros(3), 1.0))
    with pytest.raises(TypeError):
        pm.sample("x", torch.zeros(3))
    with pytest.raises(TypeError):
        pm.forward("f", 3.0)
    with pytest.raises(TypeError):
        pm.param("p", 3.0)
    with pytest.raises(ValueError):
        pm.param("p", nn.Tanh())
    _assert_recovers(pm)


def test_forgotten_backward_is_caught():
    pm = pl.PropagationManager(max_nodes=50)
    system = ChaoticRNN(particles=4, steps=20)
    system(pm)
    system(pm)
    with pytest.raises(RuntimeError, match="forgotten"):
        system(pm)
    pm.discard()
    _assert_recovers(pm)


@pytest.mark.parametrize("plan", ["TP", "LR", "GS"])
def test_node_whose_distribution_has_no_learned_inputs(plan):
    """TP with nothing to weigh at the node (its inputs need no gradient) still runs,
    and the parameter used after the node gets the same gradient as under RP."""
    a = torch.tensor(1.5, requires_grad=True)

    def program(pm):
        pm.param("a", a)
        x = pm.sample("x", torch.distributions.Normal(torch.zeros(256), 1.0))
        pm.loss("cost", (a * x) ** 2)

    torch.manual_seed(0)
    expected = pl.PropagationManager(default="RP").estimate(program)["a"]
    torch.manual_seed(0)
    got = pl.PropagationManager(default=plan).estimate(program)["a"]
    torch.testing.assert_close(got, expected)
