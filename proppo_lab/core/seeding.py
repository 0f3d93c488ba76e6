"""Seeding the generators that propagation draws from."""

from __future__ import annotations

import hashlib

import torch
import torch.distributed as dist


def seed(value: int) -> None:
    """Seed the CPU generator and, where CUDA is available, every GPU's.

    The same draws as ``torch.manual_seed(value)`` on these devices, without its
    per-call cost (it queues seeds for accelerators not in use, formatting a
    stack trace each time): the lab and ``compare`` seed every iteration.

    In a ``torch.distributed`` job each rank holds its own particles, so each
    draws its own numbers: rank r seeds with :func:`rank_seed` ``(value, r)``.
    The union of the ranks' draws is then fixed by ``value`` and the number of
    ranks, and a job of one rank draws what a plain process draws.
    """
    value = rank_seed(value, _rank())
    torch.default_generator.manual_seed(value)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(value)


def rank_seed(value: int, rank: int) -> int:
    """The seed of ``rank`` for the job seeded with ``value``: ``value`` itself on rank 0,
    a hash of both elsewhere (no two (value, rank) pairs share a stream in practice)."""
    if rank == 0:
        return value
    digest = hashlib.blake2b(f"{value}/{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # manual_seed takes < 2**64; keep it positive


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
