"""Option schemas: what a propagator accepts, as plain data a UI can render.

An ``Option`` knows its type, default, range and choices; it validates a value
coming from a plan (possibly typed by a person into a form) and describes itself
as JSON so that a front end can build the form without knowing Python.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PlanError

_TYPES = {"float": float, "int": int, "bool": bool, "str": str}


@dataclass(frozen=True)
class Option:
    """One option of a propagator.

    ``type`` is one of "float", "int", "bool", "str". ``choices`` restricts
    strings; it may be a callable so that the choices can grow after the option
    is declared (baselines registered later by a user). ``min``/``max`` are
    inclusive bounds for numbers.
    """

    type: str
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | Callable[[], tuple] = field(default=())

    def __post_init__(self):
        if self.type not in _TYPES:
            raise ValueError(f"option type must be one of {sorted(_TYPES)}, not {self.type!r}")
        self.validate(self.default, "default")

    def validate(self, value: Any, where: str) -> Any:
        """Return the value, converted where lossless (int -> float), or raise PlanError."""
        kind = self.type
        # bool is a subclass of int in Python: reject True for an int/float option.
        if kind in ("int", "float") and isinstance(value, bool):
            raise PlanError(f"{where}: expected a number, got {value!r}")
        if kind == "float" and isinstance(value, int):
            value = float(value)
        if kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, _TYPES[kind]):
            raise PlanError(f"{where}: expected {kind}, got {type(value).__name__} {value!r}")
        if kind == "float" and not math.isfinite(value):
            raise PlanError(f"{where}: expected a finite number, got {value!r}")
        if self.min is not None and value < self.min:
            raise PlanError(f"{where}: {value!r} is below the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise PlanError(f"{where}: {value!r} is above the maximum {self.max}")
        choices = self.allowed()
        if choices and value not in choices:
            raise PlanError(f"{where}: {value!r} is not one of {list(choices)}")
        return value

    def allowed(self) -> tuple:
        return tuple(self.choices()) if callable(self.choices) else tuple(self.choices)

    def to_json(self) -> dict:
        out = {"type": self.type, "default": self.default, "doc": self.doc}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.allowed():
            out["choices"] = list(self.allowed())
        return out


def validate_options(
    schema: Mapping[str, Option], given: Mapping[str, Any] | None, where: str
) -> dict:
    """Fill defaults and check every given option against the schema."""
    given = dict(given or {})
    if not isinstance(given, dict):
        raise PlanError(f"{where}: options must be a mapping, got {type(given).__name__}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        known = ", ".join(sorted(schema)) or "none"
        hint = did_you_mean(unknown[0], schema)
        raise PlanError(
            f"{where}: unknown option(s) {unknown}; this propagator takes: {known}{hint}"
        )
    return {
        name: (
            opt.validate(given[name], f"{where} option '{name}'") if name in given else opt.default
        )
        for name, opt in schema.items()
    }


def did_you_mean(word: Any, choices) -> str:
    """``"; did you mean 'X'?"`` for the closest of ``choices`` to a misspelt name, or ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    if not close:  # a case slip ("tp", "backprop") is too short for difflib's ratio
        close = [c for c in choices if c.lower() == word.lower()]
    return f"; did you mean '{close[0]}'?" if close else ""
