"""The Lab: a program's graph, a palette, run controls and live plots in one widget.

    lab = pl.Lab(pl.systems.ChaoticRNN(beta=2.4), plan={"state": "TP"})
    lab            # in JupyterLab: click a node, pick a propagator, press Run

Runs happen on a background thread (:mod:`.runner`): plots refresh several
times a second, Stop takes effect within one iteration, and the notebook keeps
working meanwhile. Everything that can go wrong in a run (a propagator raising,
a non-finite message) is shown in the banner and on the graph; the kernel
survives and the run can be started again.
"""
from __future__ import annotations

import html
import inspect
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets
import torch

from .. import trace
from ..core import registry
from ..core.errors import PlanError, PropagationError
from ..core.manager import PropagationManager
from ..core import seeding
from ..core.plan import Plan
from ..systems.base import System
from ..trace.compare import plan_and_default
from .devices import list_devices
from .graph_widget import GRAPH_MIME, GraphWidget
from .plots import LivePlots
from .runner import Runner


class FunctionProgram(System):
    """Wraps a plain ``program(pm)`` function and the tensors it learns."""

    def __init__(self, fn: Callable, params: Mapping[str, torch.Tensor] | None = None,
                 particles: int | None = None):
        super().__init__(params or {})
        self.fn = fn
        self.takes_particles = "particles" in inspect.signature(fn).parameters
        self.particles = particles
        self.sites = ()

    def __call__(self, pm):
        for name, value in self.params.items():
            pm.param(name, value)
        if self.takes_particles and self.particles is not None:
            self.fn(pm, particles=self.particles)
        else:
            self.fn(pm)

    def __repr__(self):
        return getattr(self.fn, "__name__", "program")


class _LossMeter:
    """Observer summing the mean cost of every loss node of one iteration."""

    def __init__(self, pm):
        self.total = None
        self.detach = pm.observe(self)

    def node_created(self, node):
        if node.kind == "loss":
            value = node.inputs[0].detach().mean()
            self.total = value if self.total is None else self.total + value

    def take(self):
        total, self.total = self.total, None
        return total


class _Session:
    """One plan's run in the Lab: its manager, observers and statistics.

    Run and Compare start new sessions; Step continues the last one. A plan
    edited during a run starts a new segment (fresh statistics) in the session.
    """

    def __init__(self, label: str, pm: PropagationManager, recorder, check, meter):
        self.label = self.segment = label
        self.pm, self.recorder, self.check, self.meter = pm, recorder, check, meter
        self.stats = trace.GradientStats()
        self.done = 0

    def record(self, on: bool) -> None:
        """Record messages (and watch gradients through RP nodes) in the next iteration."""
        if on and not self.recorder.attached:
            self.recorder.attach(self.pm)
        elif not on and self.recorder.attached:
            self.recorder.detach()
        self.pm.watch_grads = on

    def new_segment(self, plan: Plan, segment: str) -> None:
        self.pm.set_plan(plan)
        self.stats = trace.GradientStats()
        self.segment = segment

    def close(self) -> None:
        self.recorder.detach()
        self.check.detach()
        self.meter.detach()


def _scalar(values) -> float:
    """A gradient for plotting: the value of a scalar, the norm of a vector."""
    if isinstance(values, list):
        return float(sum(v * v for v in values) ** 0.5)
    return float(values)


class Lab(widgets.VBox):
    """The interactive environment around one program.

    ``program``: a :class:`proppo_lab.systems.System` or a function
    ``program(pm)`` (then ``params`` names the tensors it learns; a
    ``particles`` argument is passed when the function takes one).
    ``plan``/``default``: the starting plan. ``particles``, ``device``:
    where and how wide to run; ``device`` defaults to the program's.
    """

    def __init__(self, program, params: Mapping[str, torch.Tensor] | None = None,
                 plan: Mapping | Plan | None = None, *, particles: int | None = None,
                 device: str | None = None, default: str = "RP", iterations: int = 50,
                 seed: int = 0, lr: float = 0.0, view: str = "rolled",
                 refresh: float = 0.2):
        self.runner = Runner(on_error=self._run_failed, on_finish=self._run_finished)
        self.program = program if isinstance(program, System) else \
            FunctionProgram(program, params, particles)
        if particles is not None:
            self._set_particles(particles)
        if device is not None:
            self.program.to(device)
        self.default = default
        self.refresh = refresh
        self.plots = LivePlots()
        self.rows: list[dict] = []          # one per iteration: label, iteration, grads, loss
        self._sessions: list[_Session] = []
        self._pending_plan: Plan | None = None
        self._lock = threading.Lock()

        self.graph_source = trace.capture(self.program, plan, default)
        self.graph = GraphWidget(self.graph_source, plan, view=view)
        self.graph.on_plan_change(self._plan_changed)
        self._build_controls(iterations, seed, lr)
        super().__init__([self.banner, widgets.HBox([self.graph, self.controls],
                                                    layout=widgets.Layout(width="100%")),
                          self.status, self.plot_grid])
        self.add_class("pl-lab")

    def _repr_mimebundle_(self, **kwargs):
        """The live Lab plus its graph as SVG, so that a notebook saved with
        outputs still shows the graph when reopened without a kernel (the
        extension's renderer falls back to the picture when no model is live)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if not bundle:
            return bundle
        svg = self.graph.static_svg()
        if svg:
            bundle["image/svg+xml"] = svg
            bundle[GRAPH_MIME] = {"version": 1, "view": self.graph.view, "model_id": self.model_id,
                                  "nodes": sorted(n["id"] for n in self.graph.graph.get("nodes", []))}
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
        return self.graph.current_plan

    def set_plan(self, plan: Mapping | Plan) -> None:
        self.graph.set_plan(plan)

    def assign(self, site: str, propagator: str, options: Mapping | None = None,
               instance: int | None = None) -> None:
        """Assign from Python exactly as a click would (same validation)."""
        ok = self.graph.handle_message({"action": "assign", "site": site, "instance": instance,
                                        "propagator": propagator, "options": dict(options or {})})
        if not ok:
            raise PlanError(self.graph.error.get("message", "assignment refused"))

    def _plan_changed(self, plan: Plan) -> None:
        with self._lock:
            self._pending_plan = plan  # the running loop picks it up between iterations

    def save_plan(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.plan.to_json() + "\n")
        self.status.value = f"plan saved to {html.escape(str(path))}"
        return path

    def load_plan(self, path: str | Path) -> Plan:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise PlanError(f"cannot read plan file {path}: {err.strerror}") from None
        plan = Plan.from_json(text)
        self.set_plan(plan)
        self.status.value = f"plan loaded from {html.escape(str(path))}"
        return plan

    def to_python(self) -> str:
        """A script that reproduces the current set-up outside Jupyter."""
        plan = json.dumps(self.plan.to_dict(), indent=4, sort_keys=True)
        program = repr(self.program)
        if not program.startswith("pl."):
            program = f"{program}  # your program(pm) function"
        lines = [
            "import torch",
            "import proppo_lab as pl",
            "",
            f"program = {program}",
        ]
        if isinstance(self.program, System) and not isinstance(self.program, FunctionProgram):
            lines.append(f"program.to({str(self.program.device)!r})")
        lines += [
            f"plan = {plan}",
            f"pm = pl.PropagationManager(plan=plan, default={self.default!r})",
            f"for i in range({self.iterations.value}):",
            f"    torch.manual_seed({self.seed.value} + i)",
            "    grads = pm.estimate(program)",
        ]
        if self.lr.value > 0:
            lines += ["    with torch.no_grad():",
                      "        for name, p in program.params.items():",
                      f"            p -= {self.lr.value} * grads[name]"]
        lines.append("    print(i, {k: v.tolist() for k, v in grads.items()})")
        return "\n".join(lines) + "\n"

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

    def _session(self, label: str, plan: Plan, default: str) -> "_Session":
        pm = PropagationManager(plan=plan, default=default, sites=self.graph_source.sites)
        return _Session(label, pm, trace.Recorder(self.graph_source),
                        trace.ForwardCheck(pm, lazy=True), _LossMeter(pm))

    def _start(self, sessions: list["_Session"], iterations: int, live_plan: bool,
               fresh: bool = True) -> None:
        if self.runner.running:
            raise RuntimeError("a run is already in progress; press Stop first")
        self.clear_error()
        with self._lock:
            self._pending_plan = None  # the run starts from the current plan anyway
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
        self.runner.start(lambda stopping: self._job(stopping, sessions, iterations, live_plan))

    def _job(self, stopping, sessions: list["_Session"], iterations: int,
             live_plan: bool) -> None:
        seed = int(self.seed.value)
        lr = float(self.lr.value)
        progress = 0
        for session in sessions:
            due = 0.0   # when the plots are next refreshed
            for i in range(iterations):
                if stopping():
                    self._publish(session, progress)
                    return
                if live_plan:
                    with self._lock:
                        pending, self._pending_plan = self._pending_plan, None
                    if pending is not None:  # a click during the run: a new segment
                        self._publish(session, progress)
                        session.new_segment(pending, f"after edit @{session.done}")
                # messages are recorded only for the iterations whose picture is shown
                publish = time.monotonic() >= due or i == iterations - 1
                session.record(publish)
                # iteration k of a run always uses seed + k: Step and Run agree, and
                # compared plans see common random numbers
                seeding.seed(seed + session.done)
                try:
                    grads = session.pm.estimate(self.program)
                except PropagationError as err:
                    raise session.check.explain(err) from err
                if lr > 0:
                    with torch.no_grad():
                        for name, p in self.program.params.items():
                            if name in grads:
                                p -= lr * grads[name]
                session.stats.update(grads)
                self.rows.append({"label": session.segment, "iteration": session.done,
                                  "grads": grads, "loss": session.meter.take()})
                session.done += 1
                progress += 1
                if publish:
                    start = time.monotonic()
                    self._publish(session, progress)
                    # plots refresh several times a second, but never take more than
                    # about 5 % of the run: a costly refresh spaces out the next one
                    spent = time.monotonic() - start
                    due = start + max(self.refresh, 20 * spent)

    def _publish(self, session: "_Session", progress: int) -> None:
        """Push the latest numbers to the plots, the graph overlay and the status line."""
        label, stats, recorder = session.segment, session.stats, session.recorder
        rows = [r for r in self.rows if r["label"] == label]
        if not rows:
            return
        xs = [r["iteration"] for r in rows]
        history = stats.history()
        plots = self.plots
        with plots.gradient.batch_update(), plots.variance.batch_update(), \
                plots.loss.batch_update():
            for name, h in history.items():
                n = len(h["grad"])
                plots.set_series(plots.gradient, f"{label} · {name}", xs[-n:],
                                 [_scalar(g) for g in h["grad"]], mode="lines+markers")
                plots.set_series(plots.variance, f"{label} · {name}", xs[-n:], h["variance"])
            losses = [r["loss"] for r in rows]
            if losses and losses[0] is not None:
                values = torch.stack([v.detach().float().cpu() for v in losses]).tolist()
                plots.set_series(plots.loss, label, xs, values)
        if recorder.latest is not None:
            site = self._inspected_site()
            if site is not None:
                with plots.messages.batch_update(), plots.weights.batch_update():
                    for kind in ("grad", "backprop"):
                        x, y = recorder.series(site, kind)
                        if x:
                            plots.set_series(plots.messages, f"{label} · {site} {kind}", x, y)
                            break
                    x, parts = recorder.weight_series(site)
                    if x and "Pathwise" in parts:
                        plots.set_series(plots.weights, f"{label} · {site}", x, parts["Pathwise"],
                                         mode="lines+markers")
            self.graph.set_flows(recorder.flows(self.graph.view))
        self.progress.value = min(progress, self.progress.max)
        summary = stats.summary()
        parts = [f"{html.escape(name)}: mean {_fmt(s['mean'])} ± {_fmt(s['se'])}, "
                 f"variance {_fmt(s['variance'])}" for name, s in summary.items()]
        self.status.value = (f"<b>{html.escape(label)}</b> · iteration {session.done} · "
                             + "; ".join(parts))

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


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value[:4]) + (", …]" if len(value) > 4 else "]")
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)
