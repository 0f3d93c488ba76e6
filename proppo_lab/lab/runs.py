"""The Lab's runs: run, step, compare, stop, wait, and what each refresh shows.

A run is one or more :class:`~.session.Session` objects (compare runs one per
plan, with the same seeds) driven by :func:`~.session.run_sessions` on the
Lab's background :class:`~.runner.Runner`. Every refresh pushes the new points
to the plots, the latest recorded pass to the graph (flows and overlay values)
and a line to the status bar.

A mixin of :class:`~.app.Lab`, which provides ``program``, ``graph``,
``graph_source``, ``editor``, ``controls``, ``plots``, ``runner``, ``status``,
``default``, ``refresh``, ``rows`` and the error banner.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.manager import PropagationManager
from ..core.plan import Plan
from ..core.sharded import ShardedManager
from ..trace.compare import plan_and_default
from . import note_plots, overlay
from .session import Session, run_sessions


class LabRuns:
    """Runs started from the Lab's buttons or from Python (see the module docstring)."""

    _sessions: list[Session]

    def run(self, iterations: int | None = None, wait: bool = False) -> None:
        """A fresh run of ``iterations`` (default: the control's value) under the
        current plan; the plots start over."""
        n = self._iterations(iterations)
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

    def compare(
        self, plans: Sequence[str] | None = None, iterations: int | None = None, wait: bool = False
    ) -> None:
        """Run each plan in turn with the same seeds and plot their variances together.

        A propagator name means "every sample node uses it"; "current" is the graph's
        plan; a plan file's name (``plan.json``) is the plan last saved to or loaded from it.
        """
        names = list(plans if plans is not None else self.controls.chosen_plans())
        if not names:
            raise ValueError("choose at least one plan to compare")
        saved = {"current": self.plan, **self.saved_plans}
        sessions = [
            self._session(name, saved[name], self.default)
            if name in saved
            else self._session(name, *plan_and_default(name, self.default))
            for name in names
        ]
        n = self._iterations(iterations)
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

    def _iterations(self, given: int | None) -> int:
        """The iterations to run: ``given``, else the field's (ValueError when < 1)."""
        if given is None:
            return int(self.controls.value("iterations"))
        if int(given) < 1:
            raise ValueError(f"iterations: at least 1, got {given}")
        return int(given)

    def _session(self, label: str, plan: Plan, default: str) -> Session:
        kwargs = dict(plan=plan, default=default, sites=self.graph_source.sites)
        if self.process_group is None:
            pm = PropagationManager(**kwargs)
        else:  # the particles are split over the group's ranks
            pm = ShardedManager(process_group=self.process_group, **kwargs)
        return Session(label, pm, self.graph_source)

    def _start(
        self, sessions: list[Session], iterations: int, live_plan: bool, fresh: bool = True
    ) -> None:
        if self.runner.running:
            raise RuntimeError("a run is already in progress; press Stop first")
        seed, lr = int(self.controls.seed.value), float(self.controls.value("lr"))
        self.clear_error()
        if fresh:
            for old in self._sessions:
                old.close()
            self._sessions = sessions
            self.rows = []
            self.plots.reset()
            self.plot_grid.children = tuple(self.plots.shown())
        self.controls.start_progress(iterations * len(sessions))
        self._set_running(True)
        self.status.value = "running…"
        plan = (lambda: self.editor.plan) if live_plan else None
        self.runner.start(
            lambda stopping: run_sessions(
                sessions,
                iterations,
                self.program,
                seed=seed,
                lr=lr,
                refresh=self.refresh,
                live_plan=plan,
                record=self.rows.append,
                publish=self._publish,
                stopping=stopping,
            )
        )

    def _publish(self, session: Session, progress: int) -> None:
        """Push the new numbers to the plots, the graph overlay and the status line."""
        if not session.refresh(self.plots):
            return
        if session.recorder.latest is not None:
            site = self._inspected_site()
            if site is not None:
                session.show_latest_pass(self.plots, site)
            note_plots.show(
                self.plots,
                session.segment,
                session.recorder.latest,
                session.recorder.latest_iteration,
            )
            self._show_recorded(session)
        shown = tuple(self.plots.shown())
        # a memory or note plot got its first data (compared by identity: see LivePlots.occasional)
        if list(map(id, shown)) != list(map(id, self.plot_grid.children)):
            self.plot_grid.children = shown
        self.controls.show_progress(progress)
        self.status.value = session.status_line()

    def _show_recorded(self, session: Session | None = None) -> None:
        """The latest recorded pass on the graph (flows, overlay values), keyed by the
        drawn view's ids: hence also called when the view changes."""
        session = session or (self._sessions[-1] if self._sessions else None)
        recorder = session.recorder if session is not None else None
        if recorder is None or recorder.latest is None:
            return
        self.graph.set_flows(recorder.flows(self.graph.view))
        self.graph.set_overlay_values(
            overlay.instance_values(recorder.latest), recorder.latest_iteration
        )

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
