"""What a ready program looks like: named parameters and a forward pass."""
from __future__ import annotations

from typing import Mapping

import torch


class System:
    """A program for the manager: ``system(pm)`` runs the forward pass, marking
    its sites and recording its losses; ``system.params`` holds the tensors
    it learns, by name. ``sites`` lists the site names, so plans can be
    checked before anything runs.
    """

    sites: tuple[str, ...] = ()

    def __init__(self, params: Mapping[str, torch.Tensor]):
        self.params = dict(params)

    def __call__(self, pm) -> None:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(iter(self.params.values())).device

    def analytic_gradient(self) -> dict[str, torch.Tensor] | None:
        """d E[cost] / d param where known in closed form; None otherwise."""
        return None


def leaf(value, device=None, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(value, device=device, dtype=dtype, requires_grad=True)
