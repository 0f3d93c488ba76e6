"""The Lab: a program's graph, a palette, run controls and live plots in one widget.

    lab = pl.Lab(pl.systems.ChaoticRNN(beta=2.4), plan={"state": "TP"})
    lab            # in JupyterLab: click a node, pick a propagator, press Run

Runs happen on a background thread (:mod:`.runner`): plots refresh several
times a second, Stop takes effect within one iteration, and the notebook keeps
working meanwhile. Everything that can go wrong in a run (a propagator raising,
a non-finite message) is shown in the banner and on the graph; the kernel
survives and the run can be started again.

This module lays the Lab out and wires its controls. The plan lives in a
:class:`~.plan_editor.PlanEditor` (``lab.editor``), runs in :mod:`.session`,
plan files and scripts in :mod:`.script`, function programs in :mod:`.program`.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Callable, Mapping, Sequence

import ipywidgets as widgets
import torch
import traitlets

from .. import trace
from ..core import registry
from ..core.errors import PropagationError
from ..core.manager import PropagationManager
from ..core.plan import Plan
from ..trace.compare import plan_and_default
from . import layout, script
from .devices import list_devices
from .graph_widget import GraphWidget
from .plan_editor import PlanEditor
from .plots import LivePlots
from .program import as_program
from .runner import Runner
from .session import Session, run_sessions


class Lab(widgets.VBox):
    """The interactive environment around one program.

    ``program``: a :class:`proppo_lab.systems.System` or a function
    ``program(pm)`` (then ``params`` names the tensors it learns; a
    ``particles`` argument is passed when the function takes one).
    ``plan``/``default``: the starting plan. ``particles``, ``device``:
    where and how wide to run; ``device`` defaults to the program's.
    ``lab.presentation = True`` (or the Presentation toggle) enlarges it for a projector.
    """

    presentation = traitlets.Bool(False, help="bigger fonts, graph and plots full width")

    def __init__(self, program, params: Mapping[str, torch.Tensor] | None = None,
                 plan: Mapping | Plan | None = None, *, particles: int | None = None,
                 device: str | None = None, default: str = "RP", iterations: int = 50,
                 seed: int = 0, lr: float = 0.0, view: str = "rolled",
                 refresh: float = 0.2):
        self.runner = Runner(on_error=self._run_failed, on_finish=self._run_finished)
        self.program = as_program(program, params, particles)
        if particles is not None:
            self._set_particles(particles)
        if device is not None:
            self.program.to(device)
        self.default = default
        self.refresh = refresh
        self.plots = LivePlots()
        self.rows: list[dict] = []          # one per iteration: label, iteration, grads, loss
        self._sessions: list[Session] = []

        self.graph_source = trace.capture(self.program, plan, default)
        #: the one home of the plan: the graph, assign(), plan files and runs use it
        self.editor = PlanEditor.for_source(self.graph_source, plan)
        self.graph = GraphWidget(self.graph_source, view=view, editor=self.editor)
        self._build_controls(iterations, seed, lr)
        self.presentation_toggle = layout.presentation_toggle()
        widgets.link((self, "presentation"), (self.presentation_toggle, "value"))
        self._figure_sizes = layout.FigureSizes(self.plots.figures)
        super().__init__([self.banner, *layout.arrange(
            self.graph, self.controls, self.status, self.presentation_toggle,
            self.plot_grid)])
        self.add_class("pl-lab")

    @traitlets.observe("presentation")
    def _present(self, change) -> None:
        (self.add_class if change["new"] else self.remove_class)("pl-presentation")
        self._figure_sizes.present(change["new"])

    def _repr_mimebundle_(self, **kwargs):
        """The live Lab plus its graph as SVG, so that a notebook saved with
        outputs still shows the graph when reopened without a kernel (the
        extension's renderer falls back to the picture when no model is live)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle:
            bundle.update(self.graph.snapshot_bundle(self.model_id))
        return bundle

    # -- layout -------------------------------------------------------------
    def _build_controls(self, iterations: int, seed: int, lr: float) -> None:
        def button(text, icon, style, cls, handler, tip):
            b = widgets.Button(description=text, icon=icon, button_style=style, tooltip=tip,
                               layout=widgets.Layout(width="auto"))
            b.add_class(cls)
            b.on_click(lambda _: self._guard(handler))
            return b

        self.run_button = button("Run", "play", "success", "pl-run", self.run,
                                 "run propagation for the given number of iterations")
        self.stop_button = button("Stop", "stop", "danger", "pl-stop", self.stop,
                                  "stop after the current iteration")
        self.step_button = button("Step", "step-forward", "", "pl-step", self.step,
                                  "run one iteration")
        self.iterations = widgets.BoundedIntText(value=iterations, min=1, max=1_000_000,
                                                 description="iterations")
        self.seed = widgets.IntText(value=seed, description="seed")
        has_particles = getattr(self.program, "particles", None) is not None
        self.particles = widgets.BoundedIntText(
            value=int(getattr(self.program, "particles", 0) or 2), min=2, max=10_000_000,
            description="particles", disabled=not has_particles)
        self.particles.observe(lambda ch: self._guard(self._set_particles, ch["new"]), "value")
        self.device = widgets.Dropdown(options=list_devices(), value=str(self.program.device)
                                       if str(self.program.device) in dict(list_devices()).values()
                                       else "cpu", description="device")
        self.device.observe(lambda ch: self._guard(self._set_device, ch["new"]), "value")
        self.lr = widgets.BoundedFloatText(value=lr, min=0.0, max=100.0, step=0.01,
                                           description="step size",
                                           tooltip="gradient-descent step on the parameters "
                                                   "after each iteration; 0 only estimates")
        choices = ["current"] + [e.name for e in registry.entries() if "sample" in e.kinds]
        self.compare_plans = widgets.SelectMultiple(
            options=choices, value=[c for c in ("RP", "LR", "TP") if c in choices],
            description="compare", rows=4)
        self.compare_button = button("Compare", "bar-chart", "info", "pl-compare",
                                     self.compare, "run each chosen plan in turn, same seeds")
        self.plan_path = widgets.Text(value="plan.json", description="plan file")
        self.save_button = button("Save", "save", "", "pl-save-plan",
                                  lambda: self.save_plan(self.plan_path.value), "save the plan")
        self.load_button = button("Load", "folder-open", "", "pl-load-plan",
                                  lambda: self.load_plan(self.plan_path.value), "load a plan")
        self.code = widgets.Textarea(layout=widgets.Layout(width="100%", height="140px"),
                                     placeholder="'As Python' writes a script here")
        self.code_button = button("As Python", "code", "", "pl-as-python",
                                  lambda: setattr(self.code, "value", self.to_python()),
                                  "a script that reproduces this set-up")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="",
                                            layout=widgets.Layout(width="100%"))
        self.controls = widgets.VBox(
            [widgets.HBox([self.run_button, self.stop_button, self.step_button]),
             self.iterations, self.particles, self.seed, self.device, self.lr,
             self.compare_plans, self.compare_button,
             self.plan_path, widgets.HBox([self.save_button, self.load_button, self.code_button]),
             self.code, self.progress],
            layout=widgets.Layout(width="340px", min_width="300px"))
        self.controls.add_class("pl-controls")
        self.banner = widgets.HTML("")
        self.banner.add_class("pl-banner")
        self.status = widgets.HTML("ready")
        self.status.add_class("pl-status")
        self.plot_grid = widgets.GridBox(list(self.plots.figures), layout=widgets.Layout(
            grid_template_columns="repeat(auto-fill, minmax(470px, 1fr))", width="100%"))
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.run_button.disabled = self.step_button.disabled = running
        self.compare_button.disabled = running
        self.stop_button.disabled = not running
        self.device.disabled = running
        self.particles.disabled = running or getattr(self.program, "particles", None) is None

    # -- errors -------------------------------------------------------------
    def _guard(self, fn: Callable, *args) -> None:
        """Run a UI callback; show any error in the banner instead of raising."""
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - shown, never lost
            self.show_error(err)

    def show_error(self, err: BaseException) -> None:
        if isinstance(err, PropagationError):
            self.graph.show_error(err)
        text = f"{type(err).__name__}: {err}"
        self.banner.value = (f"<div class='pl-error' style='background:#fde8e8;color:#8a1c1c;"
                             f"padding:6px 10px;border-left:4px solid #d62728'>"
                             f"{html.escape(text)}</div>")

    def clear_error(self) -> None:
        self.banner.value = ""
        self.graph.clear_error()

    # -- the plan -----------------------------------------------------------
    @property
    def plan(self) -> Plan:
        return self.editor.plan

    def set_plan(self, plan: Mapping | Plan) -> None:
        self.editor.set_plan(plan)

    def assign(self, site: str, propagator: str, options: Mapping | None = None,
               instance: int | None = None) -> None:
        """Assign from Python with the same checks as a click (PlanError when refused).

        A run in progress picks the new plan up before its next iteration."""
        self.editor.assign(site, propagator, options, instance)

    def save_plan(self, path: str | Path) -> Path:
        path = script.save_plan(self.plan, path)
        self.status.value = f"plan saved to {html.escape(str(path))}"
        return path

    def load_plan(self, path: str | Path) -> Plan:
        plan = script.load_plan(self.editor, path)
        self.status.value = f"plan loaded from {html.escape(str(path))}"
        return plan

    def to_python(self) -> str:
        """A script that reproduces the current set-up outside Jupyter."""
        return script.script(self.program, self.plan, self.default, self.iterations.value,
                             self.seed.value, self.lr.value)

    # -- program settings ---------------------------------------------------
    def _set_particles(self, n: int) -> None:
        if getattr(self.program, "particles", None) is None:
            raise ValueError("this program has no 'particles' setting")
        if self.runner.running:
            raise RuntimeError("stop the run before changing the number of particles")
        if int(n) < 2:
            raise ValueError("at least 2 particles are needed (baselines and variances)")
        self.program.particles = int(n)
        if hasattr(self, "graph"):
            self._recapture()

    def _set_device(self, device: str) -> None:
        if self.runner.running:
            raise RuntimeError("stop the run before changing the device")
        self.program.to(device)
        self._recapture()
        self.status.value = f"now running on {html.escape(device)}"

    def _recapture(self) -> None:
        self.graph_source = trace.capture(self.program, self.plan, self.default)
        self.graph.set_source(self.graph_source)

    # -- running ------------------------------------------------------------
    def run(self, iterations: int | None = None, wait: bool = False) -> None:
        """A fresh run of ``iterations`` (default: the control's value) under the
        current plan; the plots start over."""
        n = int(iterations if iterations is not None else self.iterations.value)
        self._start([self._session("current", self.plan, self.default)], n, live_plan=True)
        if wait:
            self.wait()

    def step(self, wait: bool = False) -> None:
        """One more iteration of the current run (a fresh run if there is none)."""
        last = self._sessions[-1] if len(self._sessions) == 1 else None
        if last is None or last.label != "current" or last.pm.plan != self.plan:
            self.run(1, wait=wait)
            return
        self._start([last], 1, live_plan=True, fresh=False)
        if wait:
            self.wait()

    def compare(self, plans: Sequence[str] | None = None, iterations: int | None = None,
                wait: bool = False) -> None:
        """Run each plan in turn with the same seeds and plot their variances together.

        A name means "every sample node uses it"; "current" is the graph's plan.
        """
        names = list(plans if plans is not None else self.compare_plans.value)
        if not names:
            raise ValueError("choose at least one plan to compare")
        sessions = [self._session("current", self.plan, self.default) if name == "current"
                    else self._session(name, *plan_and_default(name, self.default))
                    for name in names]
        n = int(iterations if iterations is not None else self.iterations.value)
        self._start(sessions, n, live_plan=False)
        if wait:
            self.wait()

    def stop(self) -> None:
        self.runner.stop()
        self.status.value = "stopping after this iteration…"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (for scripts and tests; the UI never needs it)."""
        done = self.runner.join(timeout)
        if done and self.runner.error is not None and timeout is None:
            raise self.runner.error
        return done

    @property
    def running(self) -> bool:
        return self.runner.running

    def _session(self, label: str, plan: Plan, default: str) -> Session:
        pm = PropagationManager(plan=plan, default=default, sites=self.graph_source.sites)
        return Session(label, pm, self.graph_source)

    def _start(self, sessions: list[Session], iterations: int, live_plan: bool,
               fresh: bool = True) -> None:
        if self.runner.running:
            raise RuntimeError("a run is already in progress; press Stop first")
        self.clear_error()
        if fresh:
            for old in self._sessions:
                old.close()
            self._sessions = sessions
            self.rows = []
            self.plots.reset()
        self.progress.max = max(1, iterations * len(sessions))
        self.progress.value = 0
        self._set_running(True)
        self.status.value = "running…"
        plan = (lambda: self.editor.plan) if live_plan else None
        seed, lr = int(self.seed.value), float(self.lr.value)
        self.runner.start(lambda stopping: run_sessions(
            sessions, iterations, self.program, seed=seed, lr=lr, refresh=self.refresh,
            live_plan=plan, record=self.rows.append, publish=self._publish, stopping=stopping))

    def _publish(self, session: Session, progress: int) -> None:
        """Push the new numbers to the plots, the graph overlay and the status line."""
        if not session.refresh(self.plots):
            return
        if session.recorder.latest is not None:
            site = self._inspected_site()
            if site is not None:
                session.show_latest_pass(self.plots, site)
            self.graph.set_flows(session.recorder.flows(self.graph.view))
        self.progress.value = min(progress, self.progress.max)
        self.status.value = session.status_line()

    def _inspected_site(self) -> str | None:
        """The selected node's site, else the first sample site."""
        selected = self.graph.selected
        for node in self.graph.graph.get("nodes", []):
            if node.get("id") == selected and node.get("kind") in ("sample", "forward"):
                return node["site"]
        for node in self.graph.graph.get("nodes", []):
            if node.get("kind") == "sample":
                return node["site"]
        return None

    def _run_failed(self, err: BaseException) -> None:
        self.show_error(err)

    def _run_finished(self, stopped: bool) -> None:
        self._set_running(False)
        if self.runner.error is not None:
            self.status.value = "run stopped by an error (see above); fix it and run again"
        elif stopped:
            self.status.value += " · stopped"
        else:
            self.status.value += " · done"

