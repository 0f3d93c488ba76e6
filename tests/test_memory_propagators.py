"""Checkpoint, its placement, BackRazor and PeakMemory: same gradients, less memory."""

from __future__ import annotations

import functools
import gc
import weakref

import pytest
import torch
from torch import nn

import proppo_lab as pl
from proppo_lab import trace
from proppo_lab.propagators import placement
from proppo_lab.propagators.backrazor import restored, sparsified
from proppo_lab.trace import PeakMemory

STEPS = 24


def _cell(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 48), nn.Tanh(), nn.Linear(48, 6))


def _step(cell, calls, h, x):
    calls[0] += 1
    return torch.tanh(cell(h) + x)


def _rnn(cell, per_step_loss: bool, calls=None, step=None):
    """A recurrent program: h_{t+1} = tanh(cell(h_t) + x_t), a cost on the last state
    (and, with ``per_step_loss``, on every third state, which keeps those alive).
    ``step``: another step function of (h, x) in place of that one."""
    torch.manual_seed(1)
    h0 = torch.randn(5, 6, requires_grad=True)
    xs = torch.randn(STEPS, 5, 6)
    if step is None:
        step = functools.partial(_step, cell, calls if calls is not None else [0])

    def program(pm):
        pm.param("h0", h0)
        pm.param("cell", cell)
        h = h0
        for t in range(STEPS):
            h = pm.forward("cell", step, h, xs[t])
            if per_step_loss and t % 3 == 1:
                pm.loss(f"cost{t}", (h**2).sum(-1))
        pm.loss("end", (h**3).sum(-1))

    return program


def _checkpoint(**options) -> dict:
    return {"cell": {"propagator": "Checkpoint", "options": options}}


@pytest.mark.parametrize("per_step_loss", [False, True])
@pytest.mark.parametrize(
    "options", [{}, {"every": 5}, {"every": STEPS}, {"budget": 1}, {"budget": 4}]
)
def test_checkpoint_gives_backprops_gradients(options, per_step_loss):
    cell = _cell()
    want = pl.PropagationManager().estimate(_rnn(cell, per_step_loss))
    pm = pl.PropagationManager(plan=_checkpoint(**options))
    for _ in range(2):  # the second iteration places a budget by the first one's length
        got = pm.estimate(_rnn(cell, per_step_loss))
        assert set(got) == set(want)
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("budget", [1, 3, 6])
def test_a_budget_recomputes_what_the_dynamic_programme_says(budget):
    """Forward once, backward once per node, plus the schedule's recomputation
    less the steps the forward pass already ran to its kept states."""
    calls = [0]
    pm = pl.PropagationManager(plan=_checkpoint(budget=budget))
    program = _rnn(_cell(), per_step_loss=False, calls=calls)
    pm.estimate(program)  # learns the run's length
    calls[0] = 0
    pm.estimate(program)
    kept = placement.stored_on_the_way(STEPS, budget)
    assert len(kept) - 1 <= budget
    assert calls[0] == 2 * STEPS + placement.cost(STEPS, budget) - kept[-1]


def _allocated_peak(fn) -> int:
    """Bytes torch allocates at most while ``fn`` runs, above what was held before: the
    CPU profiler's allocation events summed in time order (bench/overhead.py's measure;
    torch's CPU allocator is invisible to tracemalloc)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    held = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        held += e.nbytes()  # negative for a release
        peak = max(peak, held)
    return peak


def _long_rnn(steps: int, held: list | None = None):
    """A rollout of ``steps`` RNN-cell steps with a cost on the last state. ``held``
    gets the number of states the Checkpoint run holds, read after every node on the
    way forward and at every step run again on the way back."""
    torch.manual_seed(0)
    cell = nn.RNNCell(8, 64)
    h0, xs = torch.randn(64, 64, requires_grad=True), torch.randn(steps, 64, 8)
    run = [None]  # a weak reference to this iteration's run, once it exists

    def step(x, h):
        if held is not None and run[0] is not None:
            held.append(len(run[0]().alive))
        return cell(x, h)

    def program(pm):
        pm.param("h0", h0)
        pm.param("cell", cell)
        h, run[0] = h0, None
        for t in range(steps):
            h = pm.forward("cell", step, xs[t], h)
            if held is not None:
                if run[0] is None:
                    run[0] = _run_of(pm)
                held.append(len(run[0]().alive))
        pm.loss("end", (h**2).sum(-1))

    return program


def test_a_budget_holds_on_the_first_iteration():
    """The first iteration does not know the run's length, yet holds no more states
    at once than the budget, allocates far less than backprop, and gives backprop's
    gradients, as the second iteration (placed by the dynamic programme) does."""
    steps, budget, held = 200, 6, []
    want = pl.PropagationManager().estimate(_long_rnn(steps))
    pm = pl.PropagationManager(plan=_checkpoint(budget=budget))
    for iteration in (1, 2):
        got = pm.estimate(_long_rnn(steps, held))
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)
        assert max(held) == budget, iteration  # never more, and the budget is used
        held.clear()

    def first_iteration(plan):
        program = _long_rnn(steps)  # its inputs and parameters are held before it runs
        return lambda: pl.PropagationManager(plan=plan).estimate(program)

    backprop = _allocated_peak(first_iteration({}))
    checkpoint = _allocated_peak(first_iteration(_checkpoint(budget=budget)))
    # backprop holds every state (200 of them) and more; the budget 6 of them, the
    # parameters' gradients and one step's recomputation: 0.09 of backprop's here
    # (keeping every state on the first iteration, as before, gave 1.0)
    assert checkpoint < 0.15 * backprop, (checkpoint, backprop)


def test_fixed_spacing_recomputes_each_segment_once():
    """Forward once, then each segment is recomputed once from its kept state: one
    recomputation per step, none under no_grad and none again per node."""
    calls = [0]
    pm = pl.PropagationManager(plan=_checkpoint(every=6))
    pm.estimate(_rnn(_cell(), per_step_loss=False, calls=calls))
    assert calls[0] == 2 * STEPS


def _brute_cost(t: int, m: int) -> int:
    """C(t, m) by the recursion itself, no table (small t only)."""
    if t < 2:
        return 0
    best = t * (t - 1) // 2
    if m > 0:
        for y in range(1, t):
            best = min(best, y + _brute_cost(t - y, m - 1) + _brute_cost(y, m))
    return best


def test_placement_matches_the_recursion_and_its_limits():
    for t in range(1, 14):
        for m in range(0, 6):
            assert placement.cost(t, m) == _brute_cost(t, m), (t, m)
    assert placement.cost(50, 0) == 50 * 49 // 2  # no slots: recompute from the start
    assert placement.cost(50, 49) == 49  # a slot per state: each computed once
    assert placement.cost(1000, 30) < placement.cost(1000, 10) < placement.cost(1000, 3)


def test_checkpoint_keeps_less_for_backward():
    cell = _cell()
    saved = {}
    for name, plan in {"backprop": {}, "checkpoint": _checkpoint()}.items():
        meter = PeakMemory()
        with meter.measure():
            pl.PropagationManager(plan=plan).estimate(_rnn(cell, per_step_loss=False))
        saved[name] = meter.latest["saved"]
    assert saved["checkpoint"] < 0.2 * saved["backprop"]


def test_checkpoint_needs_a_function_node():
    pm = pl.PropagationManager(plan={"y": "Checkpoint"})
    with pytest.raises(pl.PropagationError, match="Checkpoint serves function nodes") as err:
        pm.forward("y", torch.ones(3))
    assert err.value.site == "y" and err.value.propagator == "Checkpoint"


def _assert_backprops(cell, program, plan, *, iterations: int = 2):
    want = pl.PropagationManager().estimate(program)
    pm = pl.PropagationManager(plan=plan)
    for _ in range(iterations):
        got = pm.estimate(program)
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)
    return pm


def _run_of(pm):
    node = next(n for n in pm.tape if n.site == "cell")
    return weakref.ref(node.propagator._open["cell"])


@pytest.mark.parametrize("options", [{"every": 5}, {"budget": 4}])
def test_a_run_goes_with_its_graph_after_backward_and_after_discard(options):
    """The run is held only through autograd's graph (no reference cycle through C++
    that the collector cannot see): once the next iteration starts, it is gone."""
    cell = _cell()
    pm = pl.PropagationManager(plan=_checkpoint(**options))
    program = _rnn(cell, per_step_loss=True)
    gc.disable()
    try:
        program(pm)
        propagated = _run_of(pm)
        pm.backward()
        program(pm)
        discarded = _run_of(pm)
        pm.discard()
        program(pm)
        assert propagated() is None and discarded() is None
        pm.discard()
    finally:
        gc.enable()


@pytest.mark.parametrize("options", [{"every": 5}, {"budget": 4}])
def test_an_iteration_discarded_half_way_leaves_the_next_one_exact(options):
    cell = _cell()
    program = _rnn(cell, per_step_loss=False)
    pm = _assert_backprops(cell, program, _checkpoint(**options), iterations=1)

    def half(pm):
        h = torch.randn(5, 6)
        for _ in range(STEPS // 2):
            h = pm.forward("cell", functools.partial(_step, cell, [0]), h, h)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pm.estimate(half)
    want = pl.PropagationManager().estimate(program)
    got = pm.estimate(program)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_gradients_delivered_in_several_autograd_calls_recompute_again():
    """A Pause node on a branch makes the engine deliver gradients twice, the first
    time with the graph kept: the run hands out its recomputed tensors once, so the
    second delivery through the same steps recomputes them again."""
    cell = _cell()
    torch.manual_seed(1)
    h0, xs = torch.randn(5, 6, requires_grad=True), torch.randn(STEPS, 5, 6)
    step = functools.partial(_step, cell, [0])

    def program(pm):
        pm.param("h0", h0)
        pm.param("cell", cell)
        h = h0
        for t in range(STEPS):
            h = pm.forward("cell", step, h, xs[t])
            if t == 11:
                pm.loss("side", (pm.forward("tap", 2 * h) ** 2).sum(-1))
        pm.loss("end", (h**3).sum(-1))

    for options in ({"every": 5}, {"budget": 3}, {}):
        _assert_backprops(cell, program, {**_checkpoint(**options), "tap": "Pause"})


def test_a_failing_recomputation_names_the_node():
    cell, calls = _cell(), [0]

    def step(h, x):
        calls[0] += 1
        if calls[0] > STEPS:  # the forward pass went through; the way back fails
            raise ArithmeticError("boom")
        return torch.tanh(cell(h) + x)

    pm = pl.PropagationManager(plan=_checkpoint(every=4))
    with pytest.raises(pl.PropagationError, match="boom") as err:
        pm.estimate(_rnn(cell, per_step_loss=False, step=step))
    # autograd reaches the last step first; its segment starts at the kept state 20
    assert (err.value.site, err.value.instance) == ("cell", 20)
    assert (err.value.propagator, err.value.phase) == ("Checkpoint", "backward")


def test_a_function_that_gives_another_value_when_run_again_is_refused():
    cell, calls = _cell(), [0]

    def step(h, x):
        calls[0] += 1
        h = cell(h)
        if calls[0] > STEPS:  # not deterministic: another value on the way back
            h = h * h
        return torch.tanh(h + x)

    with pytest.raises(pl.PropagationError, match="deterministic") as err:
        pl.PropagationManager(plan=_checkpoint()).estimate(_rnn(cell, False, step=step))
    assert (err.value.site, err.value.instance) == ("cell", STEPS - 1)


def test_the_graph_and_the_gradient_messages_are_those_of_backprop():
    """The Lab draws the chain of Checkpoint nodes, and with gradients watched each
    node reports the whole gradient that reached its output, as Backprop's do."""
    cell = _cell()
    program = _rnn(cell, per_step_loss=False)
    graph = trace.capture(program, plan=_checkpoint(every=5))
    chain = {(f"site:cell#{t}", f"site:cell#{t + 1}") for t in range(STEPS - 1)}
    assert chain <= set(graph.instance_edges)

    def watched(plan):
        grads = {}

        class Watch:
            def message_sent(self, message, target):
                if message.kind == "grad" and target is not None:
                    grads[target.instance] = message.content.clone()

        pm = pl.PropagationManager(plan=plan)
        pm.watch_grads = True
        with pm.observing(Watch()):
            pm.estimate(program)
        return grads

    want, got = watched({}), watched(_checkpoint(every=5))
    assert sorted(got) == list(range(STEPS)) and sorted(want) == sorted(got)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)


# -- Back Razor -------------------------------------------------------------------------


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(2, 64),
        nn.Sequential(nn.ReLU(), nn.Linear(64, 64)),
        nn.Sequential(nn.ReLU(), nn.Linear(64, 4)),
    )


def _classifier(net, x, y):
    def program(pm):
        pm.param("net", net)
        h = pm.forward("l0", net[0], x)
        h = pm.forward("l1", net[1], h)
        logits = pm.forward("l2", net[2], h)
        pm.loss("ce", nn.functional.cross_entropy(logits, y, reduction="none"))

    return program


def _razor(sparsity: float) -> dict:
    return {
        site: {"propagator": "BackRazor", "options": {"sparsity": sparsity}}
        for site in ("l0", "l1", "l2")
    }


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four Gaussian classes on a circle, overlapping a little."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    angle = y.float() * torch.pi / 2
    centre = torch.stack([angle.cos(), angle.sin()], -1) * 1.5
    return centre + 0.6 * torch.randn(n, 2, generator=g), y


def test_backrazor_at_sparsity_zero_is_backprop_exactly():
    net = _mlp()
    x, y = _blobs(64, 0)
    want = pl.PropagationManager().estimate(_classifier(net, x, y))
    got = pl.PropagationManager(plan=_razor(0.0)).estimate(_classifier(net, x, y))
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_backrazor_sends_the_exact_input_gradient():
    """Only the weight gradient is approximate: the input's is g W, whatever the sparsity."""
    torch.manual_seed(0)
    layer, x = nn.Linear(5, 3), torch.randn(7, 5, requires_grad=True)

    def program(pm):
        pm.param("x", x)
        pm.loss("cost", (pm.forward("lin", layer, x) ** 2).sum(-1))

    want = pl.PropagationManager().estimate(program)["x"]
    razor = {"lin": {"propagator": "BackRazor", "options": {"sparsity": 0.9}}}
    got = pl.PropagationManager(plan=razor).estimate(program)["x"]
    torch.testing.assert_close(got, want)


def test_sparsified_keeps_the_largest_entries():
    x = torch.randn(13, 7)
    values, bits = sparsified(x, 0.8)
    dense = restored(values, bits, x.shape)
    keep = round(x.numel() * 0.2)
    assert int((dense != 0).sum()) == keep
    threshold = x.abs().flatten().sort(descending=True).values[keep - 1]
    assert torch.equal(dense, torch.where(x.abs() >= threshold, x, torch.zeros_like(x)))


def _train(plan: dict, seed: int) -> float:
    net = _mlp(seed)
    x, y = _blobs(512, seed)
    test_x, test_y = _blobs(2000, seed + 100)
    pm = pl.PropagationManager(plan=plan)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(150):
        optimiser.zero_grad()
        pm.estimate(_classifier(net, x, y))
        optimiser.step()
    with torch.no_grad():
        return float((net(test_x).argmax(-1) == test_y).float().mean()) * 100


def test_backrazor_at_90_percent_keeps_the_accuracy_within_a_point():
    """Seeded: the mean test accuracy over three seeds after 150 Adam steps."""
    seeds = (0, 1, 2)
    plain = sum(_train({}, s) for s in seeds) / len(seeds)
    razor = sum(_train(_razor(0.9), s) for s in seeds) / len(seeds)
    assert plain > 80  # the task is learnt at all
    assert razor > plain - 1.0, (plain, razor)


def test_backrazor_keeps_less_for_backward():
    net = _mlp()
    x, y = _blobs(512, 0)
    saved = {}
    for name, plan in {"backprop": {}, "razor": _razor(0.9)}.items():
        meter = PeakMemory()
        with meter.measure():
            pl.PropagationManager(plan=plan).estimate(_classifier(net, x, y))
        saved[name] = meter.latest["saved"]
    assert saved["razor"] < 0.3 * saved["backprop"]


def test_backrazor_names_what_it_serves():
    pm = pl.PropagationManager(plan={"act": "BackRazor"})
    with pytest.raises(pl.PropagationError, match="BackRazor serves linear layers") as err:
        pm.forward("act", torch.tanh, torch.ones(3))
    assert err.value.site == "act"


def test_peak_memory_counts_a_storage_once_and_releases_it():
    meter = PeakMemory()
    x = torch.randn(1000, requires_grad=True)  # 4000 bytes
    with meter.measure():
        y = x.exp()  # saves its output
        z = y * y  # saves y twice: the same storage, counted once
        assert meter._live == 4000
        del z, y  # the graph goes, and what it saved with it
        w = x.sin()  # saves x: had y not been released, the peak would be 8000
    assert meter.latest == {"saved": 4000, "cuda": None}
    del w
