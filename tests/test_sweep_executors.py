"""Sweeps and comparisons on an Executor: a process pool and a local Dask cluster.

A tiny sweep (4 points x 2 plans, 4 estimates each) runs serially and on two
workers; in the parallel runs one cell kills its own worker process midway.
The results must equal the serial sweep's, every cell must have exactly one
complete run (none that finished ran again; the killed one was run again),
progress must advance as cells finish, and the file on disk must resume.

No sweep may wait forever: a hung cell, an executor that never runs a cell and
a cluster scaled to no workers each end the sweep with a ``CellTimeout``
naming the cell, the finished cells kept. These run the sweep in a thread and
check that it ended (a hang would otherwise stop the test run). On Dask every
resubmission has a fresh task key, and the error counts our tries.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

import pytest

from proppo_lab import trace
from proppo_lab.trace.cells import Cell, CellError, CellTimeout, lost_worker, run_cells

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import sweep_case  # noqa: E402

BETAS = [0.5, 0.8, 1.1, 1.4]
KILL = 1.1  # the third point: cells before it have finished by then
PLANS = {"RP": "RP", "LR": "LR"}


@pytest.fixture
def workers_env(monkeypatch):
    """Worker processes import proppo_lab from this checkout and the case from here."""
    paths = [str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _sweep(tmp, name, kill=None, case=None, **kwargs):
    """The sweep of BETAS x PLANS; ``case``: more options of the program (sweep_case)."""
    log = str(tmp / f"{name}.log")
    factory = functools.partial(sweep_case.program, log=log, kill=kill, **(case or {}))
    result = trace.sweep(
        factory, {"beta": BETAS}, PLANS, sweep_case.ITERATIONS, seed=3, default="RP", **kwargs
    )
    return result, log


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    result, log = _sweep(tmp_path_factory.mktemp("serial"), "serial", progress=False)
    assert result.computed == len(BETAS) * len(PLANS)
    return result


def _check(result, serial, log):
    assert os.path.exists(log + ".killed"), "the worker was never killed"
    assert result.computed == len(BETAS) * len(PLANS)
    for point in ({"beta": b} for b in BETAS):
        for plan in PLANS:
            got, want = result.entry(point, plan), serial.entry(point, plan)
            assert got is not None, (point, plan)
            for param, s in want["summary"].items():
                assert s["variance"] > 0
                for key in ("n", "mean", "variance", "se"):
                    assert got["summary"][param][key] == pytest.approx(s[key], rel=1e-9), (
                        point,
                        plan,
                        param,
                        key,
                    )
    runs = sweep_case.complete_runs(log)
    assert {beta: len(ids) for beta, ids in runs.items()} == {b: len(PLANS) for b in BETAS}


def test_sweep_on_a_process_pool_survives_a_killed_worker(tmp_path, serial, workers_env):
    seen = []
    path = tmp_path / "sweep.json"
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        result, log = _sweep(
            tmp_path,
            "pool",
            kill=KILL,
            executor=pool,
            path=path,
            progress=lambda done, total, text: seen.append((done, total)),
        )
    _check(result, serial, log)
    total = len(BETAS) * len(PLANS) * sweep_case.ITERATIONS
    assert [d for d, _ in seen][:8] == [k * sweep_case.ITERATIONS for k in range(1, 9)]
    assert all(t == total for _, t in seen)
    # every finished cell was on disk as soon as it finished: a second call computes nothing
    lines = open(log).read()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        again, _ = _sweep(tmp_path, "pool", kill=KILL, executor=pool, path=path, progress=False)
    assert (again.computed, again.skipped) == (0, len(BETAS) * len(PLANS))
    assert open(log).read() == lines
    assert trace.SweepResult.load(path).entries == result.entries


def test_compare_on_a_process_pool_equals_serial(tmp_path, workers_env):
    program = sweep_case.program(0.9, str(tmp_path / "cmp.log"))
    plans = {"RP": "RP", "LR": "LR", "TP": "TP"}
    want = trace.compare(program, plans, 3, seed=1)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        got = trace.compare(program, plans, 3, seed=1, executor=pool)
    assert list(got.summary) == list(plans)
    for plan in plans:
        assert got.history[plan]["mu"]["grad"] == pytest.approx(
            want.history[plan]["mu"]["grad"], rel=1e-9
        )
        assert got.summary[plan]["a"]["variance"] == pytest.approx(
            want.summary[plan]["a"]["variance"], rel=1e-9
        )


def test_sweep_on_a_dask_cluster_survives_a_killed_worker(tmp_path, serial, workers_env):
    distributed = pytest.importorskip("distributed")  # the "cluster" extra (in "dev")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result, log = _sweep(
            tmp_path, "dask", kill=KILL, executor=client.get_executor(), progress=False
        )
    _check(result, serial, log)


def _fails(x):
    raise ValueError(f"bad {x}")


def test_a_cell_that_raises_is_not_retried():
    done = []
    with pytest.raises(CellError, match="ValueError: bad 2") as info:
        with ProcessPoolExecutor(1) as pool:
            run_cells(
                [Cell(1, abs, (-1,)), Cell(2, _fails, (2,))], pool, lambda k, r: done.append(k)
            )
    assert info.value.key == 2 and done == [1]
    assert not lost_worker(ValueError()) and lost_worker(type("KilledWorker", (Exception,), {})())


# --- no sweep waits forever -------------------------------------------------------

#: seconds a test waits for a sweep that should end on its own within its timeout
ENDS_WITHIN = 120


def _ends(fn):
    """``fn()`` in a thread; the error it raised (it must end, and raise)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(ENDS_WITHIN)
    assert not thread.is_alive(), f"the sweep still waits after {ENDS_WITHIN} s"
    assert "error" in box, f"the sweep ended without an error: {box.get('value')}"
    return box["error"]


def _kept(err, path, finished):
    """The finished cells are in the error's result and in the file, and resume."""
    entries = err.result.entries
    assert sorted((e["point"]["beta"], e["plan"]) for e in entries) == sorted(finished)
    assert trace.SweepResult.load(path).entries == entries


class _Stalls(Executor):
    """Runs its first ``runs`` submissions here at once; the rest never start."""

    def __init__(self, runs: int):
        self.runs = runs

    def submit(self, fn, *args, **kwargs):
        future = Future()
        if self.runs > 0:
            self.runs -= 1
            future.set_result(fn(*args, **kwargs))
        return future


def test_an_executor_that_never_runs_a_cell_ends_the_sweep(tmp_path):
    path = tmp_path / "sweep.json"
    err = _ends(
        lambda: _sweep(tmp_path, "stub", executor=_Stalls(4), path=path, timeout=1, progress=False)
    )
    assert isinstance(err, CellTimeout), err
    assert "point {'beta': 1.1}, plan 'RP'" in str(err) and "no cell started or finished" in str(
        err
    )
    _kept(err, path, [(b, p) for b in BETAS[:2] for p in PLANS])
    again, _ = _sweep(tmp_path, "stub", path=path, progress=False)
    assert (again.computed, again.skipped) == (4, 4)


def _warm(executor, tmp):
    """A one-estimate sweep, so that the workers have imported torch and proppo_lab
    before the timed cells start (on a busy machine that takes seconds)."""
    factory = functools.partial(sweep_case.program, log=str(tmp / "warm.log"))
    trace.sweep(factory, {"beta": [0.5]}, {"RP": "RP"}, 1, executor=executor, progress=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # a killed process not yet reaped is a zombie
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_a_hung_cell_ends_the_sweep_naming_it(tmp_path, workers_env):
    path, log = tmp_path / "sweep.json", str(tmp_path / "hang.log")

    def pool():
        made = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        _warm(made, tmp_path)
        return made

    factory = functools.partial(sweep_case.program, log=log, hang=KILL)
    err = _ends(
        lambda: trace.sweep(
            factory, {"beta": BETAS}, PLANS, sweep_case.ITERATIONS, seed=3, default="RP",
            executor=pool, path=path, timeout=8, progress=False,
        )
    )  # fmt: skip
    assert isinstance(err, CellTimeout), err
    assert "point {'beta': 1.1}, plan 'RP'" in str(err) and "still running after" in str(err)
    _kept(err, path, [(b, p) for b in BETAS[:2] for p in PLANS])
    # the pool was made here: its hung process was killed, not left behind
    assert _ended(int(open(log + ".hung").read()))


def _ended(pid: int) -> bool:
    """Has process ``pid`` ended? (The pool reaps a killed process on its own thread.)"""
    for _ in range(100):
        if not _alive(pid):
            return True
        threading.Event().wait(0.1)
    return False


def test_a_dask_cluster_left_without_workers_ends_the_sweep(tmp_path, workers_env):
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "sweep.json"
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        _warm(client.get_executor(), tmp_path)

        def scale_down(done, total, text):  # after the first cell the cluster loses its worker
            cluster.scale(0)

        err = _ends(
            lambda: _sweep(
                tmp_path, "dask", executor=client.get_executor(), path=path, timeout=5,
                progress=scale_down, case={"delay": 0.3},
            )
        )  # fmt: skip
    assert isinstance(err, CellTimeout), err
    assert "has had no workers" in str(err), err
    finished = [(e["point"]["beta"], e["plan"]) for e in err.result.entries]
    assert 1 <= len(finished) < len(BETAS) * len(PLANS)
    _kept(err, path, finished)
    assert str(err).startswith("cell point {'beta': ")


def test_dask_retries_a_dead_worker_with_a_fresh_key_and_counts_our_tries(tmp_path, workers_env):
    distributed = pytest.importorskip("distributed")
    import dask
    from distributed.cfexecutor import ClientExecutor

    keys: dict[str, list] = {}

    class Recording(ClientExecutor):
        """Notes the task key of every submission, by the cell's function."""

        def submit(self, fn, *args, **kwargs):
            keys.setdefault(fn.__name__, []).append(kwargs.get("key"))
            return super().submit(fn, *args, **kwargs)

    once, every = str(tmp_path / "once.log"), str(tmp_path / "every.log")
    done = {}
    # Dask's own retries off: one death is one KilledWorker, so every retry is ours
    # (three workers for three deaths: no retry waits for a nanny to restart its worker)
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        cells = [Cell("once", sweep_case.die_once, (once,)), Cell("abs", abs, (-2,))]
        run_cells(cells, Recording(client), done.__setitem__)
        killed = _ends(
            lambda: run_cells(
                [Cell("every", sweep_case.die, (every,), "point p, plan q")],
                Recording(client),
                done.__setitem__,
                retries=1,
            )
        )
    assert done == {"once": "ran", "abs": 2}
    assert len(open(once).readlines()) == 1  # died once, then ran under a new key
    assert len(keys["die_once"]) == 2 == len(set(keys["die_once"])) and None not in keys["die_once"]
    assert isinstance(killed, CellError) and not isinstance(killed, CellTimeout), killed
    assert "cell point p, plan q: its worker died on each of its 2 tries" in str(killed)
    assert "KilledWorker" in str(killed)
    assert len(keys["die"]) == 2 == len(set(keys["die"])) and None not in keys["die"]
    assert len(open(every).readlines()) == 2  # two real runs, each killed its worker
