"""The observer protocol: what the manager tells those who watch it.

Subclass :class:`Observer` and override the events you need; attach with
``detach = pm.observe(obs)`` or ``with pm.observing(obs): ...``.
"""
from __future__ import annotations


class Observer:
    """Watches a PropagationManager; every event is a no-op unless overridden."""

    def node_created(self, node) -> None:
        """A node was recorded on the forward pass."""

    def message_sent(self, message, target) -> None:
        """A message was sent (``target`` None: handed to autograd)."""

    def backward_started(self, tape) -> None:
        """A backward pass over ``tape`` begins."""

    def backward_finished(self, tape) -> None:
        """A backward pass over ``tape`` ended without error."""
