"""Run long work off the kernel's main thread.

While a run is in progress the kernel stays free: other cells execute and
widget clicks reach their callbacks (which would wait if the loop ran in the
cell). The job checks ``stopping()`` between iterations, so Stop takes effect
within one iteration and never interrupts a half-applied update.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

Job = Callable[[Callable[[], bool]], None]


class Runner:
    def __init__(
        self,
        on_error: Callable[[BaseException], None] | None = None,
        on_finish: Callable[[bool], None] | None = None,
    ):
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.on_error = on_error
        self.on_finish = on_finish  # called with True when stopped early
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, job: Job, name: str = "proppo-lab-run") -> None:
        if self.running:
            raise RuntimeError("a run is already in progress; stop it first")
        self._stop.clear()
        self.error = None
        # torch's intra-op thread count is per thread: carry the caller's setting over
        threads = torch.get_num_threads()
        self._thread = threading.Thread(
            target=self._main, args=(job, threads), name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the job to stop after the current iteration."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _main(self, job: Job, threads: int) -> None:
        torch.set_num_threads(threads)
        try:
            job(self._stop.is_set)
        except BaseException as err:  # noqa: BLE001 - reported, never lost, kernel survives
            self.error = err
            if self.on_error is not None:
                self.on_error(err)
        finally:
            if self.on_finish is not None:
                self.on_finish(self._stop.is_set())
