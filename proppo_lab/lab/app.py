"""The Lab: a program's graph, a palette, run controls and live plots in one widget.

    lab = pl.Lab(pl.systems.ChaoticRNN(beta=2.4), plan={"state": "TP"})
    lab            # in JupyterLab: click a node, pick a propagator, press Run

Runs happen on a background thread (:mod:`.runner`): plots refresh several
times a second, Stop takes effect within one iteration, and the notebook keeps
working meanwhile. Everything that can go wrong in a run (a propagator raising,
a non-finite message) is shown in the banner and on the graph; the kernel
survives and the run can be started again.

This module lays the Lab out and wires its controls (made and checked in
:mod:`.controls`) to what they do. The plan lives in a
:class:`~.plan_editor.PlanEditor` (``lab.editor``); run, step, compare and
what each refresh shows in :mod:`.runs` (a mixin of the Lab), one run's loop and
plots in :mod:`.session`, plan files and scripts in :mod:`.script`, function
programs in :mod:`.program`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import ipywidgets as widgets
import torch
import traitlets

from .. import trace
from ..core import registry
from ..core.errors import PropagationError
from ..core.plan import Plan
from . import layout, script
from .controls import Controls
from .devices import list_devices
from .graph_widget import GraphWidget
from .plan_editor import PlanEditor
from .plots import LivePlots
from .program import as_program, particle_count
from .runner import Runner
from .runs import LabRuns
from .session import Session


class Lab(LabRuns, widgets.VBox):
    """The interactive environment around one program.

    ``program``: a :class:`proppo_lab.systems.System` or a function
    ``program(pm)`` (then ``params`` names the tensors it learns; a
    ``particles`` argument is passed when the function takes one).
    ``plan``/``default``: the starting plan. ``particles``, ``device``:
    where and how wide to run; ``device`` defaults to the program's.
    ``process_group``: a ``torch.distributed`` group whose ranks run the same
    program in step, each with ``particles`` of its own (:class:`~proppo_lab.ShardedManager`);
    the status line then says how many ranks and particles take part.
    ``lab.presentation = True`` (or the Presentation toggle) enlarges it for a projector.
    ``publish``: plans (propagator names or plan dicts) whose runs an exported page
    carries, so that a reader can switch between them without a kernel (:mod:`.publish`).
    """

    presentation = traitlets.Bool(False, help="bigger fonts, graph and plots full width")

    def __init__(
        self,
        program,
        params: Mapping[str, torch.Tensor] | None = None,
        plan: Mapping | Plan | None = None,
        *,
        particles: int | None = None,
        device: str | None = None,
        default: str = "RP",
        iterations: int = 50,
        seed: int = 0,
        lr: float = 0.0,
        view: str = "rolled",
        refresh: float = 0.2,
        process_group=None,
        publish: Sequence[str | Mapping] = (),
    ):
        self.runner = Runner(on_error=self._run_failed, on_finish=self._run_finished)
        self.program = as_program(program, params, particles)
        if particles is not None:
            self._set_particles(particles)
        if device is not None:
            self.program.to(device)
        self.default = default
        self.refresh = refresh
        self.process_group = process_group
        #: plans precomputed for an exported page; checked now, run at export
        self.publish_plans = [p if isinstance(p, str) else Plan.from_dict(p) for p in publish]
        for name in (p for p in self.publish_plans if isinstance(p, str)):
            registry.get(name)  # an unknown name fails here, not in the export
        # published runs start where the Lab starts (Compare and Run may train the program)
        self._start_params = (
            {k: p.detach().clone() for k, p in self.program.params.items()} if publish else None
        )
        self.plots = LivePlots()
        self.rows: list[dict] = []  # one per iteration: label, iteration, grads, loss
        self._sessions: list[Session] = []
        #: plans saved or loaded through plan files, by file name: compare offers them too
        self.saved_plans: dict[str, Plan] = {}

        self.graph_source = trace.capture(self.program, plan, default)
        #: the one home of the plan: the graph, assign(), plan files and runs use it
        self.editor = PlanEditor.for_source(self.graph_source, plan)
        self.graph = GraphWidget(self.graph_source, view=view, editor=self.editor)
        # flows are keyed by the drawn view's ids: re-key them when the view changes
        self.graph.observe(lambda _: self._guard(self._show_recorded), "view")
        self._build_controls(iterations, seed, lr)
        self._unsubscribe = registry.subscribe(self._registry_changed)  # held weakly
        # closing the graph's error banner closes the Lab's too (the graph forgets its own)
        self.graph.on_dismiss(lambda: self._guard(self.clear_error))
        self.presentation_toggle = layout.presentation_toggle()
        widgets.link((self, "presentation"), (self.presentation_toggle, "value"))
        self._figure_sizes = layout.FigureSizes(self.plots.figures)
        super().__init__(
            [
                self.banner,
                *layout.arrange(
                    self.graph, self.controls, self.status, self.presentation_toggle, self.plot_grid
                ),
            ]
        )
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

    # -- controls -----------------------------------------------------------
    def _build_controls(self, iterations: int, seed: int, lr: float) -> None:
        devices = list_devices()
        device = str(self.program.device)
        shown, note = self._particles_shown()
        self.controls = Controls(
            iterations=iterations,
            seed=seed,
            lr=lr,
            particles=shown,
            particles_note=note,
            device=device if device in dict(devices).values() else "cpu",
            devices=devices,
            compare=self._compare_choices(),
            compare_default=("RP", "LR", "TP"),
        )
        c = self.controls
        # the widgets stay reachable as lab.iterations, lab.run_button ... (scripts drive them)
        for name in (
            "run_button",
            "stop_button",
            "step_button",
            "iterations",
            "particles",
            "seed",
            "device",
            "lr",
            "compare_button",
            "plan_path",
            "save_button",
            "load_button",
            "code",
            "code_button",
            "progress",
        ):
            setattr(self, name, getattr(c, name))
        for b, handler in (
            (c.run_button, self.run),
            (c.stop_button, self.stop),
            (c.step_button, self.step),
            (c.compare_button, self.compare),
            (c.save_button, lambda: self.save_plan(c.plan_path.value)),
            (c.load_button, lambda: self.load_plan(c.plan_path.value)),
            (c.code_button, lambda: setattr(c.code, "value", self.to_python())),
        ):
            b.on_click(lambda _, handler=handler: self._guard(handler))
        c.particles.observe(lambda ch: self._guard(self._particles_typed, ch["new"]), "value")
        c.device.observe(lambda ch: self._guard(self._set_device, ch["new"]), "value")
        self.banner = widgets.HTML("")
        self.banner.add_class("pl-banner")
        self.status = widgets.HTML("ready")
        self.status.add_class("pl-status")
        self.plot_grid = widgets.GridBox(
            self.plots.shown(),
            layout=widgets.Layout(
                grid_template_columns="repeat(auto-fill, minmax(470px, 1fr))", width="100%"
            ),
        )
        self._set_running(False)

    def _particles_shown(self) -> tuple[int | None, str | None]:
        """The particles field's value, and why it cannot be edited (None: it can)."""
        if getattr(self.program, "particles", None) is not None:
            return int(self.program.particles), None
        return particle_count(self.graph_source), "set by the program"

    def _compare_choices(self) -> list[str]:
        """'current', the saved plans, and every registered propagator that can serve
        the sample nodes."""
        kinds = {self.editor.kind(site) for site in self.editor.sites}
        return ["current", *self.saved_plans] + [
            e.name for e in registry.entries() if "sample" in e.kinds and "sample" in kinds
        ]

    def _remember(self, name: str, plan: Plan) -> None:
        self.saved_plans[name] = plan
        self.controls.set_compare_choices(self._compare_choices())

    def _registry_changed(self) -> None:
        """A propagator was registered or removed: refresh the compare toggles (the
        graph widget refreshes its palette and legend itself)."""
        self.controls.set_compare_choices(self._compare_choices())

    def _set_running(self, running: bool) -> None:
        self.controls.set_running(running, getattr(self.program, "particles", None) is not None)

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
        self.banner.value = (
            f"<div class='pl-error' style='background:#fde8e8;color:#8a1c1c;"
            f"padding:6px 10px;border-left:4px solid #d62728'>"
            f"{html.escape(text)}</div>"
        )

    def clear_error(self) -> None:
        self.banner.value = ""
        self.graph.clear_error()

    # -- the plan -----------------------------------------------------------
    @property
    def plan(self) -> Plan:
        return self.editor.plan

    def set_plan(self, plan: Mapping | Plan) -> None:
        self.editor.set_plan(plan)

    def assign(
        self,
        site: str,
        propagator: str,
        options: Mapping | None = None,
        instance: int | None = None,
    ) -> None:
        """Assign from Python with the same checks as a click (PlanError when refused).

        A run in progress picks the new plan up before its next iteration."""
        self.editor.assign(site, propagator, options, instance)

    def save_plan(self, path: str | Path) -> Path:
        path = script.save_plan(self.plan, path)
        self._remember(path.name, self.plan)
        self.status.value = f"plan saved to {html.escape(str(path))}"
        return path

    def load_plan(self, path: str | Path) -> Plan:
        plan = script.load_plan(self.editor, path)
        self._remember(Path(path).name, plan)
        self.status.value = f"plan loaded from {html.escape(str(path))}"
        return plan

    def to_python(self) -> str:
        """A script that reproduces the current set-up outside Jupyter."""
        c = self.controls
        return script.script(
            self.program,
            self.plan,
            self.default,
            c.value("iterations"),
            int(c.seed.value),
            c.value("lr"),
        )

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

    def _particles_typed(self, n: int) -> None:
        # an out-of-range number shows its inline error and is not used
        if self.controls.problem("particles") is None and n != self.program.particles:
            self._set_particles(n)

    def _set_device(self, device: str) -> None:
        if self.runner.running:
            raise RuntimeError("stop the run before changing the device")
        self.program.to(device)
        self._recapture()
        self.status.value = f"now running on {html.escape(device)}"

    def _recapture(self) -> None:
        self.graph_source = trace.capture(self.program, self.plan, self.default)
        self.graph.set_source(self.graph_source)

    # -- the graph's overlay --------------------------------------------------
    @property
    def overlay(self) -> str:
        """The live metric colouring the graph's nodes ('' = by propagator), e.g.
        ``lab.overlay = "grad norm"``; see :data:`proppo_lab.lab.overlay.METRICS`."""
        return self.graph.overlay_metric

    @overlay.setter
    def overlay(self, name: str) -> None:
        self.graph.overlay_metric = name
