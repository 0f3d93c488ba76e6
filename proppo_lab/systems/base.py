"""What a ready program looks like: named parameters and a forward pass."""

from __future__ import annotations

from collections.abc import Mapping

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

    def to(self, device) -> System:
        """Move every tensor the program holds to ``device`` (in place).

        Parameters become new leaves on the device (their values kept), as
        ``nn.Module.to`` would do for a module's parameters.
        """
        device = torch.device(device)
        for key, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))
            elif isinstance(value, torch.nn.Module):
                value.to(device)
        self.params = {
            k: (p.detach().to(device).requires_grad_(p.requires_grad) if p.device != device else p)
            for k, p in self.params.items()
        }
        return self

    def __repr__(self) -> str:
        """How to build this program again (used by the lab's 'copy as Python')."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"pl.systems.{type(self).__name__}({args})"

    def settings(self) -> dict:
        """Constructor arguments that rebuild this program: current parameter values
        and the plain-number attributes of the same name."""
        import inspect

        out = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name in ("self", "device", "dtype"):
                continue
            if name in self.params and self.params[name].dim() == 0:
                value = self.params[name].detach()
                digits = 16 if value.dtype == torch.float64 else 7  # shortest that round-trips
                out[name] = float(f"{float(value):.{digits}g}")
            elif isinstance(getattr(self, name, None), (int, float, str, bool)):
                out[name] = getattr(self, name)
        return out


def leaf(value, device=None, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(value, device=device, dtype=dtype, requires_grad=True)
