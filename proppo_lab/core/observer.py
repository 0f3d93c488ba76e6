"""Observers: the one way to watch the engine work, costing nothing when nobody does.

An observer implements any of four events (subclass :class:`Observer` and
override those you need, or pass any object that has some of these methods):

* ``node_created(node)``: the program hit a site; ``node.output`` is set;
* ``message_sent(message, target)``: a message reached ``target`` (a node), or
  was handed to autograd (``target`` None);
* ``backward_started(tape)`` / ``backward_finished(tape)``: around a pass.

Attach with ``detach = pm.observe(obs)``, or for a block with
``with pm.observing(obs): ...``, which detaches even when the block raises.
Like Pyro's messengers an observer does not know which manager it watches; what
it needs is in the events (a node carries its site, instance and iteration).

Why a dispatch table: the manager emits an event per node and per message, so
the handlers are looked up once when an observer attaches, not per event, and
an event nobody listens to is never built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EVENTS = ("node_created", "message_sent", "backward_started", "backward_finished")


class Observer:
    """Base class of observers: four events, each a no-op until overridden."""

    def node_created(self, node) -> None:
        """The program hit a site: ``node`` is on the tape with its output."""

    def message_sent(self, message, target) -> None:
        """``message`` reached node ``target``; ``target`` None: handed to autograd."""

    def backward_started(self, tape) -> None:
        """A backward pass over ``tape`` (a tuple of nodes) begins."""

    def backward_finished(self, tape) -> None:
        """The backward pass over ``tape`` has delivered everything."""


def _handler(observer: Any, event: str) -> Callable | None:
    """The method ``observer`` handles ``event`` with; None where it only inherits the no-op."""
    method = getattr(observer, event, None)
    if method is None or getattr(method, "__func__", None) is getattr(Observer, event):
        return None
    return method


class Listeners:
    """The attached observers' handlers, one tuple per event, in attach order.

    The tuples are replaced (never mutated) when an observer comes or goes, so
    a pass that took one keeps a consistent set until it ends.
    """

    __slots__ = ("_attached",) + EVENTS

    def __init__(self):
        self._attached: list[Any] = []
        self._rebuild()

    def attach(self, observer: Any) -> Callable[[], None]:
        self._attached.append(observer)
        self._rebuild()

        def detach() -> None:
            if observer in self._attached:
                self._attached.remove(observer)
                self._rebuild()

        return detach

    def _rebuild(self) -> None:
        for event in EVENTS:
            handlers = (_handler(o, event) for o in self._attached)
            setattr(self, event, tuple(h for h in handlers if h is not None))
