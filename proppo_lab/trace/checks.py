"""Where a non-finite value first appears: site, instance, propagator, iteration.

The engine already raises :class:`proppo_lab.NonFiniteError` (naming the
node) for non-finite messages during backward. This module adds the two ends
around it:

* :class:`ForwardCheck`, an observer that checks every node's forward value:
  collected as nodes are created, checked together when the backward pass
  starts (one fused norm and one host read per iteration, none per node).
  The error names the first node whose value is not finite.
* :func:`report`, which turns the error (or a gradient check) into plain
  data a table, a UI or a JSON file can hold.
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.errors import NonFiniteError, PropagationError
from ..core.finite import all_finite, finite_flags
from ..core.observer import Observer


class ForwardCheck(Observer):
    """Observer: raise NonFiniteError at the first node whose value holds NaN/inf.

    Attach it like any observer (``with pm.observing(ForwardCheck()):``);
    ``ForwardCheck(pm)`` is short for ``pm.observe(ForwardCheck())`` with the
    detach function kept for :meth:`detach`.

    Values are collected as nodes are created and checked together when the
    backward pass starts: one fused max-norm over all of them and one host
    read per iteration, on the CPU and the GPU alike. If the forward pass
    fails before that (a later op choking on the NaN), :meth:`explain`
    turns the failure into the report of the first non-finite node.

    ``lazy=True`` looks at the losses first and scans the other nodes only when
    a loss is not finite (a NaN that never reaches a loss cannot harm the
    gradient, and one that does is found at its source); the lab uses it to
    keep the check cheap on long runs of small nodes.
    """

    def __init__(self, pm=None, lazy: bool = False):
        self.lazy = lazy
        self._pending: list[tuple[Any, torch.Tensor]] = []
        self._detach = pm.observe(self) if pm is not None else None

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def node_created(self, node) -> None:
        if node.index == 0:  # a new iteration: values of a discarded one are stale
            self._pending = []
        value = node.output
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            self._pending.append((node, value))

    def backward_started(self, tape) -> None:
        self.flush()

    def flush(self) -> None:
        """Check the collected values now; raise for the first bad node."""
        if (
            self.lazy
            and self._pending
            and _all_finite([v for node, v in self._pending if node.kind == "loss"])
        ):
            self._pending = []
            return
        bad = self._first_bad()
        if bad is not None:
            self._raise(bad)

    def explain(self, err: BaseException) -> BaseException:
        """The error to report for a failed iteration: the first non-finite
        forward value when there was one, else ``err`` itself."""
        bad = self._first_bad()
        if bad is None:
            return err
        try:
            self._raise(bad)
        except NonFiniteError as found:
            return found

    def _first_bad(self):
        pending, self._pending = self._pending, []
        if not pending:
            return None
        values = [value for _, value in pending]
        if all_finite(values):
            return None
        ok = finite_flags(values)
        return pending[int((~ok).nonzero()[0])][0]

    def _raise(self, node):
        self._pending = []
        raise NonFiniteError.at(
            node,
            "forward value is not finite (NaN or inf)",
            phase="forward",
            iteration=node.iteration,
        )


def _all_finite(values: list[torch.Tensor]) -> bool:
    return bool(values) and all_finite(values)


def report(err: PropagationError, **extra) -> dict:
    """Plain data for an error that names a node (plus e.g. the plan's name)."""
    out = err.as_dict()
    out["type"] = type(err).__name__
    out.update(extra)
    return out


def gradient_report(name: str, iteration: int, **extra) -> dict:
    """A non-finite parameter gradient that no node check caught."""
    return {
        "type": "NonFiniteGradient",
        "message": f"gradient of '{name}' is not finite at iteration {iteration}",
        "site": None,
        "instance": None,
        "propagator": None,
        "phase": "gradient",
        "param": name,
        "iteration": iteration,
        **extra,
    }
