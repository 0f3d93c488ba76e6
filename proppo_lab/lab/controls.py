"""The Lab's controls: the widgets, what they say, and which values they accept.

:class:`Controls` is the box beside the graph. It makes every button and
field with a label and a tooltip that say what it is, checks the numbers a
person types (an out-of-range value shows an inline error beside its field
and is not used; nothing is clamped silently), and shows a run's progress as
a bar with its count, time and ETA. What the buttons *do* is wired by the Lab
(:mod:`.app`); nothing here runs anything.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable, Iterable, Sequence

import ipywidgets as widgets

from ..trace.progress import describe

Check = Callable[[float], "str | None"]

#: one label width for every field, wide enough for "learning rate" (ipywidgets cuts at 80 px)
_LABEL = {"description_width": "96px"}


def _at_least(low: int, why: str = "") -> Check:
    def check(value):
        if value < low:
            return f"at least {low}{why}, got {value}"
        return None

    return check


def _learning_rate(value):
    if not math.isfinite(value) or value < 0:
        return f"a number ≥ 0 (0 only estimates), got {value}"
    return None


class Field:
    """A number box and its inline error; :meth:`value` is the number only when valid."""

    def __init__(self, box: widgets.ValueWidget, check: Check, note: str = ""):
        self.box = box
        self.check = check
        self.note = note  # shown when there is no error (grey)
        self.error = widgets.HTML("", layout=widgets.Layout(width="auto"))
        self.error.add_class("pl-field-error")
        self.row = widgets.HBox([box, self.error])
        box.observe(lambda _: self.show(), "value")
        self.show()

    @property
    def problem(self) -> str | None:
        """What is wrong with the typed value, None when it can be used."""
        return self.check(self.box.value)

    def show(self) -> None:
        problem = self.problem
        text, colour = (self.note, "#666") if problem is None else (problem, "#b00020")
        self.error.value = (
            f"<span style='color:{colour}'>{html.escape(text)}</span>" if text else ""
        )

    def value(self):
        """The typed value; ValueError (naming the field) when it is out of range."""
        problem = self.problem
        if problem is not None:
            raise ValueError(f"{self.box.description}: {problem}")
        return self.box.value


def _button(text: str, icon: str, style: str, cls: str, tip: str) -> widgets.Button:
    b = widgets.Button(
        description=text,
        icon=icon,
        button_style=style,
        tooltip=tip,
        layout=widgets.Layout(width="auto"),
    )
    b.add_class(cls)
    return b


class Controls(widgets.VBox):
    """Run buttons, settings, compare choices, plan file, script and progress.

    ``particles``: the program's setting (editable) or, with ``particles_note``,
    the count the program fixes itself (shown, disabled, with the note).
    ``compare``: the plans one may compare, ``compare_default`` those chosen.
    """

    def __init__(
        self,
        *,
        iterations: int,
        seed: int,
        lr: float,
        particles: int | None,
        particles_note: str | None,
        device: str,
        devices: Sequence[tuple[str, str]],
        compare: Sequence[str],
        compare_default: Iterable[str],
    ):
        self.run_button = _button(
            "Run", "play", "success", "pl-run", "run propagation for the given number of iterations"
        )
        self.stop_button = _button(
            "Stop", "stop", "danger", "pl-stop", "stop after the current iteration"
        )
        self.step_button = _button("Step", "step-forward", "", "pl-step", "run one iteration")

        self.iterations = widgets.IntText(
            value=iterations,
            description="iterations",
            style=_LABEL,
            tooltip="how many gradient estimates Run (and each plan of Compare) makes",
        )
        self.fields = {"iterations": Field(self.iterations, _at_least(1))}
        self.particles = widgets.IntText(
            value=particles or 0,
            description="particles",
            style=_LABEL,
            disabled=particles_note is not None,
            tooltip=particles_note
            or "samples drawn in parallel at each site; more "
            "particles, smaller variance, slower iterations",
        )
        self.fields["particles"] = (
            Field(self.particles, lambda _: None, note=particles_note)
            if particles_note
            else Field(self.particles, _at_least(2, " (baselines and variances need two)"))
        )
        self.seed = widgets.IntText(
            value=seed,
            description="seed",
            style=_LABEL,
            tooltip="iteration k of a run draws its random numbers with seed + k, so runs, "
            "steps and compared plans are reproducible",
        )
        self.device = widgets.Dropdown(
            options=list(devices),
            value=device,
            description="device",
            style=_LABEL,
            tooltip="where the program's tensors live and the estimates are computed",
        )
        self.lr = widgets.FloatText(
            value=lr,
            step=0.01,
            description="learning rate",
            style=_LABEL,
            tooltip="gradient-descent step: after each iteration every parameter moves by "
            "-learning rate × its gradient estimate; 0 only estimates",
        )
        self.fields["lr"] = Field(self.lr, _learning_rate)

        self.compare_label = widgets.HTML(
            "compare: <span style='color:#666'>toggle the plans to run side by side</span>"
        )
        self.compare_box = widgets.Box(layout=widgets.Layout(flex_flow="row wrap"))
        self.compare_box.add_class("pl-compare-choices")
        self.compare_toggles: dict[str, widgets.ToggleButton] = {}
        self.set_compare_choices(compare, compare_default)
        self.compare_button = _button(
            "Compare",
            "bar-chart",
            "info",
            "pl-compare",
            "run each chosen plan in turn with the same seeds and plot their variances together",
        )

        self.plan_path = widgets.Text(
            value="plan.json",
            description="plan file",
            style=_LABEL,
            tooltip="the JSON file Save writes and Load reads",
        )
        self.save_button = _button(
            "Save", "save", "", "pl-save-plan", "save the plan to the plan file"
        )
        self.load_button = _button(
            "Load", "folder-open", "", "pl-load-plan", "load the plan from the plan file"
        )
        self.code = widgets.Textarea(
            layout=widgets.Layout(width="100%", height="140px"),
            placeholder="'As Python' writes a script here",
            tooltip="a script that reproduces this set-up",
        )
        self.code_button = _button(
            "As Python", "code", "", "pl-as-python", "write a script that reproduces this set-up"
        )

        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=1,
            description="progress",
            style=_LABEL,
            tooltip="iterations done in this run",
            layout=widgets.Layout(flex="1 1 auto", min_width="120px"),
        )
        self.progress_text = widgets.Label(
            "", tooltip="done/total · time so far · estimated time left"
        )
        self.progress_text.add_class("pl-progress-text")
        self._started = time.monotonic()

        super().__init__(
            [
                widgets.HBox([self.run_button, self.stop_button, self.step_button]),
                self.fields["iterations"].row,
                self.fields["particles"].row,
                self.seed,
                self.device,
                self.fields["lr"].row,
                self.compare_label,
                self.compare_box,
                self.compare_button,
                self.plan_path,
                widgets.HBox([self.save_button, self.load_button, self.code_button]),
                self.code,
                widgets.HBox([self.progress, self.progress_text]),
            ],
            layout=widgets.Layout(width="340px", min_width="300px"),
        )
        self.add_class("pl-controls")

    # -- values ------------------------------------------------------------------------
    def value(self, name: str):
        """A checked field's value ("iterations", "particles", "lr"): ValueError if invalid."""
        return self.fields[name].value()

    def problem(self, name: str) -> str | None:
        return self.fields[name].problem

    # -- compare -----------------------------------------------------------------------
    def set_compare_choices(self, names: Sequence[str], chosen: Iterable[str] | None = None):
        """One toggle per plan name; keeps what was chosen unless ``chosen`` is given."""
        keep = set(self.chosen_plans() if chosen is None else chosen)
        self.compare_toggles = {
            name: widgets.ToggleButton(
                value=name in keep,
                description=name,
                layout=widgets.Layout(width="auto"),
                tooltip="the Lab's current plan"
                if name == "current"
                else f"every sample node served by {name}",
            )
            for name in names
        }
        self.compare_box.children = tuple(self.compare_toggles.values())

    def chosen_plans(self) -> list[str]:
        """The toggled plan names, in the order shown."""
        return [name for name, t in self.compare_toggles.items() if t.value]

    # -- state -------------------------------------------------------------------------
    def set_running(self, running: bool, particles_editable: bool) -> None:
        self.run_button.disabled = self.step_button.disabled = running
        self.compare_button.disabled = running
        self.stop_button.disabled = not running
        self.device.disabled = running
        self.particles.disabled = running or not particles_editable

    def start_progress(self, total: int) -> None:
        self.progress.max = max(1, int(total))
        self.progress.value = 0
        self.progress_text.value = f"0/{self.progress.max}"
        self._started = time.monotonic()

    def show_progress(self, done: int) -> None:
        """The bar and "37/200 · 4.1 s · eta 18 s" beside it."""
        self.progress.value = min(int(done), self.progress.max)
        self.progress_text.value = describe(
            self.progress.value, self.progress.max, time.monotonic() - self._started
        )
