"""Statistics across particles: the one place that knows particles may be sharded.

An estimate is a mean over particles, and several propagators read other
statistics across them: LR's leave-one-out baseline, TP's per-particle
variances, GR's and GS's fitted Gaussians, the share ``1 / N`` each particle
has in the loss. Every one of them goes through the functions here, so a
:class:`~.sharded.ShardedManager`, whose particles are spread over the
processes of a ``torch.distributed`` group, gives the estimate one process
holding all particles would give without any propagator knowing about it.

How: while a sharded manager records a node or runs its backward pass, it
declares its :class:`Shards` (:func:`sharded`); the functions here then add
the other ranks' partial sums with ``all_reduce`` (differentiably where the
value carries a graph: the fitted Gaussian's mean depends on every rank's
particles). Without shards they are the plain torch reductions, with no
collective and no extra work.

The rule that makes the count free: every rank holds the same number of
particles (the sharded manager checks it once per backward pass), so the
global count is the local one times the number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shards:
    """A process group over which particles are split: this process is ``rank`` of ``world``.

    ``group``: the ``torch.distributed`` process group (None: the default group).
    """

    group: Any
    world: int
    rank: int


_current: ContextVar[Shards | None] = ContextVar("proppo_lab_shards", default=None)


@contextmanager
def sharded(shards: Shards | None) -> Iterator[None]:
    """Within the block, statistics across particles include the other ranks' particles."""
    token = _current.set(shards)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Shards | None:
    """The shards of the manager that is recording or propagating now (None: one process)."""
    return _current.get()


def count(local: int) -> int:
    """How many particles the estimate averages, given this rank's ``local`` count."""
    shards = _current.get()
    return local if shards is None else local * shards.world


def summed(partial: torch.Tensor) -> torch.Tensor:
    """A sum over this rank's particles -> the sum over every rank's (same shape)."""
    shards = _current.get()
    return partial if shards is None else _all_reduce(partial, shards)


def total(x: torch.Tensor, dim: int = 0, keepdim: bool = False) -> torch.Tensor:
    """Sum over the particles along ``dim``."""
    shards = _current.get()
    out = x.sum(dim, keepdim=keepdim)
    return out if shards is None else _all_reduce(out, shards)


def mean(x: torch.Tensor, dim: int = 0, keepdim: bool = False) -> torch.Tensor:
    """Mean over the particles along ``dim``."""
    if _current.get() is None:
        return x.mean(dim, keepdim=keepdim)
    return total(x, dim, keepdim) / count(x.shape[dim])


def var(x: torch.Tensor, dim: int = 0, keepdim: bool = False) -> torch.Tensor:
    """Unbiased variance over the particles along ``dim``; zeros with a single particle.

    Sharded, it takes two passes (global mean, then the summed squares around
    it), which is as stable as torch's own ``var``.
    """
    n = count(x.shape[dim])
    if n < 2:
        return torch.zeros_like(x.sum(dim, keepdim=keepdim))
    if _current.get() is None:
        return x.var(dim, keepdim=keepdim)
    centred = x - mean(x, dim, keepdim=True)
    return total(centred * centred, dim, keepdim) / (n - 1)


def common(x: torch.Tensor) -> torch.Tensor:
    """``x`` as the first rank has it, on every rank: random directions (TP's probes)
    that every rank must project on alike. ``x`` itself without shards."""
    shards = _current.get()
    if shards is None:
        return x
    x = x.contiguous()
    dist.broadcast(x, dist.get_global_rank(shards.group, 0) if shards.group else 0, shards.group)
    return x


def _all_reduce(x: torch.Tensor, shards: Shards) -> torch.Tensor:
    if x.requires_grad:  # the backward pass adds up the other ranks' gradients too
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(x, group=shards.group)
    x = x.clone(memory_format=torch.contiguous_format)
    dist.all_reduce(x, group=shards.group)
    return x
