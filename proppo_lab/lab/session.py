"""One plan's run in the Lab, and what it feeds the live plots.

A :class:`Session` holds a manager under one plan, its observers (message
recorder, forward check, loss meter) and its running statistics. Run and
Compare start new sessions; Step continues the last one; a plan edited during
a run starts a new *segment* (fresh statistics) in the same session.

Refreshing the plots is incremental: a session remembers how many of its
segment's points the plots already show and sends only the newer ones
(:meth:`Session.refresh`), reading the statistics with
:meth:`GradientStats.history(start) <proppo_lab.trace.GradientStats.history>`.
A refresh thus costs what was added since the last one, however long the run.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import torch

from .. import trace
from ..core import seeding
from ..core.errors import PropagationError
from ..core.manager import PropagationManager
from ..core.observer import Observer
from ..core.plan import Plan
from ..propagators.parts import Pathwise
from .memory_plot import show_memory
from .plots import LivePlots


class LossMeter(Observer):
    """Sums the mean cost of every loss node of one iteration (kept on the device)."""

    def __init__(self):
        self.total = None

    def node_created(self, node):
        if node.kind == "loss":
            # particles weighted by a coupled node upstream (Enumerate's outcomes by their
            # probability, MVD's evaluation points by 0) count as the estimate counts them
            value = node.weighted(node.inputs[0].detach()).mean()
            self.total = value if self.total is None else self.total + value

    def take(self):
        """The iteration's loss (a device tensor, None without loss nodes); starts over."""
        total, self.total = self.total, None
        return total


class Session:
    """A manager under one plan, its observers and statistics (see the module docstring)."""

    def __init__(self, label: str, pm: PropagationManager, graph: trace.Graph):
        self.label = self.segment = label
        self.pm = pm
        self.recorder = trace.Recorder(graph)
        self.check = trace.ForwardCheck(pm, lazy=True)
        self.meter = LossMeter()
        self._detach_meter = pm.observe(self.meter)
        self.stats = trace.GradientStats()
        self.memory = trace.PeakMemory()
        self.done = 0
        self._start_segment()

    def _start_segment(self) -> None:
        self._iterations: list[int] = []  # x of this segment's points
        self._losses: list = []  # loss tensors not yet plotted
        self._shown = 0  # points of this segment the plots show
        self._memory: list[tuple[int, dict]] = []  # measured iterations not yet plotted

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
        self._start_segment()

    def estimate(self, program, measured: bool) -> dict:
        """One iteration's estimate; ``measured``: its peak memory is recorded too."""
        if not measured:
            return self.pm.estimate(program)
        device = next((p.device for p in program.params.values()), None)
        with self.memory.measure(device) as record:
            grads = self.pm.estimate(program)
        self._memory.append((self.done, record))
        return grads

    def add(self, grads: dict) -> dict:
        """Take one iteration's estimate; returns its row for :attr:`Lab.rows`."""
        self.stats.update(grads)
        loss = self.meter.take()
        row = {"label": self.segment, "iteration": self.done, "grads": grads, "loss": loss}
        if self._memory and self._memory[-1][0] == self.done:
            row["memory"] = self._memory[-1][1]
        self._iterations.append(self.done)
        if loss is not None:
            self._losses.append(loss)
        self.done += 1
        return row

    def close(self) -> None:
        self.recorder.detach()
        self.check.detach()
        self._detach_meter()

    # -- the live plots ----------------------------------------------------------------
    def refresh(self, plots: LivePlots) -> bool:
        """Append this segment's new points to the per-iteration plots.

        False when the segment has no points yet (nothing to show)."""
        start, label = self._shown, self.segment
        xs = self._iterations[start:]
        if not xs:
            return bool(self._iterations)
        history = self.stats.history(start)
        with (
            plots.gradient.batch_update(),
            plots.variance.batch_update(),
            plots.loss.batch_update(),
        ):
            for name, h in history.items():
                n = len(h["grad"])
                plots.extend(
                    plots.gradient,
                    f"{label} · {name}",
                    xs[-n:] if n else [],
                    [_norm(g) for g in h["grad"]],
                    mode="lines+markers",
                )
                plots.extend(
                    plots.variance, f"{label} · {name}", xs[-n:] if n else [], h["variance"]
                )
            if self._losses:
                values = torch.stack([v.float() for v in self._losses]).cpu().tolist()
                plots.extend(plots.loss, label, xs[-len(values) :], values)
                self._losses = []
        if self._memory:
            with plots.memory.batch_update():
                show_memory(plots, label, *zip(*self._memory))
            self._memory = []
        self._shown = len(self._iterations)
        return True

    def show_latest_pass(self, plots: LivePlots, site: str) -> None:
        """Show the latest recorded pass at ``site``: one point per instance, or,
        when the site has one instance per pass (a program without loops), one
        point per iteration so that the series is a line."""
        label, recorder, iteration = self.segment, self.recorder, self.done - 1
        with plots.messages.batch_update(), plots.weights.batch_update():
            for kind in ("grad", "backprop"):
                x, y = recorder.series(site, kind)
                if x:
                    plots.show_pass(plots.messages, f"{label} · {site} {kind}", x, y, iteration)
                    break
            else:
                plots.note(plots.messages, f"no gradient messages recorded at '{site}' yet")
            x, parts = recorder.weight_series(site)
            if x and Pathwise.name in parts:
                plots.show_pass(
                    plots.weights, f"{label} · {site}", x, parts[Pathwise.name], iteration
                )

    def status_line(self) -> str:
        """HTML: the segment, its iteration count and each parameter's statistics."""
        parts = [
            f"{html.escape(name)}: mean {_fmt(s['mean'])} ± {_fmt(s['se'])}, "
            f"variance {_fmt(s['variance'])}"
            for name, s in self.stats.summary().items()
        ]
        line = f"<b>{html.escape(self.segment)}</b> · iteration {self.done}"
        shards = getattr(self.pm, "shards", None)  # a ShardedManager: its ranks take part
        if shards is not None:
            ranks = "rank" if shards.world == 1 else "ranks"
            line += f" · {shards.world} {ranks}, {self.pm.particles} particles"
        return line + " · " + "; ".join(parts)


def run_sessions(
    sessions: list[Session],
    iterations: int,
    program,
    *,
    seed: int,
    lr: float,
    refresh: float,
    live_plan: Callable[[], Plan] | None,
    record: Callable[[dict], None],
    publish: Callable[[Session, int], None],
    stopping: Callable[[], bool],
    every: int | None = None,
) -> None:
    """The Lab's run loop (on the runner's thread): each session in turn.

    ``live_plan()``, when given, is read before every iteration; a plan other
    than the session's starts a new segment. ``record(row)`` takes each
    iteration's row, ``publish(session, done)`` refreshes the display, at most
    every ``refresh`` seconds (or, with ``every``, at every ``every``-th iteration and
    the last: a published run records at the same iterations on any machine).
    ``lr > 0`` steps the parameters after each estimate; then every session starts
    from the parameters the first one started from (a comparison trains each plan
    from the same point), and the program keeps those the last one reached.
    """
    progress = 0
    initial = {k: p.detach().clone() for k, p in program.params.items()} if lr > 0 else {}
    for index, session in enumerate(sessions):
        if index and initial:
            with torch.no_grad():
                for name, value in initial.items():
                    program.params[name].copy_(value)
        due = 0.0  # when the plots are next refreshed
        for i in range(iterations):
            if stopping():
                publish(session, progress)
                return
            # plans are immutable and the editor swaps in a new one on each edit,
            # so "the plan changed" is "the editor holds another object"
            plan = live_plan() if live_plan is not None else None
            if plan is not None and plan is not session.pm.plan:
                publish(session, progress)
                session.new_segment(plan, f"after edit @{session.done}")
            # messages are recorded only for the iterations whose picture is shown
            if every:
                shown = i % every == 0 or i == iterations - 1
            else:
                shown = time.monotonic() >= due or i == iterations - 1
            session.record(shown)
            # iteration k of a run always uses seed + k: Step and Run agree, and
            # compared plans see common random numbers
            seeding.seed(seed + session.done)
            try:
                grads = session.estimate(program, measured=shown)
            except PropagationError as err:
                raise session.check.explain(err) from err
            if lr > 0:
                with torch.no_grad():
                    for name, p in program.params.items():
                        if name in grads:
                            p -= lr * grads[name]
            record(session.add(grads))
            progress += 1
            if shown:
                start = time.monotonic()
                publish(session, progress)
                # plots refresh several times a second, but never take more than
                # about 5 % of the run: a costly refresh spaces out the next one
                spent = time.monotonic() - start
                due = start + max(refresh, 20 * spent)


def _norm(values) -> float:
    """A gradient for plotting: the value of a scalar, the norm of a vector."""
    if isinstance(values, list):
        return float(sum(v * v for v in values) ** 0.5)
    return float(values)


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value[:4]) + (", …]" if len(value) > 4 else "]")
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)
