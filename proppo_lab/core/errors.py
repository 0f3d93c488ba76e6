"""Errors that say where propagation went wrong.

Every failure inside a propagator is reported against the node it happened at,
so a person looking at a 100-step loop knows which step, which site and which
propagator to look at. An error raised in the user's own code keeps its type
(:func:`located`): ``except TypeError`` still catches a TypeError raised in a
propagated function, and ``except PropagationError`` catches it too.
"""

from __future__ import annotations

from typing import Any


class Located(Exception):
    """An error that names a place in the program (site, instance, propagator, as
    far as known): machine-readable, so that the lab can highlight the node."""

    #: the attributes a UI reads, in order, beside the message
    FIELDS: tuple[str, ...] = ("site", "instance", "propagator")

    def as_dict(self) -> dict:
        """Plain data for a UI: what failed and where."""
        return {"message": str(self), **{f: getattr(self, f, None) for f in self.FIELDS}}


class PlanError(Located, ValueError):
    """A plan names an unknown site or propagator, or gives a bad option.

    ``site`` and ``propagator`` name what it was about, where known (else None).
    """

    FIELDS = ("site", "propagator")

    def __init__(self, message: str, *, site: str | None = None, propagator: str | None = None):
        super().__init__(message)
        self.site = site
        self.propagator = propagator


class PropagationError(Located, RuntimeError):
    """A propagator failed at a node; names the site, instance and propagator."""

    FIELDS = ("site", "instance", "propagator", "phase", "iteration")

    def __init__(
        self,
        message: str,
        *,
        site: str,
        instance: int,
        propagator: str,
        phase: str = "",
        iteration: int | None = None,
    ):
        self.site = site
        self.instance = instance
        self.propagator = propagator
        self.phase = phase
        self.iteration = iteration
        where = f"site '{site}' instance {instance} (propagator {propagator}"
        if phase:
            where += f", {phase} pass"
        if iteration is not None:
            where += f", iteration {iteration}"
        where += ")"
        super().__init__(f"{where}: {message}")

    @classmethod
    def at(cls, node, message: str, *, phase: str = "", iteration: int | None = None):
        """This error at ``node``: its site, instance and propagator name the place."""
        return cls(
            message,
            site=node.site,
            instance=node.instance,
            propagator=node.propagator_name,
            phase=phase,
            iteration=iteration,
        )


class NonFiniteError(PropagationError):
    """A message or gradient at a node holds NaN or infinity."""


class NonFiniteValue(ArithmeticError):
    """NaN or infinity found where the node is not known (inside learned state, a
    baseline): :func:`located` turns it into a :class:`NonFiniteError` at the node
    whose propagator raised it."""


def located(
    err: BaseException,
    node,
    *,
    phase: str,
    iteration: int | None,
    message: str | None = None,
) -> PropagationError:
    """``err``, raised at ``node``, as an error that names the place and keeps its type.

    The result is an instance of both ``type(err)`` and :class:`PropagationError`
    (a subclass of the two, made once per type), so the user's ``except
    TypeError`` and the Lab's ``except PropagationError`` both catch it; the
    original's attributes are copied onto it and it is raised ``from err``. A
    type that cannot be combined so (its instance layout, a ``__new__`` that
    needs other arguments) gives a plain PropagationError. A PropagationError
    is returned as it is: it already names its place.
    """
    if isinstance(err, PropagationError):
        return err
    text = str(err) if message is None else message
    where = {
        "site": node.site,
        "instance": node.instance,
        "propagator": node.propagator_name,
        "phase": phase,
        "iteration": iteration,
    }
    if isinstance(err, NonFiniteValue):
        return NonFiniteError(text, **where)
    try:
        out = _located_type(type(err))(text, **where)
    except Exception:  # this type does not combine with PropagationError
        return PropagationError(f"{type(err).__name__}: {text}", **where)
    for key, value in vars(err).items():
        if key not in where:
            setattr(out, key, value)
    return out


_LOCATED_TYPES: dict[type, type] = {}


def _located_type(kind: type) -> type:
    """The subclass of ``kind`` and PropagationError; raises TypeError when there is none."""
    made = _LOCATED_TYPES.get(kind)
    if made is None:
        made = _LOCATED_TYPES[kind] = type(
            kind.__name__,
            (PropagationError, kind),
            {
                "__module__": __name__,
                "__qualname__": f"located.{kind.__qualname__}",
                "__doc__": f"A {kind.__name__} raised at a node, with the node named.",
                # PropagationError's message, not e.g. KeyError's quoting of it
                "__str__": BaseException.__str__,
                "__reduce__": _reduce,
                "original_type": kind,
            },
        )
    return made


def _reduce(err: PropagationError) -> tuple[Any, ...]:
    """Pickle a located error by its original type (its own class is made at run time)."""
    return _rebuild, (type(err).original_type, err.args[0]), dict(vars(err))


def _rebuild(kind: type, message: str) -> PropagationError:
    """A located error of ``kind`` with ``message``; pickle then restores its attributes."""
    out = _located_type(kind)("", site="", instance=0, propagator="")
    out.args = (message,)
    return out
