"""Gradient variance across a parameter of the program: the Proppo paper's plot.

Why a sweep of its own: "variance vs beta for RP, LR and TP on the chaotic RNN"
takes minutes, so it must show progress, survive an interruption and grow
(more betas, another plan) without recomputing what is done. Every finished
(point, plan) is written to ``path`` at once (atomically); a later call with
the same path skips the entries already there with the same iterations and
seed, and adds the rest.

The cells (one point under one plan) are independent: with ``executor=`` they
run on any ``concurrent.futures.Executor`` (a process pool and a Dask cluster
are tested; :mod:`.cells`), each saved as it finishes; a cell whose worker dies
is run again, and none that finished is. A cell that hangs, or a cluster left
without workers, ends the sweep with an error naming the cell after
``timeout`` seconds; the cells finished by then are saved. Every cell seeds
its own iterations, so the results equal a serial sweep's.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cells import DEFAULT_TIMEOUT, Cell, CellError, run_cells
from .compare import compare, plan_json, statistics_row
from .progress import make_progress


def _key(point: Mapping, plan: str) -> str:
    return json.dumps({"point": dict(point), "plan": plan}, sort_keys=True)


@dataclass
class SweepResult:
    over: dict[str, list]
    plans: dict[str, Any]
    iterations: int
    seed: int
    entries: list[dict] = field(default_factory=list)
    #: how many (point, plan) entries this call computed and skipped
    computed: int = 0
    skipped: int = 0

    def entry(self, point: Mapping, plan: str) -> dict | None:
        key = _key(point, plan)
        for e in self.entries:
            if _key(e["point"], e["plan"]) == key:
                return e
        return None

    @property
    def rows(self) -> list[dict]:
        """One row per point, plan and parameter: point values, plan, param, statistics."""
        out = []
        for e in self.entries:
            for param, s in e["summary"].items():
                out.append({**e["point"], "plan": e["plan"], "param": param, **statistics_row(s)})
        return out

    def to_dict(self) -> dict:
        return {
            "over": self.over,
            "plans": {k: plan_json(v) for k, v in self.plans.items()},
            "iterations": self.iterations,
            "seed": self.seed,
            "entries": self.entries,
        }

    def save(self, path: str | os.PathLike) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1, allow_nan=True)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SweepResult:
        with open(path) as fh:
            raw = json.load(fh)
        return cls(
            over=raw["over"],
            plans=raw["plans"],
            iterations=raw["iterations"],
            seed=raw["seed"],
            entries=raw["entries"],
        )

    def figure(self, param: str | None = None, x: str | None = None):
        from .figures import sweep_figure

        return sweep_figure(self, param, x)


def sweep(
    program_factory: Callable[..., Any],
    over: Mapping[str, Sequence],
    plans: Mapping[str, Any],
    iterations: int,
    seed: int = 0,
    default: Any = "RP",
    *,
    progress: Any = True,
    path: str | os.PathLike | None = None,
    stop: Callable[[], bool] | None = None,
    executor: Any = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    **compare_kwargs,
) -> SweepResult:
    """Gradient statistics at every point of the grid ``over`` under every plan.

    ``program_factory(**point)`` returns the program (a System) for a point,
    e.g. ``lambda beta: ChaoticRNN(beta=beta)``. ``over`` maps argument
    names to values; the grid is their product. With ``path``, results are
    loaded from and saved to that JSON file (resume / extend). ``progress``:
    True for a text bar on stderr, a callable ``f(done, total, text)``, or False.

    ``executor``: a ``concurrent.futures.Executor`` (or a function making one)
    to run the cells on, e.g. ``ProcessPoolExecutor(2)`` or a Dask client's
    ``get_executor()``; ``program_factory`` and ``compare_kwargs`` then travel
    to the workers (with a process pool they must pickle: no lambdas), and
    progress advances a cell at a time. None: one cell after another, here.

    ``timeout`` (seconds, with an executor): the longest a cell may run, and
    the longest the executor may have no workers (at most a minute on Dask)
    or start and finish no cell. Past it the sweep raises
    :class:`~.cells.CellTimeout` naming the cell's point and plan; a cell's
    error or its workers' repeated deaths raise :class:`~.cells.CellError`.
    Either way the cells finished before are in ``path`` (a later call resumes
    from them) and in the error's ``result`` (a :class:`SweepResult`). None:
    wait as long as it takes.
    """
    over = {k: list(v) for k, v in over.items()}
    result = SweepResult(
        over={k: list(v) for k, v in over.items()},
        plans=dict(plans),
        iterations=iterations,
        seed=seed,
    )
    if path is not None and os.path.exists(path):
        old = SweepResult.load(path)
        result.entries = [e for e in old.entries]
        for k, vs in old.over.items():  # remember points of earlier calls
            merged = list(dict.fromkeys([*vs, *over.get(k, [])]))
            result.over[k] = merged if k in over else vs
        result.plans = {**old.plans, **{k: plan_json(v) for k, v in plans.items()}}
    points = [dict(zip(over, values)) for values in itertools.product(*over.values())]
    todo = []
    for point in points:
        for name in plans:
            e = result.entry(point, name)
            if (
                e is not None
                and e["iterations"] == iterations
                and e["seed"] == seed
                and not e.get("stopped")
            ):
                result.skipped += 1
            else:
                todo.append((point, name))
    bar = make_progress(progress, len(todo) * iterations, "sweep")
    total = len(todo) * iterations

    def finished(cell: tuple[dict, str], entry: dict) -> None:
        point, name = cell
        old = result.entry(point, name)
        if old is not None:
            result.entries.remove(old)
        result.entries.append(entry)
        result.computed += 1
        if path is not None:
            result.save(path)
        if bar is not None:
            bar(result.computed * iterations, total, _label(point, name))

    args = (iterations, seed, default, compare_kwargs)
    if executor is not None:
        cells = [
            Cell(
                (point, name),
                run_cell,
                (program_factory, point, name, plans[name], *args),
                f"point {point}, plan {name!r}",
            )
            for point, name in todo
        ]
        try:
            run_cells(cells, executor, finished, stop=stop, timeout=timeout)
        except CellError as err:
            err.result = result  # the cells finished before it
            raise
    else:
        for u, (point, name) in enumerate(todo):
            if stop is not None and stop():
                break
            text = _label(point, name)
            tick = (  # the bar moves with every estimate, not only every cell
                (lambda d, t, _s, u=u, text=text: bar(u * iterations + d, total, text))
                if bar
                else None
            )
            entry = run_cell(program_factory, point, name, plans[name], *args, tick, stop)
            finished((point, name), entry)
    if bar is not None and todo:
        bar(total, total, "done")
    return result


def _label(point: Mapping, name: str) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items()) + f" {name}"


def run_cell(
    program_factory,
    point,
    name,
    plan,
    iterations,
    seed,
    default,
    compare_kwargs,
    tick=None,
    stop=None,
) -> dict:
    """One sweep entry: ``plan`` at ``point`` (what a worker runs for a cell)."""
    res = compare(
        program_factory(**point),
        {name: plan},
        iterations,
        seed,
        default,
        progress=tick,
        stop=stop,
        **compare_kwargs,
    )
    summary = res.summary[name]
    n = max((s["n"] for s in summary.values()), default=0)
    entry = {
        "point": point,
        "plan": name,
        "iterations": iterations,
        "seed": seed,
        "summary": summary,
        "errors": res.errors,
        "seconds": res.seconds[name],
    }
    if n < iterations and not res.errors:
        entry["stopped"] = True
    return entry
