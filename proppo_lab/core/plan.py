"""Plans: which propagator serves which site, as plain JSON-able data.

A plan lives outside the program, so the same program runs under any plan and a
UI can edit, save and share one::

    {"state": "TP"}
    {"state": {"propagator": "TP", "options": {"every": 5},
               "instances": {"0": "RP", "99": {"propagator": "LR"}}}}

Plans are immutable; :meth:`Plan.assign` returns a new one. Names and options
are checked when the plan is built, before anything runs; site names are
checked against the sites a program is known to have (:meth:`Plan.check_sites`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import registry
from .errors import PlanError

_SPEC_KEYS = {"propagator", "options", "instances"}


def freeze(instance, name: str) -> None:
    """Make a frozen dataclass's mapping field read-only too (a copy behind a proxy)."""
    object.__setattr__(instance, name, MappingProxyType(dict(getattr(instance, name))))


@dataclass(frozen=True)
class Spec:
    """A propagator name with validated options (defaults filled in)."""

    propagator: str
    options: Mapping[str, Any] = field(default_factory=dict)

    #: hashable identity: specs with equal keys share one propagator object
    key: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        freeze(self, "options")
        object.__setattr__(self, "key", (self.propagator, tuple(sorted(self.options.items()))))

    def to_json(self, defaults: bool = False):
        entry = registry.get(self.propagator)
        given = {k: v for k, v in self.options.items() if defaults or v != entry.options[k].default}
        return {"propagator": self.propagator, "options": given} if given else self.propagator


def parse_spec(raw: Any, where: str, *, allow_instances: bool = False) -> tuple[Spec, dict]:
    """Turn ``"TP"`` or ``{"propagator": ..., "options": ...}`` into a Spec.

    Returns the spec and the raw ``instances`` mapping (empty when not allowed).
    """
    if isinstance(raw, Spec):
        return raw, {}
    if isinstance(raw, str):
        with _about(propagator=raw):
            return Spec(raw, registry.check(raw, None, where)), {}
    if not isinstance(raw, Mapping):
        raise PlanError(
            f"{where}: expected a propagator name or a mapping with 'propagator', "
            f"got {type(raw).__name__}"
        )
    allowed = _SPEC_KEYS if allow_instances else _SPEC_KEYS - {"instances"}
    unknown = set(raw) - allowed
    if unknown:
        raise PlanError(f"{where}: unknown key(s) {sorted(unknown)}; expected {sorted(allowed)}")
    if "propagator" not in raw:
        raise PlanError(f"{where}: missing 'propagator'")
    name = raw["propagator"]
    if not isinstance(name, str):
        raise PlanError(f"{where}: 'propagator' must be a string, got {type(name).__name__}")
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise PlanError(f"{where}: 'options' must be a mapping, got {type(options).__name__}")
    instances = raw.get("instances") or {}
    if not isinstance(instances, Mapping):
        raise PlanError(f"{where}: 'instances' must be a mapping of instance index to propagator")
    with _about(propagator=name):
        return Spec(name, registry.check(name, options, where)), dict(instances)


@contextmanager
def _about(*, site: str | None = None, propagator: str | None = None) -> Iterator[None]:
    """A PlanError raised in the block names ``site`` and ``propagator`` (where it
    names none of its own), so a UI can point at what it was about."""
    try:
        yield
    except PlanError as err:
        err.site = err.site if err.site is not None else site
        err.propagator = err.propagator if err.propagator is not None else propagator
        raise


def _instance_index(key: Any, where: str) -> int:
    if isinstance(key, bool):
        raise PlanError(f"{where}: instance index must be an integer, got {key!r}")
    if isinstance(key, int):
        index = key
    elif isinstance(key, str) and key.strip().isdigit():
        index = int(key)
    else:
        raise PlanError(f"{where}: instance index must be a non-negative integer, got {key!r}")
    if index < 0:
        raise PlanError(f"{where}: instance index must be non-negative, got {index}")
    return index


@dataclass(frozen=True)
class SitePlan:
    spec: Spec
    instances: Mapping[int, Spec] = field(default_factory=dict)

    def __post_init__(self):
        freeze(self, "instances")


@dataclass(frozen=True)
class Plan:
    """Site name -> propagator, with optional per-instance overrides."""

    sites: Mapping[str, SitePlan] = field(default_factory=dict)

    def __post_init__(self):
        freeze(self, "sites")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Plan:
        if raw is None:
            return cls()
        if isinstance(raw, Plan):
            return raw
        if not isinstance(raw, Mapping):
            raise PlanError(
                f"a plan must be a mapping of site name to propagator, got {type(raw).__name__}"
            )
        sites = {}
        for site, value in raw.items():
            if not isinstance(site, str) or not site:
                raise PlanError(f"plan: site names must be non-empty strings, got {site!r}")
            where = f"plan site '{site}'"
            with _about(site=site):
                spec, instances = parse_spec(value, where, allow_instances=True)
                overrides = {}
                for key, inst_raw in instances.items():
                    index = _instance_index(key, where)
                    overrides[index], _ = parse_spec(inst_raw, f"{where} instance {index}")
            sites[site] = SitePlan(spec, overrides)
        return cls(sites)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise PlanError(f"plan JSON is not valid: {err}") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict:
        out = {}
        for site, sp in self.sites.items():
            if not sp.instances:
                out[site] = sp.spec.to_json()
                continue
            item = sp.spec.to_json()
            item = dict(item) if isinstance(item, dict) else {"propagator": item}
            item["instances"] = {str(i): s.to_json() for i, s in sorted(sp.instances.items())}
            out[site] = item
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def spec_for(self, site: str, instance: int) -> Spec | None:
        """The spec assigned to this instance, or None when the default applies."""
        sp = self.sites.get(site)
        if sp is None:
            return None
        return sp.instances.get(instance, sp.spec)

    def assign(
        self,
        site: str,
        propagator: str,
        options: Mapping[str, Any] | None = None,
        instance: int | None = None,
    ) -> Plan:
        """A new plan with ``site`` (or one instance of it) served by ``propagator``."""
        where = f"plan site '{site}'" + ("" if instance is None else f" instance {instance}")
        with _about(site=site, propagator=propagator):
            spec = Spec(propagator, registry.check(propagator, options, where))
            sites = dict(self.sites)
            if instance is None:
                old = sites.get(site)
                sites[site] = SitePlan(spec, old.instances if old else {})
            else:
                index = _instance_index(instance, where)
                old = sites.get(site)
                if old is None:
                    raise PlanError(f"{where}: assign the site before overriding one instance")
                sites[site] = SitePlan(old.spec, {**old.instances, index: spec})
        return Plan(sites)

    def clear(self, site: str, instance: int | None = None) -> Plan:
        """A new plan without the site's assignment (or without one override)."""
        sites = dict(self.sites)
        if site not in sites:
            return self
        if instance is None:
            del sites[site]
        else:
            sp = sites[site]
            kept = {i: s for i, s in sp.instances.items() if i != instance}
            sites[site] = SitePlan(sp.spec, kept)
        return Plan(sites)

    def check_sites(self, known: set[str] | list[str], what: str = "the program") -> None:
        """Reject sites the program does not have, suggesting the closest name."""
        known = set(known)
        for site in self.sites:
            if site not in known:
                close = difflib.get_close_matches(site, sorted(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise PlanError(
                    f"plan names site '{site}', which {what} does not have "
                    f"(sites: {', '.join(sorted(known)) or 'none'}){hint}",
                    site=site,
                )


#: what serves a forward node that neither the plan nor the default names
DEFAULT_FOR_FORWARD = "Backprop"


def parse_default(default: Any) -> dict[str, Spec]:
    """The default propagator per node kind, from a name or ``{"sample": ..., "forward": ...}``.

    A bare name (or spec) is the default for sample nodes; forward nodes
    default to Backprop. The manager and the captured graph resolve through
    this one rule.
    """
    if isinstance(default, (str, Spec)) or (
        isinstance(default, Mapping) and "propagator" in default
    ):
        default = {"sample": default}
    if not isinstance(default, Mapping):
        raise PlanError(
            f"default must be a propagator name or a mapping by node kind, "
            f"got {type(default).__name__}"
        )
    unknown = set(default) - set(registry.NODE_KINDS)
    if unknown:
        raise PlanError(
            f"default: unknown node kind(s) {sorted(unknown)}; expected {list(registry.NODE_KINDS)}"
        )
    raw = {"forward": DEFAULT_FOR_FORWARD, **default}
    return {kind: parse_spec(raw[kind], f"default for {kind} nodes")[0] for kind in raw}
