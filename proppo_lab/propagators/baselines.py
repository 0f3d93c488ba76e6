"""Baselines for score-function (LR) estimators, pluggable by name.

A baseline is a function ``(cost, state, options) -> b`` returning a
per-particle tensor shaped like ``cost``. Subtracting ``b`` keeps the
estimator unbiased as long as ``b_i`` does not depend on particle i's own
sample; ``state`` is a dict kept per (site, instance) across iterations.

Register your own with ``@pl.baseline("name")``; it becomes a choice of the
``baseline`` option of LR, TP and GS at once. With
``@pl.baseline("name", inputs=True)`` it is called with a fourth argument, the
node's inputs as per-particle features (:func:`features`): what the node's
value was drawn from, never the value itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..core import particles
from ..core.finite import require_finite
from . import learned as learned_state

BaselineFn = Callable[[torch.Tensor, dict, dict], torch.Tensor]
_BASELINES: dict[str, BaselineFn] = {}


def baseline(name: str, *, replace: bool = False, inputs: bool = False):
    """Decorator registering a baseline function under ``name``.

    ``inputs=True``: the function takes a fourth argument, the node's inputs
    as a (particles, features) tensor (see :func:`features`).
    """

    def decorate(fn: BaselineFn) -> BaselineFn:
        if name in _BASELINES and not replace:
            raise ValueError(f"a baseline named {name!r} is already registered")
        fn.wants_inputs = inputs
        _BASELINES[name] = fn
        return fn

    return decorate


def wants_inputs(fn: BaselineFn) -> bool:
    return getattr(fn, "wants_inputs", False)


def features(node, cost: torch.Tensor, options: dict) -> torch.Tensor:
    """The node's inputs as (particles, features), detached: a sample node's
    distribution parameters (loc and scale, logits, ...), flattened per particle.

    No features (0 columns) for a forward node, whose only input is its own
    value, which a baseline must not see, nor where the score is taken under
    another density than the node's (``options["node_inputs"]`` False: GS's
    Gaussian fitted to all particles, which no particle's inputs describe).
    """
    particles = cost.shape[0]
    if node.dist is None or not options.get("node_inputs", True):
        return cost.new_zeros(particles, 0)
    columns = []
    for t in node.inputs:
        t = t.detach()
        if not t.is_floating_point():
            continue
        if t.dim() == 0 or t.shape[0] not in (1, particles):  # shared by all particles
            t = t.reshape(1, -1)
        columns.append(t.reshape(t.shape[0], -1).expand(particles, -1))
    return torch.cat(columns, 1)


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
    n = particles.count(cost.shape[-1])
    if n < 2:
        return torch.zeros_like(cost)
    return (particles.total(cost, -1, keepdim=True) - cost) / (n - 1)


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
    mean = particles.mean(cost.detach().reshape(-1))
    require_finite("the cost-to-go the moving baseline averages", mean)
    state["ema"] = mean if previous is None else decay * previous + (1 - decay) * mean
    return b


@baseline("learned", inputs=True)
def learned(
    cost: torch.Tensor, state: dict, options: dict[str, Any], inputs: torch.Tensor
) -> torch.Tensor:
    """A small network of the node's inputs, fitted online to the cost-to-go.

    b(x) = m + s net(x): m and s are moving averages (``decay``) of the mean
    and spread of earlier iterations' costs, so a large constant offset is
    absorbed at once (:func:`.learned.cost_scale`), and ``net`` (one hidden
    layer, ``hidden`` units, Adam at ``learning_rate``) is fitted to the
    standardised cost, one step per iteration *after* ``b`` is computed:
    only past iterations enter ``b``, and the features are what the node's
    value was drawn from, so it stays unbiased. The network's last layer
    starts at zero: the first iteration's baseline is 0, later ones the
    moving mean plus what the network learned.
    """
    decay = options.get("decay", 0.9)
    net, optimizer = learned_state.kept(
        state,
        "net",
        inputs.shape[1],
        lambda: learned_state.mlp(inputs.shape[1], options.get("hidden", 32), zero=True),
        options.get("learning_rate", 1e-2),
        cost,
    )
    mean, spread = learned_state.cost_scale(state, cost)
    with torch.no_grad():  # from earlier iterations only: this one's costs are fitted after
        b = mean + spread * net(inputs).squeeze(-1)
    mean, spread = learned_state.track_cost(state, cost, decay)
    c = cost.detach()
    loss = ((net(inputs).squeeze(-1) - (c - mean) / spread) ** 2).mean()
    learned_state.step(optimizer, loss)
    state["loss"] = loss.detach()
    return b
