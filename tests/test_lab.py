"""The Lab, kernel side: runs, stop, errors, compare, plans, devices.

Driven from Python exactly as the buttons drive it (the browser tests cover
the clicks themselves).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import small_rnn
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.lab.devices import list_devices
from proppo_lab.lab.runner import Runner


def test_run_fills_every_plot_and_the_graph_overlay(lab):
    lab.run(6, wait=True)
    plots = lab.plots
    assert plots.points(plots.gradient) == 6
    assert plots.points(plots.variance) == 6
    assert plots.points(plots.loss) == 6
    assert plots.points(plots.messages) == 10  # one norm per instance of "state"
    weights = [t for t in plots.weights.data][0].y
    assert len(weights) == 10 and all(0.0 <= w <= 1.0 for w in weights)
    flows = lab.graph.flows["nodes"]["site:state"]
    assert set(flows["weights"]) == {"Pathwise", "ScoreFunction"}
    assert lab.progress.value == 6 and "done" in lab.status.value


def test_plots_only_some_plans_fill_appear_once_they_hold_data():
    core = ("gradient", "variance", "loss", "messages", "weights")
    lab = pl.Lab(pl.systems.TeacherStudent(), iterations=4, lr=0.02)
    try:
        assert [lab.plots.named[k] for k in core] == list(lab.plot_grid.children)
        lab.run(4, wait=True)  # Backprop everywhere: no angle, no learned loss
        assert list(lab.plot_grid.children) == lab.plots.shown()
        assert lab.plots.notes["alignment_angle"] not in lab.plot_grid.children
        lab.assign("hidden", "FeedbackAlignment")
        lab.run(4, wait=True)
        angle = lab.plots.notes["alignment_angle"]
        assert lab.plots.points(angle) > 0 and angle in lab.plot_grid.children
        assert lab.plots.notes["learned_loss"] not in lab.plot_grid.children
    finally:
        lab.stop()
        lab.runner.join(10)


def test_refreshing_the_plots_never_compares_figures_by_value(monkeypatch):
    """plotly compares figures (==, ``in``) by serialising both whole, tens of ms
    for a filled plot: the Lab's refresh must tell its plots apart by identity."""
    from plotly.basedatatypes import BaseFigure

    compared = []
    original = BaseFigure.__eq__

    def counting(self, other):
        compared.append(type(self).__name__)
        return original(self, other)

    lab = pl.Lab(small_rnn(), iterations=6)
    monkeypatch.setattr(BaseFigure, "__eq__", counting)
    lab.run(6, wait=True)
    lab._publish(lab._sessions[-1], 6)
    assert lab.plots.points(lab.plots.memory) > 0
    assert compared == []


def test_gradients_are_those_of_the_engine_for_the_same_seeds(lab):
    lab.run(3, wait=True)
    program = small_rnn()
    pm = pl.PropagationManager(plan={"state": "TP"})
    for i, row in enumerate(lab.rows):
        torch.manual_seed(i)
        expected = pm.estimate(program)["beta"]
        assert torch.allclose(row["grads"]["beta"], expected)


def test_stop_halts_within_an_iteration_and_the_lab_can_run_again(lab):
    lab.program.steps = 40
    lab.run(100_000)
    time.sleep(0.3)
    assert lab.running
    lab.stop()
    assert lab.runner.join(5), "Stop did not end the run"
    done = len(lab.rows)
    assert 0 < done < 100_000
    assert "stopped" in lab.status.value
    assert not lab.run_button.disabled and lab.stop_button.disabled
    lab.run(2, wait=True)  # a fresh run
    assert [r["iteration"] for r in lab.rows] == [0, 1]


def test_kernel_thread_stays_free_during_a_run(lab):
    lab.program.steps = 40
    lab.run(100_000)
    try:
        # the caller (the kernel's main thread) is not blocked: a click is handled at once
        start = time.perf_counter()
        assert lab.graph.handle_message({"action": "select", "node": "site:state"})
        assert time.perf_counter() - start < 1.0
        assert lab.graph.selected == "site:state"
        assert threading.current_thread() is threading.main_thread()
    finally:
        lab.stop()
        lab.runner.join(5)


def test_a_click_during_a_run_changes_the_plan_between_iterations(lab):
    lab.program.steps = 40
    lab.run(100_000)
    try:
        time.sleep(0.2)
        lab.assign("state", "LR")
        deadline = time.time() + 10
        while not any(r["label"].startswith("after edit") for r in lab.rows):
            assert time.time() < deadline, "the new plan never reached the run"
            time.sleep(0.05)
    finally:
        lab.stop()
        lab.runner.join(5)
    assert lab.plan.to_dict() == {"state": "LR"}


def test_a_failing_propagator_is_shown_and_the_run_can_restart(lab):
    lab.assign("state", "LR")
    with torch.no_grad():
        lab.program.params["beta"].fill_(float("nan"))
    lab.run(3)
    lab.runner.join(10)
    assert isinstance(lab.runner.error, pl.NonFiniteError)
    assert "site &#x27;state&#x27;" in lab.banner.value
    assert lab.graph.error["site"] == "state" and lab.graph.error["propagator"] == "LR"
    assert lab.graph.error["instance"] == 0  # where the NaN first appears, going forward
    assert "error" in lab.status.value
    with torch.no_grad():
        lab.program.params["beta"].fill_(2.4)
    lab.run(2, wait=True)
    assert lab.banner.value == "" and lab.graph.error == {}


def test_a_raising_custom_propagator_is_reported_with_its_node():
    @pl.register("Broken", colour="#123456", replace=True)
    class Broken(pl.Propagator):
        """Raises on the way back, on purpose."""

        def forward(self, node, fp):
            return node.dist.rsample()

        def backward(self, node, bp):
            raise ValueError("deliberately broken")

    try:
        lab = pl.Lab(small_rnn(), plan={"state": "Broken"})
        lab.run(1)
        lab.runner.join(10)
        assert isinstance(lab.runner.error, pl.PropagationError)
        assert "deliberately broken" in lab.banner.value
        assert lab.graph.error["propagator"] == "Broken"
        assert lab.graph.error["instance"] == 9
    finally:
        pl.unregister("Broken")


def test_compare_runs_each_plan_with_a_trace_per_plan(lab):
    lab.compare(["RP", "LR", "TP"], iterations=4, wait=True)
    names = [t.name for t in lab.plots.variance.data]
    assert names == ["RP · beta", "LR · beta", "TP · beta"]
    assert all(len(t.x) == 4 for t in lab.plots.variance.data)
    # common random numbers: every plan's iteration k used seed + k
    assert [(r["label"], r["iteration"]) for r in lab.rows] == [
        (p, k) for p in ("RP", "LR", "TP") for k in range(4)
    ]


def test_compare_rejects_unknown_plans(lab):
    with pytest.raises(pl.PlanError):
        lab.compare(["RP", "nope"], iterations=2)


def test_plan_save_and_load_round_trip(lab, tmp_path):
    lab.assign("state", "LR", {"baseline": "ema"})
    path = lab.save_plan(tmp_path / "plan.json")
    lab.assign("state", "RP")
    lab.load_plan(path)
    assert lab.plan.to_dict() == {"state": {"propagator": "LR", "options": {"baseline": "ema"}}}
    assert lab.graph.graph["nodes"][1]["propagator"] == "LR"


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"state": "Nope"}',
        '{"stat": "LR"}',
        '{"state": {"propagator": "LR", "options": {"decay": 7}}}',
    ],
)
def test_loading_a_bad_plan_is_refused_and_changes_nothing(lab, tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    before = lab.plan.to_dict()
    with pytest.raises(pl.PlanError):
        lab.load_plan(path)
    assert lab.plan.to_dict() == before


def test_the_load_button_shows_errors_instead_of_raising(lab, tmp_path):
    lab.plan_path.value = str(tmp_path / "missing.json")
    lab.load_button.click()
    assert "cannot read plan file" in lab.banner.value


def test_as_python_reproduces_the_lab_in_a_script(lab, tmp_path):
    lab.assign("state", "LR", {"baseline": "none"})
    lab.iterations.value = 2
    lab.run(2, wait=True)
    script = tmp_path / "run.py"
    script.write_text(lab.to_python())
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    printed = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(printed) == 2
    # same seeds, same plan: the script's gradients are the lab's
    first = float(printed[0].split("'beta': ")[1].rstrip("}"))
    assert first == pytest.approx(lab.rows[0]["grads"]["beta"].item(), rel=1e-5, abs=1e-7)


def test_a_plain_function_program_with_named_params():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm, particles):
        x = pm.sample("x", Normal(mu.expand(particles), 1.0))
        pm.loss("cost", x**2)

    lab = pl.Lab(program, params={"mu": mu}, particles=256)
    assert lab.graph_source.sites == ["x", "cost"]
    lab.run(20, wait=True)
    grads = torch.stack([r["grads"]["mu"] for r in lab.rows])
    assert abs(grads.mean().item() - 1.0) < 5 * grads.std().item() / 20**0.5


def test_particles_control_rebuilds_the_graph(lab):
    lab.particles.value = 32
    assert lab.program.particles == 32
    assert lab.graph.graph["nodes"][1]["shape"] == [32, 2]
    lab.particles.value = 1  # out of range: an inline error, the value is not used
    assert lab.particles.value == 1 and lab.program.particles == 32
    assert "at least 2" in lab.controls.fields["particles"].error.value
    lab.particles.value = 16
    assert lab.program.particles == 16 and lab.controls.fields["particles"].error.value == ""
    lab.program.particles = None  # a program without the setting: refused, shown
    lab._guard(lab._set_particles, 8)
    assert "no &#x27;particles&#x27; setting" in lab.banner.value


def test_step_size_descends(lab):
    lab.assign("state", "RP")
    before = lab.program.params["beta"].item()
    lab.lr.value = 0.5
    lab.run(3, wait=True)
    after = lab.program.params["beta"].item()
    expected = before - 0.5 * sum(r["grads"]["beta"].item() for r in lab.rows)
    assert after == pytest.approx(expected, rel=1e-5)


def test_device_list_names_cpu_and_each_gpu():
    devices = list_devices()
    assert devices[0] == ("CPU", "cpu")
    assert len(devices) == 1 + (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    for label, dev in devices[1:]:
        assert dev.startswith("cuda:") and "GiB" in label


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_run_on_gpu(lab):
    lab.device.value = "cuda:0"
    lab.run(3, wait=True)
    assert lab.rows[-1]["grads"]["beta"].is_cuda


def test_runner_reports_errors_and_finishes():
    seen = {}
    runner = Runner(
        on_error=lambda e: seen.setdefault("error", e),
        on_finish=lambda stopped: seen.setdefault("stopped", stopped),
    )

    def job(stopping):
        raise KeyError("boom")

    runner.start(job)
    assert runner.join(5)
    assert isinstance(seen["error"], KeyError) and seen["stopped"] is False
    with pytest.raises(RuntimeError):
        runner.start(lambda s: time.sleep(0.5))
        runner.start(lambda s: None)
    runner.join(5)


def test_display_carries_a_static_graph_for_kernel_less_viewers(lab):
    from proppo_lab.contracts import GRAPH_MIME

    bundle = lab._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    if not shutil.which("dot"):
        pytest.skip("needs Graphviz's dot to draw the static picture")
    assert bundle["image/svg+xml"].lstrip().startswith("<svg")
    assert 'id="site:state"' in bundle["image/svg+xml"]
    assert bundle[GRAPH_MIME]["model_id"] == lab.model_id
    assert "site:state" in bundle[GRAPH_MIME]["nodes"]


def test_each_run_starts_the_plots_over(lab):
    lab.run(4, wait=True)
    lab.run(3, wait=True)
    assert [r["iteration"] for r in lab.rows] == [0, 1, 2]
    assert list(lab.plots.loss.data[0].x) == [0, 1, 2]


def test_steps_continue_a_run_with_the_seeds_of_one_long_run(lab):
    lab.run(3, wait=True)
    whole = [r["grads"]["beta"] for r in lab.rows]
    lab.run(1, wait=True)
    lab.step(wait=True)
    lab.step(wait=True)
    assert [r["iteration"] for r in lab.rows] == [0, 1, 2]
    assert all(torch.equal(a, r["grads"]["beta"]) for a, r in zip(whole, lab.rows))
    assert lab.plots.points(lab.plots.variance) == 3


def test_a_plan_change_makes_step_start_a_fresh_run(lab):
    lab.run(2, wait=True)
    lab.assign("state", "LR")
    lab.step(wait=True)
    assert [r["iteration"] for r in lab.rows] == [0]


def test_the_run_thread_uses_the_callers_torch_threads():
    seen = []
    runner = Runner()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        runner.start(lambda stopping: seen.append(torch.get_num_threads()))
        runner.join(5)
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


def test_a_plot_refresh_costs_what_it_adds_not_the_length_of_the_run(monkeypatch):
    """Each refresh appends only the new points and reads only the new statistics,
    so refresh 500 does the same work as refresh 50 (counted, not timed)."""
    mu = torch.tensor(0.5, requires_grad=True)
    v = torch.zeros(3, requires_grad=True)

    def tiny(pm, particles):
        x = pm.sample("x", Normal(mu + v.sum() * 0.0, 1.0).expand((particles,)))
        pm.loss("cost", x**2)

    read = []  # per refresh: statistics entries read
    original = pl.trace.GradientStats.history

    def counting_history(self, start=0):
        out = original(self, start)
        read.append(sum(len(h["grad"]) + len(h["variance"]) for h in out.values()))
        return out

    monkeypatch.setattr(pl.trace.GradientStats, "history", counting_history)
    lab = pl.Lab(tiny, params={"mu": mu, "v": v}, particles=8, plan={"x": "LR"})
    session = lab._session("current", lab.plan, lab.default)
    added = []  # per refresh: points appended to the plots
    for i in range(500):  # the run loop's steps, with a refresh after every iteration
        pl.seed(i)
        lab.rows.append(session.add(session.pm.estimate(lab.program)))
        before = lab.plots.added
        lab._publish(session, i + 1)
        added.append(lab.plots.added - before)
    session.close()
    assert lab.plots.points(lab.plots.variance) == 2 * 500  # every point is drawn ...
    assert added[49] == added[499] == 2 * 2 + 1  # ... by constant-size updates
    assert read[49] == read[499] == 2 * 2
    assert "iteration 500" in lab.status.value


def test_the_loss_curve_counts_particles_as_a_coupled_node_weighs_them():
    # Enumerate weighs each outcome by its probability, MVD its evaluation points by 0:
    # the loss plotted must be the objective, not the plain mean over particles
    sbn = pl.systems.SigmoidBeliefNet(latents=3, images=2, particles=64, init_scale=0.5)
    exact = sbn.objective().item()
    lab = pl.Lab(sbn, plan={"z": "Enumerate"}, iterations=2)
    lab.compare(["Enumerate"], iterations=2, wait=True)
    assert [float(r["loss"]) for r in lab.rows] == pytest.approx([exact, exact], rel=1e-5)
    toy = pl.systems.GaussianToy(mu=0.5, sigma=1.0, particles=4000)  # groups of 1 + 3
    lab = pl.Lab(toy, plan={"x": "MVD"}, iterations=1)
    lab.run(wait=True)
    # E[x^2] = mu^2 + sigma^2 = 1.25; the unweighted mean over MVD's points is about 1.6
    assert float(lab.rows[0]["loss"]) == pytest.approx(1.25, abs=0.15)


def test_compare_trains_every_plan_from_the_same_parameters():
    sbn = pl.systems.SigmoidBeliefNet(particles=8)
    lab = pl.Lab(sbn, plan={"z": "LR"}, iterations=3, lr=1.0)
    lab.compare(["current", "LR"], iterations=3, wait=True)  # the same plan twice
    losses = {}
    for row in lab.rows:
        losses.setdefault(row["label"], []).append(float(row["loss"]))
    # same seeds, same starting parameters: the same run, step for step
    assert losses["current"] == losses["LR"] and len(losses["LR"]) == 3
    assert losses["LR"][-1] != losses["LR"][0]  # and it did train
