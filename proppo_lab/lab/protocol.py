"""The graph widget's front-end -> kernel message protocol, validated strictly.

The browser is not trusted: every custom message the graph view sends is
checked here against a fixed schema before the kernel acts on it. Checking is
pure data inspection -- no ``eval``, no attribute look-ups driven by the
message, no imports -- and every failure is a :class:`ProtocolError` whose
text is shown to the person in the widget's error banner.

Messages (``widget.send(...)`` in TypeScript)::

    {"action": "select", "node": <node id | "">}
    {"action": "assign", "site": <site>, "instance": <int >= 0 | null>,
     "propagator": <registered name>, "options": {<option>: <bool|int|float|str>}}
    {"action": "clear",  "site": <site>, "instance": <int >= 0 | null>}
    {"action": "view",   "view": "rolled" | "unrolled"}
    {"action": "svg",    "svg": <the rendered <svg> markup, at most 5 MB>}
    {"action": "dismiss"}                 (the person closed the error banner)
    {"action": "overlay", "metric": <overlay name | "">}

Each message must carry exactly these keys, and becomes one small frozen
dataclass (:class:`Select`, :class:`Assign`, :class:`Clear`, :class:`View`,
:class:`Svg`, :class:`Dismiss`, :class:`Overlay`). Sites, propagator names,
node kinds and option values are then
checked by the plan editor with core's own rules (:meth:`proppo_lab.Plan.assign`
and :meth:`proppo_lab.Plan.check_sites`, which raise :class:`proppo_lab.PlanError`),
so the protocol and a plan written by hand obey the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..contracts import MAX_SVG, VIEWS
from ..core.errors import Located
from ..core.plan import freeze

#: Longest string accepted for names (sites, node ids, propagators, options).
MAX_NAME = 256
#: Longest string option value.
MAX_TEXT = 4096
#: Most options one assign may carry.
MAX_OPTIONS = 64
#: Largest instance index accepted (a loop longer than this is not drawn unrolled anyway).
MAX_INSTANCE = 10**9

SCHEMA: dict[str, dict[str, str]] = {
    "select": {"node": "node"},
    "assign": {
        "site": "site",
        "instance": "instance",
        "propagator": "propagator",
        "options": "options",
    },
    "clear": {"site": "site", "instance": "instance"},
    "view": {"view": "view"},
    "svg": {"svg": "svg"},
    "dismiss": {},
    "overlay": {"metric": "metric"},
}


class ProtocolError(Located, ValueError):
    """A message from the front end does not follow the protocol.

    ``site``, ``instance`` and ``propagator`` are filled in when the message
    got far enough to name them, so the view can highlight the node.
    """

    def __init__(
        self,
        message: str,
        *,
        site: str | None = None,
        instance: int | None = None,
        propagator: str | None = None,
    ):
        super().__init__(message)
        self.site = site
        self.instance = instance
        self.propagator = propagator


@dataclass(frozen=True)
class Select:
    """Select a node (``""``: none)."""

    node: str


@dataclass(frozen=True)
class Assign:
    """Serve a site (or one instance of it) with a registered propagator."""

    site: str
    instance: int | None
    propagator: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        freeze(self, "options")


@dataclass(frozen=True)
class Clear:
    """Drop a site's assignment (or one instance's override)."""

    site: str
    instance: int | None


@dataclass(frozen=True)
class View:
    """Draw the graph rolled or unrolled."""

    view: str


@dataclass(frozen=True)
class Svg:
    """The picture the browser laid out, kept for static export only."""

    svg: str


@dataclass(frozen=True)
class Dismiss:
    """The person closed the error banner: the kernel forgets the error too."""


@dataclass(frozen=True)
class Overlay:
    """Colour the nodes by a live metric (``""``: by propagator again)."""

    metric: str


#: A validated message: one of the seven actions.
Action = Select | Assign | Clear | View | Svg | Dismiss | Overlay


def _short(value: Any, limit: int = 60) -> str:
    """A safe, bounded description of an untrusted value for an error message."""
    try:
        text = (
            repr(value)
            if isinstance(value, (str, int, float, bool, type(None)))
            else f"<{type(value).__name__}>"
        )
    except Exception:  # pragma: no cover - repr of plain types does not fail
        text = "<value>"
    return text if len(text) <= limit else text[:limit] + "...'"


def _name(
    value: Any,
    what: str,
    limit: int = MAX_NAME,
    *,
    allow_empty: bool = False,
    too_long: str = "too long",
) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ProtocolError(f"{what} must not be empty")
    if len(value) > limit:
        raise ProtocolError(f"{what} is {too_long} ({len(value)} characters, at most {limit})")
    return value


def _instance(value: Any, site: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(
            f"instance must be a non-negative integer or null, got "
            f"{type(value).__name__} {_short(value)}",
            site=site,
        )
    if value < 0:
        raise ProtocolError(f"instance must be non-negative, got {value}", site=site)
    if value > MAX_INSTANCE:
        raise ProtocolError(f"instance {value} is out of range", site=site)
    return value


def _option_value(key: str, value: Any, site: str, propagator: str) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise ProtocolError(f"option '{key}' is out of range", site=site, propagator=propagator)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError(
                f"option '{key}' must be a finite number, got {value!r}",
                site=site,
                propagator=propagator,
            )
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ProtocolError(
                f"option '{key}' is too long ({len(value)} characters)",
                site=site,
                propagator=propagator,
            )
        return value
    raise ProtocolError(
        f"option '{key}' must be a bool, number or string, got {type(value).__name__}",
        site=site,
        propagator=propagator,
    )


def parse(content: Any, buffers: Any = None) -> Action:
    """Validate one front-end message; return its action or raise ProtocolError.

    Only the message's shape, types and sizes are checked here. Whether the
    site exists, the propagator is registered and can serve the node, and the
    options are in range is the plan editor's business
    (:class:`proppo_lab.lab.plan_editor.PlanEditor`, with core's rules), so a
    click and a plan written by hand obey the same rules.
    """
    if buffers:
        raise ProtocolError("messages must not carry binary buffers")
    if not isinstance(content, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(content).__name__}")
    action = content.get("action")
    if not isinstance(action, str) or action not in SCHEMA:
        raise ProtocolError(
            f"unknown action {_short(action)}; expected one of {', '.join(sorted(SCHEMA))}"
        )
    expected = set(SCHEMA[action]) | {"action"}
    keys = set(content)
    if not all(isinstance(k, str) for k in keys):
        raise ProtocolError(f"'{action}' message keys must be strings")
    missing, extra = sorted(expected - keys), sorted(keys - expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(_short(k, 40) for k in extra[:5])}")
        raise ProtocolError(
            f"'{action}' message: {'; '.join(parts)} (expected keys: {', '.join(sorted(expected))})"
        )

    if action == "select":
        return Select(_name(content["node"], "node id", allow_empty=True))

    if action == "view":
        view = content["view"]
        if not isinstance(view, str) or view not in VIEWS:
            raise ProtocolError(f"view must be 'rolled' or 'unrolled', got {_short(view)}")
        return View(view)

    if action == "dismiss":
        return Dismiss()
    if action == "overlay":
        return Overlay(_name(content["metric"], "overlay metric", allow_empty=True))

    if action == "svg":
        svg = _name(content["svg"], "svg", MAX_SVG, allow_empty=True, too_long="too large")
        if svg and not svg.lstrip().startswith("<svg"):
            raise ProtocolError("svg must be an <svg> element")
        return Svg(svg)

    site = _name(content["site"], "site")
    instance = _instance(content["instance"], site)
    if action == "clear":
        return Clear(site, instance)

    propagator = _name(content["propagator"], "propagator")
    options = content["options"]
    if not isinstance(options, dict):
        raise ProtocolError(
            f"options must be an object, got {type(options).__name__}",
            site=site,
            instance=instance,
            propagator=propagator,
        )
    if len(options) > MAX_OPTIONS:
        raise ProtocolError(
            f"too many options ({len(options)})",
            site=site,
            instance=instance,
            propagator=propagator,
        )
    clean = {}
    for key, value in options.items():
        key = _name(key, "option name")
        clean[key] = _option_value(key, value, site, propagator)
    return Assign(site, instance, propagator, clean)
