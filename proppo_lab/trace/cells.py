"""Independent cells of work (a sweep's points and plans), run here or on an Executor.

Why any ``concurrent.futures.Executor``: a sweep's cells share nothing, and
people already run pools for such work: a local process pool, a Dask cluster
(``Client.get_executor()``), Ray's executor. :func:`run_cells` hands each
cell to the executor, reports every cell as it finishes (so its result can be
saved and the progress shown at once) and survives a worker that dies:

* a cell whose worker died is submitted again (up to ``retries`` times);
  a cell that raised an error of its own is not (it would raise again);
* a cell that finished is reported once and never submitted again, so
  nothing done is lost or done twice (its future is dropped at once: Dask
  recomputes a result lost with its worker while a future still refers to it);
* a process pool breaks when one of its workers dies (every pending future
  fails and it takes no more work): it is replaced by a fresh pool of the same
  size, or by ``executor()`` when a factory was given instead of an executor.

The function and arguments of a cell travel to the workers: with a process
pool they must pickle (module-level functions and classes, not lambdas);
Dask and Ray use cloudpickle, which also takes lambdas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

#: errors that mean "the worker died", whatever ran it: the cell itself may be fine
#: (Dask's KilledWorker, Ray's crashed workers and dead nodes, by name: neither is imported)
LOST_WORKER = ("KilledWorker", "WorkerCrashedError", "NodeDiedError", "RayActorError")


@dataclass(frozen=True)
class Cell:
    """One piece of work: ``fn(*args)`` on a worker; ``key`` names it in reports."""

    key: Any
    fn: Callable[..., Any]
    args: tuple = ()


class CellError(RuntimeError):
    """A cell failed for good: its own error, or its workers died ``retries + 1`` times."""

    def __init__(self, key: Any, message: str):
        super().__init__(f"cell {key!r}: {message}")
        self.key = key


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
) -> None:
    """Run ``cells`` on ``executor``; ``on_done(key, result)`` as each one finishes.

    ``stop()`` returning True cancels the cells not yet finished (those
    finished have been reported). Raises :class:`CellError` when a cell fails
    for good; the cells finished before have been reported.
    """
    pool = _Pool(executor)
    pending: dict[Future, tuple[Cell, int]] = {}
    try:
        for cell in cells:
            pending[pool.submit(cell)] = (cell, 0)
        while pending:
            finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                cell, attempt = pending.pop(future)
                err = future.exception()
                if err is None:
                    on_done(cell.key, future.result())
                elif lost_worker(err) and attempt < retries:
                    pending[pool.submit(cell)] = (cell, attempt + 1)
                elif lost_worker(err):
                    raise CellError(cell.key, f"its worker died {attempt + 1} times") from err
                else:
                    raise CellError(cell.key, f"{type(err).__name__}: {err}") from err
            # drop the finished futures now: a cluster keeps a result (and recomputes it
            # when its worker dies) for as long as a future refers to it
            finished = future = None
            if stop is not None and stop():
                break
    finally:
        for future in pending:
            future.cancel()
        pool.close()


class _Pool:
    """The executor cells go to, replaced when it breaks (see the module docstring)."""

    def __init__(self, executor: Executor | Callable[[], Executor]):
        self.factory = None if isinstance(executor, Executor) else executor
        self.executor = executor if self.factory is None else self.factory()
        self.owned = self.factory is not None  # shut down at the end: we made it

    def submit(self, cell: Cell) -> Future:
        try:
            return self.executor.submit(cell.fn, *cell.args)
        except BrokenProcessPool:
            self._replace()
            return self.executor.submit(cell.fn, *cell.args)

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

    def close(self) -> None:
        if self.owned:
            self.executor.shutdown(wait=True, cancel_futures=True)
