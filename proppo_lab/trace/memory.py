"""Peak memory of an iteration: what autograd holds for backward, and the GPU's peak.

Python's ``tracemalloc`` does not see torch's allocations, and a process's
peak RSS only grows. What checkpointing and Back Razor change is the memory
autograd keeps for the backward pass, so :class:`PeakMemory` measures that
directly, on any device: inside :meth:`PeakMemory.measure`, every tensor
autograd saves goes through ``torch.autograd.graph.saved_tensors_hooks``,
which counts its storage's bytes while the graph holds it (a storage saved
twice counts once) and keeps the peak; parameters, in memory whatever the
plan, are not counted. Where the program runs on CUDA, the
allocator's own peak (``torch.cuda.max_memory_allocated``) is read as well.

It costs a few microseconds per saved tensor, so the Lab measures the
iterations whose picture it shows, not every one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class _Saved:
    """A saved tensor as autograd holds it: counted until the graph drops it."""

    __slots__ = ("tensor", "key", "meter")

    def __init__(self, tensor: torch.Tensor, key, meter: PeakMemory):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self):
        self.meter._release(self.key)


class PeakMemory:
    """Peak bytes held for backward per measured iteration (``history``), and on CUDA
    the allocator's peak::

        meter = PeakMemory()
        with meter.measure():
            pm.estimate(program)
        meter.history[-1]  # {"saved": bytes, "cuda": bytes or None}
    """

    def __init__(self):
        self.history: list[dict] = []
        self._live = self._peak = self._generation = 0
        self._counts: dict = {}  # storage -> (how many saved tensors use it, its bytes)

    def _pack(self, t: torch.Tensor) -> _Saved | torch.Tensor:
        if isinstance(t, torch.nn.Parameter):  # in memory whatever the plan: not counted
            return t
        storage = t.untyped_storage()
        # the generation: a graph that outlives its measurement releases into no other
        key = (self._generation, t.device, storage.data_ptr())
        count, nbytes = self._counts.get(key, (0, storage.nbytes()))
        if count == 0:
            self._live += nbytes
            self._peak = max(self._peak, self._live)
        self._counts[key] = (count + 1, nbytes)
        # detached: a saved output holding its own grad_fn would make a cycle through
        # C++ that Python's collector cannot see, and the graph would never be freed
        return _Saved(t.detach(), key, self)

    def _release(self, key) -> None:
        count, nbytes = self._counts.pop(key, (0, 0))
        if count > 1:
            self._counts[key] = (count - 1, nbytes)
        elif count == 1:
            self._live -= nbytes

    @contextmanager
    def measure(self, device: torch.device | str | None = None) -> Iterator[dict]:
        """Measure the block as one iteration; appends (and yields) its record."""
        self._live, self._peak, self._counts = 0, 0, {}
        self._generation += 1
        cuda = device is not None and torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        record: dict = {}
        with torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack):
            yield record
        record.update(
            saved=self._peak, cuda=torch.cuda.max_memory_allocated(device) if cuda else None
        )
        self.history.append(record)

    @property
    def latest(self) -> dict | None:
        return self.history[-1] if self.history else None


def _unpack(saved: _Saved | torch.Tensor) -> torch.Tensor:
    return saved.tensor if isinstance(saved, _Saved) else saved


__all__ = ["PeakMemory"]
