"""Errors that say where propagation went wrong.

Every failure inside a propagator is reported against the node it happened at,
so a person looking at a 100-step loop knows which step, which site and which
propagator to look at.
"""

from __future__ import annotations


class PlanError(ValueError):
    """A plan names an unknown site or propagator, or gives a bad option."""


class Located(Exception):
    """An error that names a place in the program (site, instance, propagator, as
    far as known): machine-readable, so that the lab can highlight the node."""

    #: the attributes a UI reads, in order, beside the message
    FIELDS: tuple[str, ...] = ("site", "instance", "propagator")

    def as_dict(self) -> dict:
        """Plain data for a UI: what failed and where."""
        return {"message": str(self), **{f: getattr(self, f, None) for f in self.FIELDS}}


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
