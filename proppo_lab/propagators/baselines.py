"""Baselines for score-function (LR) estimators, pluggable by name.

A baseline is a function ``(cost, state, options) -> b`` returning a
per-particle tensor shaped like ``cost``. Subtracting ``b`` keeps the
estimator unbiased as long as ``b_i`` does not depend on particle i's own
sample; ``state`` is a dict kept per (site, instance) across iterations.

Register your own with ``@pl.baseline("name")``; it becomes a choice of the
``baseline`` option of LR, TP and GS at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

BaselineFn = Callable[[torch.Tensor, dict, dict], torch.Tensor]
_BASELINES: dict[str, BaselineFn] = {}


def baseline(name: str, *, replace: bool = False):
    """Decorator registering a baseline function under ``name``."""

    def decorate(fn: BaselineFn) -> BaselineFn:
        if name in _BASELINES and not replace:
            raise ValueError(f"a baseline named {name!r} is already registered")
        _BASELINES[name] = fn
        return fn

    return decorate


def names() -> tuple[str, ...]:
    return tuple(_BASELINES)


def get(name: str) -> BaselineFn:
    try:
        return _BASELINES[name]
    except KeyError:
        raise KeyError(f"unknown baseline {name!r}; registered: {', '.join(_BASELINES)}") from None


@baseline("loo")
def leave_one_out(cost: torch.Tensor, state: dict, options: dict[str, Any]) -> torch.Tensor:
    """Mean cost of the other particles (as in Proppo): unbiased within one iteration.

    Particles run along the last dimension, so a stack of nodes' costs works too.
    """
    n = cost.shape[-1]
    if n < 2:
        return torch.zeros_like(cost)
    return (cost.sum(-1, keepdim=True) - cost) / (n - 1)


@baseline("none")
def no_baseline(cost: torch.Tensor, state: dict, options: dict[str, Any]) -> torch.Tensor:
    return torch.zeros_like(cost)


@baseline("ema")
def moving_average(cost: torch.Tensor, state: dict, options: dict[str, Any]) -> torch.Tensor:
    """Exponential moving average of the mean cost over earlier iterations.

    Only past iterations enter, so it is unbiased; it is zero on the first.
    """
    decay = options.get("decay", 0.9)
    previous = state.get("ema")
    b = torch.zeros_like(cost) if previous is None else previous.expand_as(cost)
    mean = cost.detach().mean()
    state["ema"] = mean if previous is None else decay * previous + (1 - decay) * mean
    return b
