"""Seeding the generators that propagation draws from."""

from __future__ import annotations

import torch


def seed(value: int) -> None:
    """Seed the CPU generator and, where CUDA is available, every GPU's.

    The same draws as ``torch.manual_seed(value)`` on these devices, without its
    per-call cost (it queues seeds for accelerators not in use, formatting a
    stack trace each time): the lab and ``compare`` seed every iteration.
    """
    torch.default_generator.manual_seed(value)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(value)
