"""Which of many tensors hold NaN or inf: one fused pass, no host sync."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def finite_flags(values: Sequence[torch.Tensor]) -> torch.Tensor:
    """One flag per tensor, True where every element is finite.

    The max-abs norm is inf/NaN exactly when an element is, and it cannot
    overflow; ``_foreach_norm`` takes all of them in one fused call. Reading
    the flags (``bool(flags.all())``) is the only host sync, left to the caller.
    """
    with torch.no_grad():
        return torch.isfinite(torch.stack(torch._foreach_norm(list(values), float("inf"))))
