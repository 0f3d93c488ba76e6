"""The browser -> kernel direction of the graph widget: validated messages only.

Every custom message goes through :func:`.protocol.parse` and becomes one
action; :meth:`FrontendMessages.handle_message` applies it (a click's
assignment becomes a plan-editor call) and shows a refusal in the widget's
error banner instead of raising. Direct state writes from the browser are
refused (:meth:`FrontendMessages.set_state`), so a page cannot set ``plan``
behind the validator's back. Others hear about a closed banner through
:meth:`FrontendMessages.on_dismiss` (the Lab closes its own banner too).

A mixin of :class:`~.graph_widget.GraphWidget`, whose traits (``selected``,
``view``, ``error``, ``status``, ``graph``) and editor it drives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..contracts import MAX_UNROLLED
from ..core.errors import PlanError
from . import protocol

log = logging.getLogger(__name__)


def error_dict(
    message: str,
    site: str | None = None,
    instance: int | None = None,
    propagator: str | None = None,
) -> dict:
    return {"message": message, "site": site, "instance": instance, "propagator": propagator}


class FrontendMessages:
    """Parse, check and apply the front end's messages (see the module docstring)."""

    #: Trait names the browser may write directly. None: it speaks through messages.
    _frontend_writable: frozenset = frozenset()
    _dismiss_callbacks: list[Callable[[], Any]]  # the widget's __init__ makes the list

    def on_dismiss(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` when the person closes the error banner (after the
        widget cleared its own error)."""
        self._dismiss_callbacks.append(callback)

    def _on_frontend_msg(self, _widget: Any, content: Any, buffers: Any = None) -> None:
        """ipywidgets on_msg callback: nothing raised here may reach the kernel."""
        self.handle_message(content, buffers)

    def handle_message(self, content: Any, buffers: Any = None) -> bool:
        """Validate and apply one front-end message; True when it was applied.

        Invalid messages set :attr:`error` (shown in the banner) and return
        False; this method never raises.
        """
        action = None
        try:
            action = protocol.parse(content, buffers)
            self._apply(action)
            return True
        except protocol.ProtocolError as err:
            self._set_error(err.as_dict())
        except PlanError as err:  # refused by the plan editor: name the node it was about
            self._set_error(
                error_dict(
                    str(err),
                    getattr(action, "site", None),
                    getattr(action, "instance", None),
                    getattr(action, "propagator", None),
                )
            )
        except Exception as err:  # noqa: BLE001 - a bad message must never crash the kernel
            log.exception("graph widget: message failed")
            self._set_error(
                error_dict(f"could not handle the message: {type(err).__name__}: {err}")
            )
        return False

    def _set_error(self, error: dict) -> None:
        # The view reverts an optimistic recolour when ``error`` changes; an error
        # equal to the one shown would not sync, so clear it first.
        if error == self.error:
            self.error = {}
        self.error = error

    def _apply(self, action: protocol.Action) -> None:
        if isinstance(action, protocol.Svg):
            self.svg = action.svg
        elif isinstance(action, protocol.Select):
            if action.node and action.node not in self._node_ids():
                raise protocol.ProtocolError(f"unknown node {protocol._short(action.node)}")
            self.selected = action.node
        elif isinstance(action, protocol.View):
            self._set_view(action.view)
        elif isinstance(action, protocol.Dismiss):
            self.clear_error()
            for callback in list(self._dismiss_callbacks):
                callback()
        elif isinstance(action, protocol.Overlay):
            try:
                self.overlay_metric = action.metric
            except ValueError as err:
                raise protocol.ProtocolError(str(err)) from None
        elif isinstance(action, protocol.Clear):
            self.editor.clear(action.site, action.instance)
        else:
            self.editor.assign(action.site, action.propagator, action.options, action.instance)

    def _set_view(self, view: str) -> None:
        size = sum(
            int(n.get("count") or 1) for n in self.graph.get("nodes", []) if isinstance(n, dict)
        )
        if view == "unrolled" and size > MAX_UNROLLED:
            raise protocol.ProtocolError(
                f"the unrolled graph would have {size} nodes, more than the view "
                f"draws ({MAX_UNROLLED}); stay in the rolled view, or capture "
                "the program with fewer steps"
            )
        self.view = view
        self.status = f"{self.view} view"

    def set_state(self, sync_data: dict) -> None:
        """Refuse direct state writes from the browser (it must send messages)."""
        allowed = {k: v for k, v in sync_data.items() if k in self._frontend_writable}
        refused = sorted(set(sync_data) - set(allowed))
        if refused:
            self.error = error_dict(
                "the page tried to set "
                + ", ".join(refused[:5])
                + " directly; changes go through validated messages"
            )
        if allowed:
            super().set_state(allowed)
