"""Learned state: small networks and their optimisers kept in a node's state.

A propagator's state per (site, instance) (``bp.state(node)``) survives
iterations and plan switches, so a control variate or a baseline can be
trained online there, one optimiser step per backward pass. RELAX's surrogate
and the ``learned`` baseline keep their networks this way.

A network is built on first use on the device and dtype of the tensors it
serves, and rebuilt (fresh weights) when its *signature* changes: the node's
shape, device or dtype, or the options that shape the network. A rebuild is
a fresh start, not an error: a node whose shape changes has a new problem.

State is never updated from a non-finite value: :func:`track_cost` and
:func:`step` refuse NaN and infinity before changing anything (the error names
the node), so one bad iteration leaves the learned state as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
from torch import nn

from ..core.finite import require_finite


def zeroed(layer: nn.Linear) -> nn.Linear:
    """``layer`` with weight and bias at zero: a network ending in it starts as the
    constant 0, so a control variate or baseline starts as plain LR's."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(inputs: int, hidden: int, zero: bool = False, outputs: int = 1) -> nn.Sequential:
    """A one-hidden-layer tanh network with ``outputs`` outputs per row; ``zero``: its
    last layer starts at zero (:func:`zeroed`)."""
    first, last = nn.Linear(inputs, hidden), nn.Linear(hidden, outputs)  # in this order: same init
    return nn.Sequential(first, nn.Tanh(), zeroed(last) if zero else last)


def kept(
    state: dict,
    key: str,
    signature: Hashable,
    build: Callable[[], nn.Module],
    lr: float,
    like: torch.Tensor,
) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The module (and its Adam optimiser) kept under ``state[key]``.

    Built by ``build()`` on ``like``'s device and dtype the first time, and
    again whenever ``signature`` (with the device and dtype) changes.
    """
    signature = (signature, like.device, like.dtype, lr)
    held = state.get(key)
    if held is None or held[0] != signature:
        module = build().to(device=like.device, dtype=like.dtype)
        held = (signature, module, torch.optim.Adam(module.parameters(), lr=lr))
        state[key] = held
    return held[1], held[2]


def cost_scale(state: dict, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, spread) of earlier iterations' costs as tracked by :func:`track_cost`
    (0 and 1 before the first). A network predicts the cost as mean + spread *
    output: a large constant offset is absorbed at once, and the network's
    targets stay near unit scale whatever the cost's units."""
    if "cost_mean" not in state:
        return like.new_zeros(()), like.new_ones(())
    return state["cost_mean"], state["cost_spread"]


def track_cost(state: dict, cost: torch.Tensor, decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold this iteration's costs into the moving (mean, spread); returns the new pair."""
    c = cost.detach()
    require_finite("the cost-to-go a learned module is fitted to", c)
    mean, var = c.mean(), ((c - c.mean()) ** 2).mean()
    if "cost_mean" in state:
        mean = decay * state["cost_mean"] + (1 - decay) * mean
        var = decay * state["cost_var"] + (1 - decay) * var
    # a floor relative to the mean: constant costs must not blow the targets up
    spread = torch.sqrt(var + 1e-8 * (mean * mean + 1))
    state.update(cost_mean=mean, cost_var=var, cost_spread=spread)
    return mean, spread


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss``, touching only the optimiser's own parameters.

    Refused (NonFiniteValue, nothing changed) when the loss or a gradient is
    not finite. ``autograd.grad`` rather than ``loss.backward()``: the loss may hang on a
    graph that also reaches the program's parameters, whose ``.grad`` must
    hold the gradient estimate and nothing else.
    """
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    require_finite(
        "a learned module's training loss or its gradient",
        loss.detach(),
        *(g for g in grads if g is not None),
    )
    for p, g in zip(params, grads):
        p.grad = g
    optimizer.step()


#: the kind of the diagnostic note that carries a learned module's training loss
#: (the Lab plots these per site)
LOSS_NOTE = "learned_loss"


def report(bp, node, state: dict, loss: torch.Tensor) -> None:
    """Keep this pass's training loss in the node's state and show it to observers."""
    state["loss"] = loss.detach()
    bp.note(node, LOSS_NOTE, state["loss"])


__all__ = ["LOSS_NOTE", "cost_scale", "kept", "mlp", "report", "step", "track_cost", "zeroed"]
