"""The Lab's controls: what they say, which values they accept, and what follows
the registry (issue 9)."""

from __future__ import annotations

import gc
import weakref

import ipywidgets as widgets
import pytest
import torch
from conftest import small_rnn
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.core import registry


def _widgets(box):
    for child in getattr(box, "children", ()):
        yield child
        yield from _widgets(child)


def test_every_control_says_what_it_is(lab):
    inputs = [
        w
        for w in _widgets(lab.controls)
        if isinstance(
            w,
            (
                widgets.Button,
                widgets.IntText,
                widgets.FloatText,
                widgets.Text,
                widgets.Dropdown,
                widgets.IntProgress,
                widgets.ToggleButton,
                widgets.Textarea,
            ),
        )
    ]
    assert len(inputs) >= 15
    for w in inputs:
        assert w.tooltip, f"{type(w).__name__} {getattr(w, 'description', '')!r} has no tooltip"
    assert lab.lr.description == "learning rate" and "gradient" in lab.lr.tooltip


def test_progress_shows_count_time_and_eta(lab):
    lab.run(4, wait=True)
    assert lab.progress.value == 4
    assert lab.controls.progress_text.value.startswith("4/4 · ")
    assert lab.controls.progress_text.value.endswith(" s")


@pytest.mark.parametrize("value", [0, -7])
def test_out_of_range_iterations_show_an_inline_error_and_are_not_used(lab, value):
    lab.iterations.value = value
    assert lab.iterations.value == value  # not clamped
    assert "at least 1" in lab.controls.fields["iterations"].error.value
    lab.run_button.click()
    assert not lab.running and lab.rows == []
    assert "iterations: at least 1" in lab.banner.value
    with pytest.raises(ValueError, match="at least 1"):
        lab.run()
    lab.iterations.value = 2
    assert lab.controls.fields["iterations"].error.value == ""


def test_a_negative_learning_rate_is_refused(lab):
    lab.lr.value = -0.5
    assert "≥ 0" in lab.controls.fields["lr"].error.value
    with pytest.raises(ValueError, match="learning rate"):
        lab.run(1)
    assert lab.rows == [] and not lab.running


def test_compare_is_a_row_of_toggles_of_plans_that_serve_the_program(lab):
    toggles = lab.controls.compare_toggles
    assert list(toggles)[:1] == ["current"]
    assert {"RP", "LR", "TP", "GR"} <= set(toggles)
    assert "Backprop" not in toggles and "Skip" not in toggles  # forward-only
    assert lab.controls.chosen_plans() == ["RP", "LR", "TP"]
    toggles["LR"].value = False
    toggles["current"].value = True
    assert lab.controls.chosen_plans() == ["current", "RP", "TP"]
    lab.compare(iterations=2, wait=True)
    assert [t.name for t in lab.plots.variance.data] == ["current · beta", "RP · beta", "TP · beta"]


def test_saved_and_loaded_plans_can_be_compared(lab, tmp_path):
    lab.assign("state", "LR")
    lab.save_plan(tmp_path / "lr.json")
    lab.assign("state", "RP")
    assert list(lab.controls.compare_toggles)[:2] == ["current", "lr.json"]
    lab.compare(["lr.json", "current"], iterations=2, wait=True)
    assert [t.name for t in lab.plots.variance.data] == ["lr.json · beta", "current · beta"]
    ran = {row["label"] for row in lab.rows}
    assert ran == {"lr.json", "current"}
    assert lab.saved_plans["lr.json"].to_dict() == {"state": "LR"}


def test_a_propagator_registered_after_the_lab_reaches_its_palette_and_compare(lab):
    assert "LateLR" not in [c["name"] for c in lab.graph.catalogue]
    lab.controls.compare_toggles["LR"].value = False

    @pl.register("LateLR", colour="#123456", kinds=("sample",))
    def late_lr(**options):
        return pl.propagators.LR(**options)

    try:
        assert "LateLR" in [c["name"] for c in lab.graph.catalogue]
        assert "LateLR" in lab.controls.compare_toggles
        assert lab.controls.chosen_plans() == ["RP", "TP"]  # the choice survives
        lab.assign("state", "LateLR")
        assert 'fillcolor="#123456"' in lab.graph.dot

        @pl.register("LateLR", colour="#654321", kinds=("sample",), replace=True)
        def late_lr2(**options):
            return pl.propagators.LR(**options)

        entry = next(c for c in lab.graph.catalogue if c["name"] == "LateLR")
        assert entry["colour"] == "#654321" and 'fillcolor="#654321"' in lab.graph.dot
        lab.assign("state", "TP")
    finally:
        pl.unregister("LateLR")
    assert "LateLR" not in [c["name"] for c in lab.graph.catalogue]
    assert "LateLR" not in lab.controls.compare_toggles


def test_registry_listeners_are_held_weakly_and_can_unsubscribe():
    heard = []

    class Listener:
        def changed(self):
            heard.append("changed")

    kept, dropped = Listener(), Listener()
    unsubscribe = registry.subscribe(kept.changed)
    registry.subscribe(dropped.changed)
    before = len(registry._LISTENERS)
    del dropped
    gc.collect()
    pl.register("Transient", kinds=("sample",))(lambda **o: pl.propagators.LR(**o))
    assert heard == ["changed"] and len(registry._LISTENERS) == before - 1
    unsubscribe()
    pl.unregister("Transient")
    assert heard == ["changed"]
    # a Lab subscribes the same way: nothing in the registry holds it strongly
    lab = pl.Lab(small_rnn())
    assert all(isinstance(ref, weakref.ref) for ref in registry._LISTENERS)
    assert any(ref() == lab._registry_changed for ref in registry._LISTENERS)


def test_a_function_program_shows_the_particles_it_draws():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        x = pm.sample("x", Normal(mu.expand(256), 1.0))
        pm.loss("cost", x**2)

    lab = pl.Lab(program, params={"mu": mu})
    assert lab.particles.value == 256 and lab.particles.disabled
    assert "set by the program" in lab.controls.fields["particles"].error.value
    lab.run(1, wait=True)
    assert lab.particles.disabled


def test_a_function_programs_particles_default_is_editable():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm, particles=128):
        x = pm.sample("x", Normal(mu.expand(particles), 1.0))
        pm.loss("cost", x**2)

    lab = pl.Lab(program, params={"mu": mu})
    assert lab.particles.value == 128 and not lab.particles.disabled
    lab.particles.value = 64
    assert lab.graph.graph["nodes"][1]["shape"] == [64]


# -- "As Python" --------------------------------------------------------------------------


def _first_estimate(script_text: str, tmp_path) -> dict:
    """Run a generated script in a fresh interpreter; its first printed estimate."""
    import ast
    import subprocess
    import sys

    path = tmp_path / "run.py"
    path.write_text(script_text)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + "\n" + script_text
    first = out.stdout.splitlines()[0]
    return ast.literal_eval(first.split(" ", 1)[1])


def test_as_python_of_a_function_program_names_its_parameters(tmp_path):
    mu = torch.tensor([0.5, -0.25], requires_grad=True)
    scale = 1.5

    def program(pm, particles):
        x = pm.sample("x", Normal(mu.expand(particles, 2), scale))
        pm.loss("cost", (x**2).sum(-1))

    lab = pl.Lab(program, params={"m": mu}, particles=64, plan={"x": "LR"}, seed=3)
    lab.run(2, wait=True)
    text = lab.to_python()
    assert "pm.param(name, p)" in text and "'m': mu" in text
    printed = _first_estimate(text, tmp_path)
    assert set(printed) == {"m"}
    assert torch.allclose(
        torch.tensor(printed["m"]), lab.rows[0]["grads"]["m"], rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: pl.systems.GaussianToy(particles=64),
        lambda: pl.systems.ChaoticRNN(steps=5, particles=32),
    ],
)
def test_as_python_of_a_ready_system_reproduces_the_lab(tmp_path, make):
    lab = pl.Lab(make(), seed=5, lr=0.1)
    text = lab.to_python()  # the set-up as it is now: the run below steps the parameters
    lab.run(2, wait=True)
    printed = _first_estimate(text, tmp_path)
    for name, value in printed.items():
        assert torch.allclose(
            torch.tensor(value), lab.rows[0]["grads"][name].cpu(), rtol=1e-5, atol=1e-7
        )


def test_saving_a_plan_to_an_unwritable_path_names_the_path(lab, tmp_path):
    lab.plan_path.value = str(tmp_path / "no" / "such" / "dir" / "plan.json")
    lab.save_button.click()
    assert "cannot write plan file" in lab.banner.value and "such" in lab.banner.value
    assert "FileNotFoundError" not in lab.banner.value


# -- the graph widget's side of forms, banners and tooltips ------------------------------


def _node(lab, node_id):
    return next(n for n in lab.graph.graph["nodes"] if n["id"] == node_id)


def test_the_graph_json_carries_the_plan_after_every_kind_of_change(lab, tmp_path):
    sent = []
    lab.graph.observe(lambda ch: sent.append(_node(lab, "site:state")), "graph")
    lab.assign("state", "LR", {"baseline": "ema"})  # Python API
    assert sent[-1]["propagator"] == "LR" and sent[-1]["options"] == {"baseline": "ema"}
    path = lab.save_plan(tmp_path / "plan.json")
    lab.graph.handle_message(
        {"action": "assign", "site": "state", "instance": None, "propagator": "RP", "options": {}}
    )  # a click
    assert sent[-1]["propagator"] == "RP" and sent[-1]["options"] == {}
    lab.load_plan(path)  # Load
    assert sent[-1]["propagator"] == "LR" and sent[-1]["options"] == {"baseline": "ema"}
    lab.set_plan({"state": {"propagator": "TP"}})
    assert sent[-1]["propagator"] == "TP" and sent[-1]["options"] == {}
    assert lab.graph.plan == lab.plan.to_dict()


def test_dismissing_the_banner_clears_the_kernels_error(lab):
    lab.show_error(pl.PlanError("something went wrong"))
    lab.graph.show_error("something went wrong")
    assert lab.graph.error and lab.banner.value
    assert lab.graph.handle_message({"action": "dismiss"})
    # the graph forgets its error, and the Lab (through on_dismiss) closes its banner
    assert lab.graph.error == {} and lab.banner.value == ""
    # a malformed dismiss is refused by the one parser, and the Lab's banner stays
    lab.show_error(pl.PlanError("again"))
    lab.graph._handle_custom_msg({"action": "dismiss", "extra": 1}, [])
    assert "unexpected 'extra'" in lab.graph.error["message"] and lab.banner.value
    lab.graph._handle_custom_msg({"action": "dismiss"}, [])  # as the browser sends it
    assert lab.banner.value == "" and lab.graph.error == {}


def test_edge_tooltips_name_nodes_not_ids():
    graph = pl.trace.capture(pl.systems.ChaoticRNN(steps=6, particles=8))
    rolled = {e["id"]: e["label"] for e in graph.to_json(view="rolled")["edges"]}
    assert rolled["param:beta->site:state"] == "beta → state (all 6 steps)"
    assert rolled["site:state->site:state"] == "state → state (×5)"
    unrolled = {e["id"]: e["label"] for e in graph.to_json(view="unrolled")["edges"]}
    assert unrolled["site:state#0->site:state#1"] == "state[0] → state[1]"
    dot = graph.to_dot(view="unrolled")
    assert 'tooltip="beta → state (all 6 steps)"' in dot
    assert "param:beta →" not in dot and "site:state →" not in dot


# -- plots ---------------------------------------------------------------------------------


def test_log_axes_label_decades_as_powers_of_ten_and_never_crowd():
    from proppo_lab.trace.figures import log_axis

    wide = log_axis([1e-5, 3e-2, 1e20])
    assert wide["dtick"] == 1 and wide["exponentformat"] == "power"
    assert wide["showexponent"] == "all"
    narrow = log_axis([0.3, 0.35, 0.6])  # inside a decade: plain numbers
    assert narrow["tickformat"] == ".2~g" and "dtick" not in narrow
    lab_axis = pl.Lab(small_rnn()).plots.variance.layout.yaxis
    assert lab_axis.type == "log" and lab_axis.exponentformat == "power"
    assert lab_axis.nticks == 6 and lab_axis.minor.ticks == "outside"


def test_sweep_figure_uses_one_number_format_on_its_log_axis():
    result = pl.trace.sweep(
        lambda beta: pl.systems.ChaoticRNN(beta=beta, steps=4, particles=16),
        over={"beta": [0.5, 3.0]},
        plans={"RP": "RP", "LR": "LR"},
        iterations=4,
        progress=False,
    )
    fig = pl.trace.figures.sweep_figure(result)
    axis = fig.layout.yaxis
    assert axis.type == "log" and axis.exponentformat in ("power", "none")
    assert axis.exponentformat != "B" and axis.minor.ticks == "outside"


def test_the_message_plot_draws_lines_for_a_program_without_loops():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm, particles):
        x = pm.sample("x", Normal(mu.expand(particles), 1.0))
        pm.loss("cost", x**2)

    lab = pl.Lab(program, params={"mu": mu}, particles=64, plan={"x": "LR"}, refresh=0.0)
    lab.run(5, wait=True)
    messages = lab.plots.messages
    assert messages.layout.xaxis.title.text == "iteration"
    assert len(messages.data) == 1 and len(messages.data[0].x) >= 2  # a line, not a dot
    assert "lines" in messages.data[0].mode
