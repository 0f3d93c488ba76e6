"""Sweeps and comparisons on an Executor: a process pool and a local Dask cluster.

A tiny sweep (4 points x 2 plans, 4 estimates each) runs serially and on two
workers; in the parallel runs one cell kills its own worker process midway.
The results must equal the serial sweep's, every cell must have exactly one
complete run (none that finished ran again; the killed one was run again),
progress must advance as cells finish, and the file on disk must resume.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from proppo_lab import trace
from proppo_lab.trace.cells import Cell, CellError, lost_worker, run_cells

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


def _sweep(tmp, name, kill=None, **kwargs):
    log = str(tmp / f"{name}.log")
    factory = functools.partial(sweep_case.program, log=log, kill=kill)
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
