"""The plan editor: the one place where the Lab's plan lives and changes.

The graph widget (clicks in the browser), :meth:`Lab.assign <proppo_lab.lab.app.Lab.assign>`,
plan files and the run loop all read and change the plan through one
:class:`PlanEditor`. It checks every change once, with the rules of ``core``:

* sites: :meth:`Plan.check_sites` (a plan names only sites the program has);
* kinds: the registry's :attr:`Entry.kinds <proppo_lab.core.registry.Entry.kinds>`
  (the rule the manager applies when it builds a propagator), so a propagator
  that cannot serve a node is refused when it is assigned, not when it runs;
* names and options: :meth:`Plan.assign` (through the registry).

An accepted change replaces the (immutable) plan and calls every listener with
``(plan, what)``, ``what`` being one line saying what changed. Nothing here
knows about widgets, threads or the front end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..core import registry
from ..core.errors import PlanError
from ..core.plan import Plan, SitePlan, Spec

Listener = Callable[[Plan, str], Any]


def site_kinds(source: Any) -> dict[str, str]:
    """``{site: node kind}`` of a graph source (anything with ``to_json(plan, view)``)."""
    nodes = source.to_json(Plan(), "rolled").get("nodes", [])
    return {
        n["site"]: n["kind"]
        for n in nodes
        if isinstance(n, dict) and n.get("kind") not in (None, "param")
    }


def _where(site: str, instance: int | None) -> str:
    return f"site '{site}'" + ("" if instance is None else f" instance {instance}")


class PlanEditor:
    """Holds a program's :class:`Plan`; every change is checked, then announced.

    ``sites``: the program's sites; ``kinds``: ``{site: "sample" | "forward" |
    "loss"}`` for the sites whose kind is known (others are checked when run).

    >>> editor = PlanEditor(["state", "cost"], {"state": "sample", "cost": "loss"})
    >>> editor.on_change(lambda plan, what: print(what))
    >>> editor.assign("state", "TP")
    site 'state': TP
    """

    def __init__(
        self,
        sites: Iterable[str],
        kinds: Mapping[str, str] | None = None,
        plan: Plan | Mapping[str, Any] | None = None,
        *,
        what: str = "the traced program",
    ):
        self._sites = tuple(str(s) for s in sites)
        self._kinds = dict(kinds or {})
        self._what = what
        self._listeners: list[Listener] = []
        self._plan = self.check(Plan.from_dict(plan))

    @classmethod
    def for_source(cls, source: Any, plan: Plan | Mapping[str, Any] | None = None) -> PlanEditor:
        """An editor for a graph source (a :class:`proppo_lab.trace.Graph`, or
        anything with ``sites`` and ``to_json(plan, view)``)."""
        return cls(getattr(source, "sites", None) or (), site_kinds(source), plan)

    # -- reading -----------------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        """The current plan (immutable: hold on to it, it never changes under you)."""
        return self._plan

    @property
    def sites(self) -> tuple[str, ...]:
        return self._sites

    def kind(self, site: str) -> str | None:
        """The node kind at ``site``, None when unknown."""
        return self._kinds.get(site)

    # -- checking ----------------------------------------------------------------------
    def check(self, plan: Plan) -> Plan:
        """``plan`` if the program can run it, else PlanError naming the node."""
        plan.check_sites(self._sites, self._what)
        for site, site_plan in plan.sites.items():
            self._check_kind(site, None, site_plan.spec.propagator)
            for instance, spec in site_plan.instances.items():
                self._check_kind(site, instance, spec.propagator)
        return plan

    def _check_site(self, site: str) -> None:
        # core's rule and wording (Plan.check_sites), also for a site the plan
        # does not name yet: ask it about a plan naming just that site
        Plan({site: SitePlan(Spec(""))}).check_sites(self._sites, self._what)

    def _check_kind(self, site: str, instance: int | None, propagator: str) -> None:
        kind = self._kinds.get(site)
        if kind is None:
            return
        where = _where(site, instance)
        if kind not in registry.NODE_KINDS:
            raise PlanError(
                f"{where} is a {kind} node; propagators serve "
                f"{' and '.join(registry.NODE_KINDS)} nodes ({propagator} refused)"
            )
        entry = registry.get(propagator)
        if kind not in entry.kinds:
            raise PlanError(
                f"{propagator} serves {' and '.join(entry.kinds)} nodes; {where} is a {kind} node"
            )

    # -- changing ----------------------------------------------------------------------
    def assign(
        self,
        site: str,
        propagator: str,
        options: Mapping[str, Any] | None = None,
        instance: int | None = None,
    ) -> Plan:
        """Serve ``site`` (or one instance of it) with ``propagator``; returns the new plan."""
        self._check_site(site)
        self._check_kind(site, instance, propagator)
        new = self._plan.assign(site, propagator, dict(options or {}), instance)
        return self._commit(new, f"{_where(site, instance)}: {propagator}")

    def clear(self, site: str, instance: int | None = None) -> Plan:
        """Drop the site's assignment (or one instance's override): the default serves it."""
        self._check_site(site)
        return self._commit(self._plan.clear(site, instance), f"{_where(site, instance)}: cleared")

    def set_plan(self, plan: Plan | Mapping[str, Any]) -> Plan:
        """Replace the whole plan (from a file, a notebook cell ...)."""
        return self._commit(self.check(Plan.from_dict(plan)), "plan replaced")

    def retarget(self, sites: Iterable[str], kinds: Mapping[str, str] | None = None) -> None:
        """The program was captured again (other particles or device): same plan,
        re-checked against the sites and kinds of the new capture."""
        old = self._sites, self._kinds
        self._sites, self._kinds = tuple(str(s) for s in sites), dict(kinds or {})
        try:
            self.check(self._plan)
        except PlanError:
            self._sites, self._kinds = old
            raise

    # -- listening ---------------------------------------------------------------------
    def on_change(self, listener: Listener, remove: bool = False) -> None:
        """Call ``listener(plan, what)`` after each accepted change.

        Every listener runs even when an earlier one raises; the change stands
        and the first error is raised afterwards.
        """
        if remove:
            self._listeners = [x for x in self._listeners if x is not listener]
        elif listener not in self._listeners:
            self._listeners.append(listener)

    def _commit(self, plan: Plan, what: str) -> Plan:
        self._plan = plan
        failed: BaseException | None = None
        for listener in list(self._listeners):
            try:
                listener(plan, what)
            except Exception as err:  # noqa: BLE001 - the others still hear of the change
                failed = failed or err
        if failed is not None:
            raise failed
        return plan
