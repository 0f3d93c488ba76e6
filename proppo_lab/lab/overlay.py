"""Per-node live overlays: one number per drawn node, to colour the graph by.

Why: a plot of message norms says *that* a gradient explodes; colouring each
node (each instance, unrolled) by its norm shows *where*, node by node, as
Google's Model Explorer does for per-node data. The numbers come from the
message recorder's latest pass (:meth:`proppo_lab.trace.Recorder.records`),
so they exist only for the iterations the Lab records (a few per second).

An overlay is chosen by name (:data:`METRICS`). :func:`instance_values`
turns a recorded pass into ``{metric: {unrolled node id: value}}``;
:func:`view_values` folds one metric to the drawn view (rolled: one value per
site) and :func:`payload` makes the graph widget's ``overlay`` trait::

    {"metric": "grad norm", "metrics": [...], "values": {node id: float},
     "log": bool, "iteration": int | None, "doc": str}

``log`` is true when the positive values span more than two decades: the
front end then spreads the colours over log10 of the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..propagators.parts import Pathwise


@dataclass(frozen=True)
class Metric:
    """How one overlay reads a node's record, and how a site's instances fold."""

    name: str
    doc: str
    read: Callable[[Mapping], float | None]
    #: "rss" (root-sum-square: the norm of all the site's messages together) or "mean"
    fold: str


def _grad_norm(rec: Mapping) -> float | None:
    messages = rec.get("messages") or {}
    # the gradient that reached the node's output when its propagator reads it (TP,
    # Pause), else what it handed to autograd (pure RP): either way "its gradient"
    for kind in ("grad", "backprop"):
        if kind in messages:
            return messages[kind]
    return None


def _rp_weight(rec: Mapping) -> float | None:
    return (rec.get("weights") or {}).get(Pathwise.name)


def _cost(rec: Mapping) -> float | None:
    return (rec.get("messages") or {}).get("cost")


#: The overlays, by the name the selector shows. (A node's share of the
#: estimate's variance is not here: the engine does not yet measure it per node.)
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("grad norm", "norm of the gradient message at the node", _grad_norm, "rss"),
        Metric(
            "TP weight on RP",
            "total propagation's weight on the pathwise (RP) part",
            _rp_weight,
            "mean",
        ),
        Metric("cost-to-go", "norm of the cost-to-go message the node received", _cost, "mean"),
    )
}


def check_metric(name: str) -> str:
    """``name`` when it names an overlay ('' is none); else a ValueError listing them."""
    if name != "" and name not in METRICS:
        raise ValueError(
            f"no overlay named {name!r}; choose one of "
            f"{', '.join(repr(m) for m in METRICS)} (or '' for none)"
        )
    return name


def instance_values(records: Mapping[str, Mapping]) -> dict[str, dict[str, float]]:
    """``{metric: {unrolled node id: value}}`` from a recorded pass (finite values only)."""
    out: dict[str, dict[str, float]] = {name: {} for name in METRICS}
    for node_id, rec in records.items():
        for name, metric in METRICS.items():
            value = metric.read(rec)
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[name][node_id] = float(value)
    return out


def view_values(values: Mapping[str, float], metric: str, view: str) -> dict[str, float]:
    """One metric's values keyed by the ids of ``view`` (rolled: folded per site)."""
    if view == "unrolled":
        return dict(values)
    groups: dict[str, list[float]] = {}
    for node_id, value in values.items():
        groups.setdefault(node_id.split("#", 1)[0], []).append(value)
    if METRICS[metric].fold == "mean":
        return {k: sum(v) / len(v) for k, v in groups.items()}
    return {k: math.sqrt(sum(x * x for x in v)) for k, v in groups.items()}


def spans_decades(values: Mapping[str, float], decades: float = 2.0) -> bool:
    """Whether the positive values span more than ``decades`` powers of ten."""
    positive = [v for v in values.values() if v > 0]
    return len(positive) > 1 and math.log10(max(positive) / min(positive)) > decades


def payload(
    metric: str, values: Mapping[str, Mapping[str, float]], view: str, iteration: int | None
) -> dict:
    """The graph widget's ``overlay`` trait for ``metric`` ('' or no data: no values)."""
    shown = view_values(values.get(metric) or {}, metric, view) if metric else {}
    return {
        "metric": metric,
        "metrics": list(METRICS),
        "values": shown,
        "log": spans_decades(shown),
        "iteration": iteration,
        "doc": METRICS[metric].doc if metric else "",
    }
