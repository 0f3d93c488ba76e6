"""Learning signals as messages (issue 12): feedback alignment, truncated BPTT,
synthetic gradients with BP(λ), Sobolev training."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from torch import nn

import proppo_lab as pl
from proppo_lab import trace
from proppo_lab.propagators.feedback import angle, feedback_matrix
from proppo_lab.propagators.learned import LOSS_NOTE, mlp
from proppo_lab.systems import DelayedRecall, TeacherStudent


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: one thread, so that a busy machine's thread pool does
    not spin (it made the Sobolev fits 50 times slower on two shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _notes(recorder, kind: str) -> list[float]:
    return [s["norm"] for r in recorder.records().values() for s in r["sent"] if s["kind"] == kind]


# -- feedback alignment -------------------------------------------------------------------
def test_feedback_alignment_keeps_backprops_weight_gradients_and_sends_through_B():
    torch.manual_seed(0)
    first, last = nn.Linear(5, 4), nn.Linear(4, 3)
    x, target = torch.randn(8, 5), torch.randn(8, 3)

    def program(pm):
        pm.param("first", first)
        pm.param("last", last)
        h = pm.forward("hidden", first, x)
        y = pm.forward("out", last, torch.tanh(h))
        pm.loss("cost", ((y - target) ** 2).sum(-1))

    pm = pl.PropagationManager(
        plan={"out": {"propagator": "FeedbackAlignment", "options": {"seed": 3}}}
    )
    got = pm.estimate(program)

    # by hand: backprop to the output, then the output error through B instead of W
    h = torch.tanh(first(x))
    y = last(h.detach().requires_grad_())
    (g,) = torch.autograd.grad(((y - target) ** 2).sum(-1).mean(), y)
    assert torch.equal(got["last.weight"], g.T @ h.detach())
    torch.testing.assert_close(got["last.bias"], g.sum(0))
    feedback = feedback_matrix("out", last.weight.shape, 1.0, 3, x)
    first.zero_grad()
    torch.tanh(first(x)).backward(g @ feedback)
    torch.testing.assert_close(got["first.weight"], first.weight.grad)
    torch.testing.assert_close(got["first.bias"], first.bias.grad)
    # and it is not backprop's: B is not W
    plain = pl.PropagationManager().estimate(program)
    assert not torch.allclose(plain["first.weight"], got["first.weight"])


def test_feedback_alignment_names_the_node_it_cannot_serve():
    x = torch.randn(4, 3, requires_grad=True)

    def program(pm):
        pm.param("x", x)
        pm.loss("cost", pm.forward("squash", torch.tanh, x).sum(-1))

    pm = pl.PropagationManager(plan={"squash": "FeedbackAlignment"})
    with pytest.raises(pl.PropagationError, match="squash.*linear function nodes"):
        pm.estimate(program)


def test_feedback_alignment_learns_the_teacher_and_aligns():
    """Lillicrap's claim, over seeds: the loss falls to <= 1 % of its start and the
    angle between the sent and backprop's gradient ends below 90 degrees."""
    ratios, angles = [], []
    for seed in range(4):
        torch.manual_seed(seed)
        system = TeacherStudent(seed=seed)
        pm = pl.PropagationManager(plan={"output": "FeedbackAlignment"})
        curve = system.train(pm, 200, lr=0.02)
        ratios.append(curve[-1] / curve[0])
        with pm.observing(trace.Recorder()) as recorder:
            late = []
            for _ in range(10):
                pm.estimate(system)
                late += _notes(recorder, "alignment_angle")
        angles.append(statistics.mean(late))
    assert max(ratios) <= 0.01, ratios
    se = statistics.stdev(angles) / math.sqrt(len(angles))
    assert statistics.mean(angles) + 3 * se < 90.0, angles


def test_angle_is_in_degrees():
    a = torch.tensor([1.0, 0.0])
    assert float(angle(a, torch.tensor([0.0, 2.0]))) == pytest.approx(90.0)
    assert float(angle(a, torch.tensor([1.0, 1.0]))) == pytest.approx(45.0)
    assert float(angle(a, torch.zeros(2))) == 90.0


# -- truncation and synthetic gradients --------------------------------------------------
class _RNN:
    """A small RNN with a loss at every step, as a program and in plain PyTorch."""

    def __init__(self, seed: int = 0, steps: int = 7, particles: int = 5):
        torch.manual_seed(seed)
        self.cell, self.readout = nn.RNNCell(2, 3), nn.Linear(3, 1)
        self.xs = torch.randn(steps, particles, 2)

    def __call__(self, pm):
        pm.param("cell", self.cell)
        pm.param("readout", self.readout)
        h = torch.zeros(self.xs.shape[1], 3)
        for x in self.xs:
            h = pm.forward("state", self.cell, x, h)
            pm.loss("cost", self.readout(h).squeeze(-1) ** 2)

    def plain(self, k: int | None = None):
        """Backprop in plain PyTorch, the state detached before steps k, 2k, ... (None:
        full BPTT): (parameter gradients, the gradient each step's cell sends to its input
        state)."""
        self.cell.zero_grad()
        self.readout.zero_grad()
        h, total, states = torch.zeros(self.xs.shape[1], 3), 0.0, []
        for t, x in enumerate(self.xs):
            if k is not None and t > 0 and t % k == 0:
                h = h.detach()
            # what the step's cell receives: its gradient excludes the readout of h
            into_cell = h.view_as(h) if h.requires_grad else h.clone().requires_grad_()
            into_cell.retain_grad()
            states.append(into_cell)
            h = self.cell(x, into_cell)
            total = total + (self.readout(h).squeeze(-1) ** 2).mean()
        total.backward()
        named = {
            **dict(self.cell.named_parameters(prefix="cell")),
            **dict(self.readout.named_parameters(prefix="readout")),
        }
        return {n: p.grad.clone() for n, p in named.items()}, [s.grad for s in states]


@pytest.mark.parametrize("k", [1, 2, 3, 100])
def test_truncate_is_truncated_bptt(k):
    rnn = _RNN()
    plan = {"state": {"propagator": "Truncate", "options": {"k": k}}}
    got = pl.PropagationManager(plan=plan).estimate(rnn)
    want, _ = rnn.plain(k)
    for name in want:
        torch.testing.assert_close(got[name], want[name])


def test_untrained_synthetic_gradients_are_truncation():
    """Its predictor starts at zero, so truncated BPTT + synthetic gradients starts as
    truncated BPTT: the two plans of one program agree before any learning."""
    rnn = _RNN()
    plan = {"state": {"propagator": "SyntheticGradient", "options": {"every": 3}}}
    got = pl.PropagationManager(plan=plan).estimate(rnn)
    want, _ = rnn.plain(3)
    for name in want:
        torch.testing.assert_close(got[name], want[name])


class _EncodedRNN:
    """Issue 21's RNN whose every step reads a learned encoding of its observation:
    truncation must cut the state only, the encoder keeps its gradient at the cuts."""

    def __init__(self):
        torch.manual_seed(0)
        self.enc, self.cell = nn.Linear(2, 3), nn.RNNCell(3, 4)
        self.obs = torch.randn(9, 6, 2)
        self.codes, self.outputs = [], []  # the last run's encodings and states (grads kept)

    def __call__(self, pm):
        pm.param("enc", self.enc)
        pm.param("cell", self.cell)
        self.codes, self.outputs = [], []
        h = torch.zeros(6, 4)
        for x in self.obs:
            code = self.enc(x)
            code.retain_grad()
            h = pm.forward("state", self.cell, code, h)
            h.retain_grad()
            self.codes.append(code)
            self.outputs.append(h)
            pm.loss("cost", (h**2).sum(-1))

    def plain(self, cuts=(3, 6)) -> dict[str, torch.Tensor]:
        """Truncated BPTT in plain PyTorch: only h is detached before the steps ``cuts``."""
        self.enc.zero_grad()
        self.cell.zero_grad()
        h, total = torch.zeros(6, 4), 0.0
        for t, x in enumerate(self.obs):
            if t in cuts:
                h = h.detach()
            h = self.cell(self.enc(x), h)
            total = total + (h**2).sum(-1).mean()
        total.backward()
        named = {
            **dict(self.enc.named_parameters(prefix="enc")),
            **dict(self.cell.named_parameters(prefix="cell")),
        }
        return {n: p.grad.clone() for n, p in named.items()}


@pytest.mark.parametrize(
    "spec",
    [
        {"propagator": "Truncate", "options": {"k": 3}},
        # untrained, its predictor sends zeros across the cuts: truncated BPTT
        {"propagator": "SyntheticGradient", "options": {"every": 3}},
    ],
    ids=["Truncate", "SyntheticGradient"],
)
def test_truncation_cuts_only_the_state_a_learned_encoder_keeps_its_gradient(spec):
    rnn = _EncodedRNN()
    got = pl.PropagationManager(plan={"state": spec}).estimate(rnn)
    want = rnn.plain()
    for name in want:
        torch.testing.assert_close(got[name], want[name])


def test_trained_synthetic_gradients_send_a_steps_own_inputs_their_true_gradient():
    """With trained predictors (non-zero guesses), at the decoupled steps 0, 3, 6 the
    encoding still gets the gradient that reached the step's output, carried through
    the cell (its vector-Jacobian product); only the state gets a guess."""
    rnn = _EncodedRNN()
    pm = pl.PropagationManager(
        plan={"state": {"propagator": "SyntheticGradient", "options": {"every": 3}}}
    )
    for _ in range(5):
        pm.estimate(rnn)
    assert pm._state[("state", 3)]["target"].abs().sum() > 0  # trained: guesses are not zero
    h = torch.zeros(6, 4)
    for t, (code, out) in enumerate(zip(rnn.codes, rnn.outputs)):
        x = code.detach().requires_grad_()
        (want,) = torch.autograd.grad(rnn.cell(x, h), x, out.grad)
        torch.testing.assert_close(code.grad, want, msg=f"step {t}")
        h = out.detach()


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_bp_lambda_one_trains_on_the_true_gradient(lam):
    """λ = 1: every boundary's training target is backprop's gradient at its input
    state (the λ-return recursion unrolls to full BPTT); λ = 0 bootstraps from the
    later predictions, which differ from it once they are trained."""
    rnn = _RNN(steps=9)
    plan = {"state": {"propagator": "SyntheticGradient", "options": {"every": 3, "lam": lam}}}
    pm = pl.PropagationManager(plan=plan)
    for _ in range(5):  # trained predictors: their predictions are no longer zero
        pm.estimate(rnn)
    _, states = rnn.plain()
    particles = rnn.xs.shape[1]
    targets = {i: pm._state[("state", i)]["target"] for i in (3, 6)}  # a particle's own

    def true(i):
        return particles * states[i]

    # the last boundary has no later prediction to bootstrap from: exact for any λ
    torch.testing.assert_close(targets[6], true(6))
    assert torch.allclose(targets[3], true(3), atol=1e-6) == (lam == 1.0)


def test_synthetic_gradient_shows_its_learned_loss():
    plan = {"state": {"propagator": "SyntheticGradient", "options": {"every": 2}}}
    pm = pl.PropagationManager(plan=plan)
    with pm.observing(trace.Recorder()) as recorder:
        pm.estimate(_RNN())
    losses = _notes(recorder, LOSS_NOTE)
    assert len(losses) == 3 and all(v > 0 for v in losses)  # instances 2, 4, 6 (0: h0 is constant)


def test_the_lab_plots_learned_losses_per_site():
    lab = pl.Lab(
        DelayedRecall(delay=2, steps=5, particles=8),
        plan={"state": {"propagator": "SyntheticGradient", "options": {"every": 2}}},
        iterations=4,
        refresh=0.0,
    )
    lab.run(wait=True)
    figure = lab.plots.notes[LOSS_NOTE]
    assert [t.name for t in figure.data] == ["current · state"]
    # the first and the last iteration are always recorded; others as the refresh allows
    assert len(figure.data[0].x) >= 2 and all(v > 0 for v in figure.data[0].y)


def test_delayed_recall_truncation_stays_at_chance_synthetic_gradients_do_not():
    """Truncation k=4 < delay 6: truncated BPTT stays near chance (log 4 per step);
    synthetic gradients across the cuts get clearly below it (mean over seeds, margin
    three standard errors of the difference); BP(0.5) is no worse than λ = 0."""
    plans = {
        "truncated": {"propagator": "Truncate", "options": {"k": 4}},
        "sg": {"propagator": "SyntheticGradient", "options": {"every": 4, "learning_rate": 3e-2}},
        "sg_lam": {
            "propagator": "SyntheticGradient",
            "options": {"every": 4, "lam": 0.5, "learning_rate": 3e-2},
        },
    }
    results: dict[str, list[float]] = {name: [] for name in plans}
    for name, spec in plans.items():
        for seed in range(3):
            torch.manual_seed(100 + seed)
            system = DelayedRecall(delay=6, seed=seed)
            ce, _ = system.train(pl.PropagationManager(plan={"state": spec}), 300, lr=3e-3)
            results[name].append(ce)
    chance = DelayedRecall().chance

    def gap(a, b):  # mean of b - a and its standard error (independent seeds)
        x, y = results[a], results[b]
        se = math.sqrt(statistics.variance(x) / len(x) + statistics.variance(y) / len(y))
        return statistics.mean(y) - statistics.mean(x), se

    assert statistics.mean(results["truncated"]) > chance - 0.1, results
    diff, se = gap("sg", "truncated")
    assert diff > 3 * se and diff > 0.2, results
    diff, se = gap("sg_lam", "sg")
    assert diff > -3 * se, results


# -- Sobolev training --------------------------------------------------------------------
def _target(x):
    return torch.sin(3 * x[:, 0]) * torch.cos(2 * x[:, 1]) + 0.5 * x[:, 0] ** 2


def _fit(seed: int, sobolev: bool, samples: int = 16, steps: int = 400) -> float:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 2, generator=generator) * 2 - 1
    held_out = torch.rand(1000, 2, generator=generator) * 2 - 1
    xg = x.clone().requires_grad_()
    (dy,) = torch.autograd.grad(_target(xg).sum(), xg)
    torch.manual_seed(seed)
    net = mlp(2, 64)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)

    def f(v):
        return net(v).squeeze(-1)

    for _ in range(steps):
        loss = (
            pl.losses.sobolev(f, x, _target(x), dy)
            if sobolev
            else ((f(x) - _target(x)) ** 2).mean()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(((f(held_out) - _target(held_out)) ** 2).mean())


def test_sobolev_training_generalises_better_from_the_same_samples():
    """Held-out error with values and derivatives vs values only, same 16 samples:
    the mean log-ratio over seeds is below 0 by three standard errors."""
    logs = [math.log(_fit(s, True) / _fit(s, False)) for s in range(8)]
    se = statistics.stdev(logs) / math.sqrt(len(logs))
    assert statistics.mean(logs) + 3 * se < 0, logs


def test_sobolev_loss_is_zero_at_the_target_and_checks_shapes():
    w = torch.tensor([1.0, -2.0])
    x = torch.randn(6, 2)

    def f(v):
        return (v * w).sum(-1) ** 2 / 2

    y = f(x)
    dy = (x * w).sum(-1, keepdim=True) * w
    assert pl.losses.sobolev(f, x, y, dy).item() == pytest.approx(0.0, abs=1e-10)
    assert pl.losses.sobolev(f, x, y + 1, dy).item() == pytest.approx(1.0)
    assert pl.losses.sobolev(f, x, None, dy + 1).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="dy has shape"):
        pl.losses.sobolev(f, x, y, dy[:, :1])
