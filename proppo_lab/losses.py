"""Training losses for modules fitted outside the propagators.

:func:`sobolev` is Sobolev training (Czarnecki, Osindero, Jaderberg, Swirszcz &
Pascanu 2017): fit a function's derivatives as well as its values. A target's
derivatives are extra information per sample, so the fit needs fewer samples.
:class:`~proppo_lab.propagators.SyntheticGradient` trains its critic with it
(option ``sobolev``); use it for distilling any differentiable function too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def sobolev(
    f: Callable[..., torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor | None,
    dy: torch.Tensor,
    *context: torch.Tensor,
    derivative_weight: float = 1.0,
) -> torch.Tensor:
    """The Sobolev loss of ``f`` at the rows of ``x``: mean squared error of the values
    plus ``derivative_weight`` times that of the derivatives d f / d x.

    ``f(x, *context)`` returns one value per row, shape (n,) or (n, 1); ``y`` are the
    target values (n,) (None: fit derivatives only), ``dy`` the target derivatives,
    shaped like ``x``. ``context``: further inputs of ``f`` whose derivatives are not
    fitted. The derivative is taken with ``create_graph=True``, so the loss trains
    ``f``'s parameters through it (a double backward).
    """
    if dy.shape != x.shape:
        raise ValueError(f"sobolev: dy has shape {tuple(dy.shape)}, x has {tuple(x.shape)}")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        values = f(x, *context)
        if values.dim() == 2 and values.shape[1] == 1:
            values = values.squeeze(1)
        if values.shape != x.shape[:1]:
            raise ValueError(
                f"sobolev: f must return one value per row, shape ({x.shape[0]},), "
                f"got {tuple(values.shape)}"
            )
        (grad,) = torch.autograd.grad(values.sum(), x, create_graph=True)
    per_row = ((grad - dy.detach()) ** 2).reshape(x.shape[0], -1).sum(1)
    loss = derivative_weight * per_row.mean()
    if y is not None:
        loss = loss + ((values - y.detach()) ** 2).mean()
    return loss


__all__ = ["sobolev"]
