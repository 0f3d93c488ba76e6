"""Which of many tensors hold NaN or inf: one fused pass, no host sync on a GPU."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .errors import NonFiniteValue


def finite_flags(values: Sequence[torch.Tensor]) -> torch.Tensor:
    """One flag per tensor, True where every element is finite.

    A norm is inf/NaN when an element is, and ``_foreach_norm`` takes all of
    them in one fused call. On a GPU the max-abs norm (which cannot overflow)
    is used and reading the flags (``bool(flags.all())``) is the only host
    sync, left to the caller. On the CPU the max-abs norm is not vectorised
    (30x slower than the 2-norm on a long stacked message), so the 2-norm is
    used and a tensor it flags (overflow of huge but finite values) is checked
    again element by element; host reads cost nothing there.
    """
    with torch.no_grad():
        values = list(values)
        if values[0].is_cuda:
            return torch.isfinite(torch.stack(torch._foreach_norm(values, float("inf"))))
        ok = torch.isfinite(torch.stack(torch._foreach_norm(values, 2)))
        if not bool(ok.all()):
            for i in (~ok).nonzero()[:, 0].tolist():
                ok[i] = bool(torch.isfinite(values[i]).all())
        return ok


def all_finite(values: Sequence[torch.Tensor]) -> bool:
    """Whether every element of these tensors is finite (one host read on a GPU).

    On the CPU, for the price of one fused norm: the sum of their 2-norms is
    finite exactly when each is (norms are never negative), unless finite values
    overflow it, which :func:`finite_flags` then tells apart. The common answer
    (all finite) costs a third of the flags'."""
    values = list(values)
    if values[0].is_cuda:
        return bool(finite_flags(values).all())
    with torch.no_grad():
        norms = torch._foreach_norm(values, 2)
        total = norms[0] if len(norms) == 1 else torch.stack(norms).sum()
        if math.isfinite(float(total)):
            return True
        return bool(finite_flags(values).all())


def require_finite(what: str, *values: torch.Tensor) -> None:
    """Raise :class:`NonFiniteValue` unless every value is finite (one host read on a GPU).

    For state kept across iterations (learned networks, moving baselines): one
    update from a NaN target poisons every later iteration, so it is checked
    before anything changes, not in the pass's batched checks. The engine names
    the node (:func:`~.errors.located`).
    """
    if values and not all_finite(values):
        raise NonFiniteValue(
            f"{what} is not finite (NaN or inf); the update is refused and the "
            "learned state kept as it was"
        )
