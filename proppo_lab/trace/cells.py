"""Independent cells of work (a sweep's points and plans), run here or on an Executor.

Why any ``concurrent.futures.Executor``: a sweep's cells share nothing, and
people already run pools for such work. A local process pool and a Dask
cluster (``Client.get_executor()``) are tested (tests/test_sweep_executors.py);
any other ``concurrent.futures.Executor`` should work, untested.
:func:`run_cells` hands each cell to the executor, reports every cell as it
finishes (so its result can be saved and the progress shown at once) and
survives a worker that dies:

* a cell whose worker died is submitted again (up to ``retries`` times);
  a cell that raised an error of its own is not (it would raise again);
* every submission to Dask gets a fresh task key: a resubmission under the
  failed task's key could meet that task's error again without running, and
  Dask's own retries (``distributed.scheduler.allowed-failures``) would count
  as ours;
* a cell that finished is reported once and never submitted again, so
  nothing done is lost or done twice (its future is dropped at once: Dask
  recomputes a result lost with its worker while a future still refers to it);
* a process pool breaks when one of its workers dies (every pending future
  fails and it takes no more work): it is replaced by a fresh pool of the same
  size, or by ``executor()`` when a factory was given instead of an executor.

It never waits forever (``timeout``): a cell that runs longer than
``timeout`` seconds, a Dask cluster without workers for that long (a minute at
most: ``NO_WORKERS_GRACE``), or an
executor on which no cell starts or finishes for that long ends the run with
a :class:`CellTimeout` naming the cell; the cells finished before have been
reported. A cell's clock starts when the executor says it runs (a process
pool's ``Future.running()``, a Dask worker's ``processing`` list; both may
count a cell queued behind a busy worker as running), and stops when a lost
Dask worker's cell goes back to the queue. A process pool
made here is shut down with its worker processes killed, since a hung cell's
process would never end; on Dask a hung task keeps its worker's thread.

The function and arguments of a cell travel to the workers: with a process
pool they must pickle (module-level functions and classes, not lambdas);
Dask uses cloudpickle, which also takes lambdas.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

#: errors that mean "the worker died", whatever ran it: the cell itself may be fine
#: (Dask's KilledWorker, by name: distributed is not imported)
LOST_WORKER = ("KilledWorker",)

#: seconds a cell may run, and an executor may go without workers or progress, by default
DEFAULT_TIMEOUT = 3600.0
#: a cluster without workers is given at most this long (or ``timeout``, if shorter)
#: to get some back (a nanny restarting a killed worker takes seconds)
NO_WORKERS_GRACE = 60.0
#: how often the cells' states are looked at while none finishes (seconds)
POLL = 0.5


@dataclass(frozen=True)
class Cell:
    """One piece of work: ``fn(*args)`` on a worker; ``key`` names it in reports.

    ``label`` names it in error messages (default: ``repr(key)``)."""

    key: Any
    fn: Callable[..., Any]
    args: tuple = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label if self.label is not None else repr(self.key)


class CellError(RuntimeError):
    """A cell failed for good: its own error, or its workers died ``retries + 1`` times."""

    def __init__(self, key: Any, message: str, name: str | None = None):
        super().__init__(f"cell {name if name is not None else repr(key)}: {message}")
        self.key = key


class CellTimeout(CellError, TimeoutError):
    """A cell ran past its timeout, or the executor had no workers or made no progress."""


def lost_worker(err: BaseException) -> bool:
    """Did ``err`` come from a worker that died (rather than from the cell's own code)?"""
    return isinstance(err, BrokenProcessPool) or any(
        cls.__name__ in LOST_WORKER for cls in type(err).__mro__
    )


def run_cells(
    cells: Sequence[Cell],
    executor: Executor | Callable[[], Executor],
    on_done: Callable[[Any, Any], None],
    *,
    retries: int = 2,
    stop: Callable[[], bool] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> None:
    """Run ``cells`` on ``executor``; ``on_done(key, result)`` as each one finishes.

    ``stop()`` returning True cancels the cells not yet finished (those
    finished have been reported). Raises :class:`CellError` when a cell fails
    for good and :class:`CellTimeout` when a cell runs longer than ``timeout``
    seconds or the executor has no workers or makes no progress for that long
    (see the module docstring; None: wait forever); the cells finished before
    have been reported.
    """
    pool = _Pool(executor)
    pending: dict[Future, _Try] = {}
    hung = False
    try:
        for cell in cells:
            fut, key = pool.submit(cell)
            pending[fut] = _Try(cell, 0, key)
        watch = _Watch(timeout)
        while pending:
            finished, _ = wait(pending, timeout=POLL, return_when=FIRST_COMPLETED)
            for future in finished:
                tried = pending.pop(future)
                cell, attempt = tried.cell, tried.attempt
                watch.progress()
                err = future.exception()
                if err is None:
                    on_done(cell.key, future.result())
                elif lost_worker(err) and attempt < retries:
                    fut, key = pool.submit(cell)
                    pending[fut] = _Try(cell, attempt + 1, key)
                elif lost_worker(err):
                    tries = "its only try" if attempt == 0 else f"each of its {attempt + 1} tries"
                    raise CellError(
                        cell.key,
                        f"its worker died on {tries} ({type(err).__name__}: {err})",
                        cell.name,
                    ) from err
                else:
                    raise CellError(cell.key, f"{type(err).__name__}: {err}", cell.name) from err
            # drop the finished futures now: a cluster keeps a result (and recomputes it
            # when its worker dies) for as long as a future refers to it
            finished = future = None
            if stop is not None and stop():
                break
            if pending and timeout is not None:
                hung = True  # until the checks pass: a pool with a hung cell must be killed
                watch.check(pool, pending)
                hung = False
    finally:
        for future in pending:
            future.cancel()
        pool.close(kill=hung)


@dataclass
class _Try:
    """One submission of a cell: the how-many-th, under which task key (Dask), since when."""

    cell: Cell
    attempt: int
    key: str | None
    started: float | None = None  # when the executor first said it runs


class _Watch:
    """The timeouts of :func:`run_cells`: per running cell, without workers, without progress."""

    def __init__(self, timeout: float | None):
        self.timeout = timeout
        self.last = time.monotonic()  # the last cell that finished or started
        self.no_workers_since: float | None = None

    def progress(self) -> None:
        self.last = time.monotonic()

    def check(self, pool: _Pool, pending: dict[Future, _Try]) -> None:
        now, timeout = time.monotonic(), self.timeout
        running = pool.running(pending)
        for fut, tried in pending.items():
            if fut not in running:  # not yet, or no more: Dask requeues the tasks of a lost worker
                tried.started = None
            elif tried.started is None:
                tried.started = now
                self.progress()
        tries = list(pending.values())
        for tried in tries:
            if tried.started is not None and now - tried.started > timeout:
                raise CellTimeout(
                    tried.cell.key,
                    f"still running after {now - tried.started:.0f} s (timeout={timeout:g} s)",
                    tried.cell.name,
                )
        stalled = now - self.last > timeout
        if pool.workers() == 0:
            self.no_workers_since = self.no_workers_since or now
            without = now - self.no_workers_since
            if stalled or without > min(timeout, NO_WORKERS_GRACE):
                raise CellTimeout(
                    tries[0].cell.key,
                    f"not run: the {pool.name} has had no workers for {without:.0f} s "
                    f"({len(tries)} cells not finished)",
                    tries[0].cell.name,
                )
        else:
            self.no_workers_since = None
        if stalled:
            raise CellTimeout(
                tries[0].cell.key,
                f"not finished: no cell started or finished on the {pool.name} for "
                f"{timeout:g} s (timeout; {len(tries)} cells not finished)",
                tries[0].cell.name,
            )


class _Pool:
    """The executor cells go to, replaced when it breaks (see the module docstring)."""

    def __init__(self, executor: Executor | Callable[[], Executor]):
        self.factory = None if isinstance(executor, Executor) else executor
        self.executor = executor if self.factory is None else self.factory()
        self.owned = self.factory is not None  # shut down at the end: we made it

    @property
    def name(self) -> str:
        return type(self.executor).__name__

    @property
    def _client(self):
        """The Dask client behind a ``Client.get_executor()``, else None (not imported)."""
        if any(cls.__name__ == "ClientExecutor" for cls in type(self.executor).__mro__):
            return getattr(self.executor, "_client", None)
        return None

    def submit(self, cell: Cell) -> tuple[Future, str | None]:
        """Submit ``cell``; returns its future and, on Dask, its fresh task key."""
        key = None
        kwargs = {}
        if self._client is not None:
            key = f"{getattr(cell.fn, '__name__', 'cell')}-{uuid.uuid4().hex}"
            kwargs["key"] = key
        try:
            return self.executor.submit(cell.fn, *cell.args, **kwargs), key
        except BrokenProcessPool:
            self._replace()
            return self.executor.submit(cell.fn, *cell.args, **kwargs), key

    def running(self, pending: dict[Future, _Try]) -> set[Future]:
        """The pending futures the executor says run (Dask: assigned to a worker)."""
        client = self._client
        if client is None:
            return {fut for fut in pending if fut.running()}
        keys = {key for keys in client.processing().values() for key in keys}
        return {fut for fut, tried in pending.items() if tried.key in keys}

    def workers(self) -> int | None:
        """How many workers a Dask cluster has now; None for other executors."""
        client = self._client
        return None if client is None else len(client.scheduler_info()["workers"])

    def _replace(self) -> None:
        broken = self.executor
        if self.factory is not None:
            fresh = self.factory()
        elif isinstance(broken, ProcessPoolExecutor):
            # the same size and start method (read from the pool: it has no public getter)
            fresh = ProcessPoolExecutor(broken._max_workers, mp_context=broken._mp_context)
        else:
            raise RuntimeError(
                f"the {type(broken).__name__} broke and cannot be replaced; pass a "
                "function that makes a fresh one as executor= to survive this"
            )
        if self.owned:
            broken.shutdown(wait=False, cancel_futures=True)
        self.executor, self.owned = fresh, True

    def close(self, kill: bool = False) -> None:
        """Shut down a pool made here; ``kill``: a cell hangs, so end its processes first."""
        if not self.owned:
            return
        if kill and isinstance(self.executor, ProcessPoolExecutor):
            # a hung cell never returns, and shutdown (here or at exit) would wait for it;
            # the pool has no public way to end its processes before Python 3.14
            for process in list((self.executor._processes or {}).values()):
                process.kill()
        self.executor.shutdown(wait=not kill, cancel_futures=True)
