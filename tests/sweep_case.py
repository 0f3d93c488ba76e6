"""A tiny sweep for test_sweep_executors: a program that logs its runs and can kill its worker.

Importable by worker processes (the test puts this folder on PYTHONPATH), so a
process pool can unpickle the factory. Each call of :func:`program` is one run
of a cell (a point under one plan) and gets its own id; every estimate appends
``beta run-id`` to the log, so the log tells how many complete runs each cell
had. With ``kill=beta`` the first run at that beta kills its own worker
process (SIGKILL, as an out-of-memory killer would) after two estimates and
a pause: a cell that dies within milliseconds of its worker's previous cell
could meet Dask before the finished cell's result was released (Dask then
recomputes it); real cells run for seconds. ``every=True`` kills every run at
that beta (a cell that kills each worker it lands on); ``hang=beta`` makes
that beta's runs sleep for an hour after two estimates, with the process id
in ``log + ".hung"``; ``delay`` pauses after every estimate (seconds).
"""

from __future__ import annotations

import os
import signal
import time
import uuid

from proppo_lab.systems import GaussianChain

ITERATIONS = 4


class LoggedChain(GaussianChain):
    def __init__(self, beta, log, kill, every=False, hang=None, delay=0.0):
        super().__init__(a=beta, particles=16)
        self.beta, self.log, self.kill, self.every = beta, log, kill, every
        self.hang, self.delay = hang, delay
        self.run = uuid.uuid4().hex
        self.calls = 0

    def __call__(self, pm):
        self.calls += 1
        if (
            self.beta == self.kill
            and self.calls == 3
            and (_first(self.log + ".killed") or self.every)
        ):
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        if self.beta == self.hang and self.calls == 3:
            with open(self.log + ".hung", "w") as fh:
                fh.write(str(os.getpid()))
            time.sleep(3600)
        super().__call__(pm)
        with open(self.log, "a") as fh:
            fh.write(f"{self.beta} {self.run}\n")
        time.sleep(self.delay)


def _first(flag: str) -> bool:
    """True once per flag file (made atomically), False afterwards."""
    try:
        os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def die(log: str) -> None:
    """Note this run in ``log``, then kill the worker process running it."""
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGKILL)


def die_once(log: str) -> str:
    """:func:`die` on the first call, as a worker lost once would; then return."""
    if _first(log + ".once"):
        die(log)
    return "ran"


def program(beta: float, log: str, kill: float | None = None, **options) -> LoggedChain:
    return LoggedChain(beta, log, kill, **options)


def runs(log: str) -> dict[float, dict[str, int]]:
    """beta -> run id -> how many estimates it made (complete or not)."""
    out: dict[float, dict[str, int]] = {}
    if os.path.exists(log):
        with open(log) as fh:
            for line in fh:
                beta, run = line.split()
                counts = out.setdefault(float(beta), {})
                counts[run] = counts.get(run, 0) + 1
    return out


def complete_runs(log: str) -> dict[float, list[str]]:
    """beta -> the ids of its runs that made all ITERATIONS estimates."""
    out: dict[float, list[str]] = {}
    for beta, counts in runs(log).items():
        for run, n in counts.items():
            assert n <= ITERATIONS, f"run {run} at beta {beta} made {n} estimates"
            if n == ITERATIONS:
                out.setdefault(beta, []).append(run)
    return out
