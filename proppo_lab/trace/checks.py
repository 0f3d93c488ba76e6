"""Where a non-finite value first appears: site, instance, propagator, iteration.

The engine already raises :class:`proppo_lab.NonFiniteError` (naming the
node) for non-finite messages during backward. This module adds the two ends
around it:

* :class:`ForwardCheck`, an observer that checks every node's forward value
  as it is created. On the CPU it raises at once; on a GPU it keeps the flags
  as device tensors and checks them all in ``backward_started`` (one host
  sync per iteration, none per node). Either way the error names the first
  node whose value is not finite.
* :func:`report`, which turns the error (or a gradient check) into plain
  data a table, a UI or a JSON file can hold.
"""
from __future__ import annotations

from typing import Any

import torch

from ..core.errors import NonFiniteError, PropagationError


class ForwardCheck:
    """Observer: raise NonFiniteError at the first node whose value holds NaN/inf."""

    def __init__(self, pm=None):
        self.pm = pm
        self._pending: list[tuple[Any, torch.Tensor]] = []
        self._detach = pm.observe(self) if pm is not None else None

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def _iteration(self):
        return self.pm.iteration if self.pm is not None else None

    def node_created(self, node) -> None:
        if node.index == 0:       # a new iteration: flags of a discarded one are stale
            self._pending = []
        value = node.output
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return
        if value.is_cuda:
            self._pending.append((node, torch.isfinite(value).all()))
        elif not bool(torch.isfinite(value).all()):
            self._raise(node)

    def backward_started(self, tape) -> None:
        self.flush()

    def flush(self) -> None:
        """Check the deferred (GPU) flags now; raise for the first bad node."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        ok = torch.stack([flag for _, flag in pending]).cpu()
        if not bool(ok.all()):
            self._raise(pending[int((~ok).nonzero()[0])][0])

    def _raise(self, node):
        self._pending = []
        raise NonFiniteError("forward value is not finite (NaN or inf)", site=node.site,
                             instance=node.instance, propagator=node.propagator_name,
                             phase="forward", iteration=self._iteration())


def report(err: PropagationError, **extra) -> dict:
    """Plain data for an error that names a node (plus e.g. the plan's name)."""
    out = err.as_dict()
    out["type"] = type(err).__name__
    out.update(extra)
    return out


def gradient_report(name: str, iteration: int, **extra) -> dict:
    """A non-finite parameter gradient that no node check caught."""
    return {"type": "NonFiniteGradient", "message": f"gradient of '{name}' is not finite "
            f"at iteration {iteration}", "site": None, "instance": None, "propagator": None,
            "phase": "gradient", "param": name, "iteration": iteration, **extra}
