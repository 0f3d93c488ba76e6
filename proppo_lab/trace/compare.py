"""One program under several plans: gradient estimates side by side.

Why common random numbers: the question is "which plan gives the better
gradient on *this* program", so differences between plans should not be
drowned by differences in luck. Iteration ``i`` reseeds the generator with
``seed + i`` before each plan's estimate, so every plan sees the same noise
wherever it draws in the same way (RP and LR differ in how they draw, so CRN
holds exactly only between plans that draw alike; it never biases anything).

Statistics run through :class:`GradientStats` (Welford on the device); the
result holds a tidy table (one row per plan, parameter and iteration), a
summary (mean, standard error, variance with a chi-square interval, SNR) and
any non-finite report, and makes plotly figures.

Since each plan's estimates depend only on the seeds, plans can run apart:
with ``executor=`` each plan is a cell on a process pool or cluster
(:mod:`.cells`) and the result is the one a serial call gives.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core import seeding
from ..core.errors import PropagationError
from ..core.manager import PropagationManager
from ..core.plan import Plan
from .cells import DEFAULT_TIMEOUT, Cell, run_cells
from .checks import ForwardCheck, gradient_report, report
from .reference import Reference, bias_columns, resolve
from .welford import GradientStats


def statistics_row(s: Mapping[str, Any]) -> dict:
    """The columns of a table row from one parameter's summary (see GradientStats.summary)."""
    return {
        "n": s["n"],
        "mean": s["mean"],
        "se": s["se"],
        "variance": s["variance"],
        "ci_low": s["variance_ci"][0],
        "ci_high": s["variance_ci"][1],
    }


def plan_and_default(spec: Any, default: Any) -> tuple[Plan, Any]:
    """A plan value in ``plans``: a plan (dict/Plan), or a propagator name meaning
    "every sample site uses it" (``"TP"``)."""
    if isinstance(spec, str):
        return Plan(), spec
    return Plan.from_dict(spec), default


def plan_json(spec: Any) -> Any:
    return spec if isinstance(spec, str) else Plan.from_dict(spec).to_dict()


@dataclass
class Comparison:
    """What :func:`compare` found."""

    plans: dict[str, Any]
    iterations: int
    seed: int
    summary: dict[str, dict[str, dict]]  # plan -> param -> statistics
    history: dict[str, dict[str, dict[str, list]]]  # plan -> param -> grad / variance lists
    errors: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    reference: Reference | None = None

    @property
    def incomplete(self) -> set[str]:
        """Plans that stopped on an error: their statistics cover fewer iterations."""
        return {e["plan"] for e in self.errors if e.get("plan") in self.plans}

    @property
    def rows(self) -> list[dict]:
        """Tidy table: one row per plan, parameter and iteration."""
        out = []
        for plan, params in self.history.items():
            for param, h in params.items():
                for i, g in enumerate(h["grad"]):
                    out.append({"plan": plan, "param": param, "iteration": i, "grad": g})
        return out

    def table(self) -> list[dict]:
        """Summary as rows: plan, param, n, mean, se, variance, ci_low, ci_high,
        snr, complete; with a reference also reference, bias, z, max_abs_z, mse
        and cost_mse (see :mod:`.reference`).

        A plan that stopped on an error is marked ``complete=False`` and its SNR
        is NaN, so that a ranking by SNR never puts it first on the strength of
        the iterations before its failure.
        """
        out = []
        for plan, params in self.summary.items():
            complete = plan not in self.incomplete
            for param, s in params.items():
                row = {"plan": plan, "param": param, **statistics_row(s)}
                row["snr"] = s["snr"] if complete else math.nan
                row["complete"] = complete
                if self.reference is not None and s["n"]:
                    per_estimate = self.seconds.get(plan, 0.0) / s["n"]
                    row.update(bias_columns(s, self.reference, param, per_estimate))
                out.append(row)
        return out

    def to_dict(self) -> dict:
        return {
            "plans": {k: plan_json(v) for k, v in self.plans.items()},
            "iterations": self.iterations,
            "seed": self.seed,
            "summary": self.summary,
            "history": self.history,
            "errors": self.errors,
            "seconds": self.seconds,
            "incomplete": sorted(self.incomplete),
        }

    # figures (plotly), see figures.py
    def variance_figure(self, param: str | None = None):
        from .figures import variance_figure

        return variance_figure(self, param)

    def final_variance_figure(self, param: str | None = None):
        from .figures import final_variance_figure

        return final_variance_figure(self, param)

    def mean_figure(self, param: str | None = None):
        from .figures import mean_figure

        return mean_figure(self, param)


def compare(
    program: Callable[[PropagationManager], Any],
    plans: Mapping[str, Any],
    iterations: int,
    seed: int = 0,
    default: Any = "RP",
    *,
    check: bool = False,
    on_error: str = "record",
    confidence: float = 0.95,
    progress: Callable[[int, int, str], None] | None = None,
    stop: Callable[[], bool] | None = None,
    observers: Mapping[str, list] | None = None,
    spread: bool = False,
    executor: Any = None,
    reference: Any = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    **manager_kwargs,
) -> Comparison:
    """Run ``program`` for ``iterations`` gradient estimates under each plan.

    ``plans``: name -> plan (dict or Plan) or propagator name. ``check=True``
    also checks forward values as nodes are created (:class:`ForwardCheck`).
    A non-finite value stops that plan and is reported in ``errors`` with its
    site, instance, propagator and iteration (``on_error="raise"`` re-raises).
    ``progress(done, total, text)`` is called after every estimate; ``stop()``
    returning True ends the run early (what has been computed is kept).
    ``observers``: plan name -> extra observers (e.g. a Recorder) to attach.
    ``spread=True`` also records, per iteration, the variance of the
    per-particle shares of each gradient (costs two autograd calls per
    gradient term); ``spread / particles`` predicts the estimate's variance
    (``spread / groups`` under a coupled propagator: a group is one sample).
    ``executor``: run each plan as a cell on it (see :mod:`.cells`; ``program``
    must then pickle); ``progress`` advances a plan at a time, and
    ``observers`` cannot be used (they would watch on the workers);
    ``timeout``: seconds a plan may run there, and the executor may have no
    workers or progress, before :class:`~.cells.CellTimeout` names the plan
    (None: no limit; see :func:`~.cells.run_cells`).
    ``reference``: an exact gradient (mapping), ``"analytic"``, a callable, or
    :meth:`Reference.run`; the table then also has each plan's bias, its
    z-score, MSE and cost-normalised MSE (:mod:`.reference`).
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    if not plans:
        raise ValueError("compare needs at least one plan")
    if "sites" not in manager_kwargs and getattr(program, "sites", None):
        manager_kwargs["sites"] = program.sites
    if reference is not None:
        ref = resolve(reference, program)
        result = compare(
            program,
            plans,
            iterations,
            seed,
            default,
            check=check,
            on_error=on_error,
            confidence=confidence,
            progress=progress,
            stop=stop,
            observers=observers,
            spread=spread,
            executor=executor,
            timeout=timeout,
            **manager_kwargs,
        )
        return dataclasses.replace(result, reference=ref)
    if executor is not None:
        if observers:
            raise ValueError("compare: observers cannot watch plans run on an executor")
        options = dict(check=check, on_error=on_error, confidence=confidence, spread=spread)
        return _compare_apart(
            executor,
            program,
            plans,
            iterations,
            seed,
            default,
            progress,
            stop,
            timeout,
            {**options, **manager_kwargs},
        )
    # observers (the forward checks, the caller's) watch only while this call runs
    with ExitStack() as attached:
        managers, stats, flags = {}, {}, {}
        for name, spec in plans.items():
            plan, dflt = plan_and_default(spec, default)
            pm = managers[name] = PropagationManager(plan=plan, default=dflt, **manager_kwargs)
            pm.per_particle = spread
            stats[name] = GradientStats()
            flags[name] = []
            watching = list((observers or {}).get(name, ()))
            if check:
                watching.insert(0, ForwardCheck())
            attached.enter_context(pm.observing(*watching))
        seconds = {name: 0.0 for name in plans}
        errors: list[dict] = []
        live = list(plans)
        total = iterations * len(plans)
        done = 0
        for i in range(iterations):
            if stop is not None and stop():
                break
            for name in list(live):
                seeding.seed(seed + i)
                start = time.perf_counter()
                try:
                    grads = managers[name].estimate(program)
                except PropagationError as err:
                    if on_error == "raise":
                        raise
                    errors.append(report(err, plan=name))
                    live.remove(name)
                    continue
                finally:
                    seconds[name] += time.perf_counter() - start
                stats[name].update(grads, managers[name].particle_gradients if spread else None)
                flags[name].append(
                    torch.stack([torch.isfinite(g).all() for g in grads.values()])
                    if grads
                    else torch.ones(1, dtype=torch.bool)
                )
                done += 1
                if progress is not None:
                    progress(done, total, f"{name} {i + 1}/{iterations}")
            if not live:
                break
        for name in plans:
            _check_gradients(name, flags[name], managers[name], errors, on_error)
    return Comparison(
        plans=dict(plans),
        iterations=iterations,
        seed=seed,
        summary={n: stats[n].summary(confidence) for n in plans},
        history={n: stats[n].history() for n in plans},
        errors=errors,
        seconds=seconds,
    )


def _check_gradients(name, flags, pm, errors, on_error) -> None:
    """Name the first iteration whose parameter gradient is not finite (one sync)."""
    if not flags:
        return
    ok = torch.stack(flags).cpu()  # iterations x params
    if bool(ok.all()):
        return
    it, j = (~ok).nonzero()[0].tolist()
    param = list(pm.params)[j] if j < len(pm.params) else "?"
    rep = gradient_report(param, it, plan=name)
    if on_error == "raise":
        raise FloatingPointError(rep["message"] + f" (plan {name})")
    errors.append(rep)


def _compare_apart(
    executor, program, plans, iterations, seed, default, progress, stop, timeout, kwargs
) -> Comparison:
    """:func:`compare`, one plan per cell on ``executor``, merged in the plans' order."""
    done: dict[str, Comparison] = {}

    def finished(name: str, part: Comparison) -> None:
        done[name] = part
        if progress is not None:
            progress(len(done) * iterations, len(plans) * iterations, f"{name} done")

    cells = [
        Cell(
            name,
            _compare_with,
            (program, {name: spec}, iterations, seed, default, kwargs),
            f"plan {name!r}",
        )
        for name, spec in plans.items()
    ]
    run_cells(cells, executor, finished, stop=stop, timeout=timeout)
    names = [name for name in plans if name in done]
    return Comparison(
        plans=dict(plans),
        iterations=iterations,
        seed=seed,
        summary={n: done[n].summary[n] for n in names},
        history={n: done[n].history[n] for n in names},
        errors=[e for n in names for e in done[n].errors],
        seconds={n: done[n].seconds[n] for n in names},
    )


def _compare_with(program, plans, iterations, seed, default, kwargs) -> Comparison:
    return compare(program, plans, iterations, seed, default, **kwargs)
