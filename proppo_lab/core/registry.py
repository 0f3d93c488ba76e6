"""The propagator registry: names a plan can use, with what a UI needs to show them.

It lives in ``core`` because the manager resolves plan names through it; the
built-in propagators in ``proppo_lab.propagators`` register themselves here
exactly as a user's own propagator does, through :func:`register`. The
registry imports them itself the first time it is read or written, so the
engine's defaults ("RP", "Backprop") resolve in a script that imports only
``proppo_lab.core``, whatever was imported before.
"""

from __future__ import annotations

import inspect
import re
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PlanError
from .options import Option, did_you_mean, validate_options

NODE_KINDS = ("sample", "forward")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,31}$")


@dataclass(frozen=True)
class Entry:
    """A registered propagator: how to build it and how to present it."""

    name: str
    display: str
    colour: str
    doc: str
    options: Mapping[str, Option]
    kinds: tuple[str, ...]
    factory: Callable[..., Any] = field(repr=False)
    builtin: bool = False

    def build(self, options: Mapping[str, Any]):
        """A propagator object for already-validated options."""
        prop = self.factory(**options)
        prop.entry = self
        prop.options = dict(options)
        return prop

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "display": self.display,
            "colour": self.colour,
            "doc": self.doc,
            "kinds": list(self.kinds),
            "builtin": self.builtin,
            "options": {k: o.to_json() for k, o in self.options.items()},
        }


_REGISTRY: dict[str, Entry] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    """Register the built-in propagators, once (they call :func:`register` as they load)."""
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True  # first: the built-ins' own register() calls come back here
        from .. import propagators  # noqa: F401  (registers as it imports)


#: weak references to the callbacks told of every change (see :func:`subscribe`)
_LISTENERS: list[weakref.ref] = []


def subscribe(callback: Callable[[], Any]) -> Callable[[], None]:
    """Call ``callback()`` after every :func:`register` and :func:`unregister`.

    Returns a function that unsubscribes. The callback is held weakly (a bound
    method through :class:`weakref.WeakMethod`), so a displayed Lab listening
    here can still be garbage-collected; its subscription then lapses.
    """
    ref = weakref.WeakMethod(callback) if inspect.ismethod(callback) else weakref.ref(callback)
    _LISTENERS.append(ref)

    def unsubscribe() -> None:
        if ref in _LISTENERS:
            _LISTENERS.remove(ref)

    return unsubscribe


def _announce() -> None:
    for ref in list(_LISTENERS):
        callback = ref()
        if callback is None:
            _LISTENERS.remove(ref)
            continue
        try:
            callback()
        except Exception as err:  # noqa: BLE001 - a broken listener must not undo a register
            warnings.warn(f"a registry listener failed: {type(err).__name__}: {err}", stacklevel=3)


def register(
    name: str,
    *,
    display: str | None = None,
    colour: str = "#888888",
    doc: str | None = None,
    options: Mapping[str, Option] | None = None,
    kinds: tuple[str, ...] = ("sample",),
    replace: bool = False,
    _builtin: bool = False,
):
    """Register a propagator class, or a function returning a propagator.

    Used as a decorator, on a :class:`Propagator` subclass or on a function
    that assembles one::

        @pl.register("LRema", colour="#aa3377",
                     options={"decay": pl.Option("float", 0.99, min=0.0, max=1.0)})
        def lr_ema(decay: float):
            return pl.Composite([pl.ScoreFunction("ema", {"decay": decay})], draw="sample")

    The decorated callable is called with the validated options as keyword
    arguments. ``kinds`` says which nodes it can serve ("sample", "forward").
    """
    if not _NAME.match(name):
        raise ValueError(
            f"propagator name {name!r} must start with a letter and use "
            "letters, digits, '_' or '-' (at most 32 characters)"
        )
    if not _COLOUR.match(colour):
        raise ValueError(f"propagator {name!r}: colour must look like '#1f77b4', got {colour!r}")
    bad = [k for k in kinds if k not in NODE_KINDS]
    if bad or not kinds:
        raise ValueError(
            f"propagator {name!r}: kinds must be drawn from {NODE_KINDS}, got {kinds!r}"
        )
    schema = dict(options or {})
    for key, opt in schema.items():
        if not isinstance(opt, Option):
            raise TypeError(f"propagator {name!r}: option {key!r} must be a pl.Option")

    def decorate(factory):
        _load_builtins()  # a user's name must not shadow a built-in that loads later
        if name in _REGISTRY and not replace:
            raise ValueError(
                f"a propagator named {name!r} is already registered; "
                "pass replace=True to redefine it"
            )
        text = doc if doc is not None else inspect.cleandoc(factory.__doc__ or "")
        _REGISTRY[name] = Entry(
            name=name,
            display=display or name,
            colour=colour.lower(),
            doc=text,
            options=schema,
            kinds=tuple(kinds),
            factory=factory,
            builtin=_builtin,
        )
        _announce()
        return factory

    return decorate


def unregister(name: str) -> None:
    """Remove a user's propagator (built-ins stay)."""
    _load_builtins()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise KeyError(f"no propagator named {name!r}")
    if entry.builtin:
        raise ValueError(f"{name!r} is built in and cannot be unregistered")
    del _REGISTRY[name]
    _announce()


def get(name: str) -> Entry:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        hint = did_you_mean(name, _REGISTRY)
        raise PlanError(
            f"unknown propagator {name!r}{hint} (registered: {', '.join(names())})"
        ) from None


def names() -> list[str]:
    _load_builtins()
    return list(_REGISTRY)


def entries() -> list[Entry]:
    _load_builtins()
    return list(_REGISTRY.values())


def catalogue() -> list[dict]:
    """Every registered propagator as JSON: the palette a UI shows."""
    _load_builtins()
    return [e.to_json() for e in _REGISTRY.values()]


def check(name: str, options: Mapping[str, Any] | None, where: str) -> dict:
    """Validate a propagator name and its options; returns options with defaults."""
    return validate_options(get(name).options, options, f"{where} ({name})")
