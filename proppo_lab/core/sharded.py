"""Particles sharded over the processes of a ``torch.distributed`` group.

Why a manager of its own: one estimate may need more particles than one
process can hold or compute in time. Data-parallel training splits a batch
over processes; here the particle dimension is split the same way. Every rank
runs the same program on its own particles (drawn from its own seed, see
:func:`~.seeding.seed`); statistics across particles go through
:mod:`.particles`, which adds up the ranks' partial sums while this manager
records or propagates; at the end of the backward pass the ranks' gradients
(each a partial sum of the global mean) are summed. The estimate is the one a
single process holding all the particles would give, and every message a rank
sees is that process's message restricted to the rank's particles.

Launch one process per rank (``torchrun --nproc-per-node 2 script.py``); the
README's "Beyond one machine" shows a script. Without a process group, use
:class:`~.manager.PropagationManager`: it does no collective and no extra work.

What stays per rank: the per-particle shares (``particle_gradients``) hold the
rank's particles; learned baselines and RELAX's surrogate train on the rank's
particles (each rank's network differs, the estimate stays unbiased); the
gradients observers see at ``backward_finished`` are the rank's partial sums.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from . import particles
from .errors import PropagationError
from .manager import PropagationManager
from .particles import Shards


class ShardedManager(PropagationManager):
    """A :class:`PropagationManager` whose particles are split over ``process_group``.

    Every rank must hold the same number of particles (checked at each
    ``backward``, with an error naming the loss node). ``process_group``:
    a ``torch.distributed`` group, None for the default one; torch.distributed
    must be initialised (``torchrun`` and ``dist.init_process_group``).
    """

    def __init__(self, plan=None, default="RP", *, process_group: Any = None, **kwargs):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "ShardedManager needs torch.distributed to be initialised: launch with "
                "torchrun and call torch.distributed.init_process_group() first"
            )
        super().__init__(plan, default, **kwargs)
        #: the group, this process's rank in it and how many ranks take part
        self.shards = Shards(
            process_group, dist.get_world_size(process_group), dist.get_rank(process_group)
        )
        #: particles that took part in the last backward pass, over all ranks
        self.particles: int | None = None

    def _record(self, *args):
        with particles.sharded(self.shards):  # GR and GS fit their Gaussians to all particles
            return super()._record(*args)

    def backward(self) -> None:
        """Propagate on every rank, then sum the ranks' gradients (each rank's ``.grad``
        then holds the whole estimate)."""
        loss = next((n for n in self._tape if n.kind == "loss"), None)
        if loss is not None:
            try:
                self.particles = self._global_count(loss)
            except BaseException:
                self.discard()
                raise
        with particles.sharded(self.shards):
            super().backward()
        self._sum_gradients()

    def _global_count(self, loss) -> int:
        """All ranks' particles; an error on every rank when their counts differ."""
        n = loss.inputs[0].shape[0]
        extremes = torch.tensor([n, -n], dtype=torch.long, device=loss.inputs[0].device)
        dist.all_reduce(extremes, op=dist.ReduceOp.MAX, group=self.shards.group)
        most, fewest = int(extremes[0]), -int(extremes[1])
        if most != fewest:
            raise PropagationError.at(
                loss,
                f"every rank must hold the same number of particles; this rank holds {n}, "
                f"the ranks hold between {fewest} and {most}",
                phase="backward",
                iteration=self.iteration,
            )
        return n * self.shards.world

    def _sum_gradients(self) -> None:
        """One all_reduce per (device, dtype) of the named parameters' gradients."""
        grads = {id(p.grad): p.grad for p in self.params.values() if p.grad is not None}
        batches: dict[tuple, list[torch.Tensor]] = {}
        for g in grads.values():
            batches.setdefault((g.device, g.dtype), []).append(g)
        for batch in batches.values():
            flat = torch.cat([g.reshape(-1) for g in batch])
            dist.all_reduce(flat, group=self.shards.group)
            for g, part in zip(batch, flat.split([g.numel() for g in batch])):
                g.copy_(part.view_as(g))
