"""Plotly figures of message flows and gradient statistics.

Why plotly: the lab shows these figures live and in exported pages with no
kernel; plotly figures are plain JSON and need no Jupyter package here. Every
function returns a ``plotly.graph_objects.Figure``; the lab may wrap it in a
FigureWidget to update it in place.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from ..contracts import SERIES_PALETTE
from ..core import registry
from ..propagators.parts import Part

#: How a log axis reads when the range of its values is not known in advance (the
#: Lab's live plots): every label a power of ten (10⁻³ … 10²⁰, never "10B" or
#: "10µ"), few enough labels not to crowd, unlabelled minor ticks between.
LOG_AXIS = dict(
    type="log",
    exponentformat="power",
    showexponent="all",
    nticks=6,
    minor=dict(ticks="outside", ticklen=3, showgrid=True, gridcolor="rgba(0,0,0,0.04)"),
)


def log_axis(values=()) -> dict:
    """Plotly axis settings for a log axis over ``values``: one labelled tick per
    decade when they span a decade or more, else a few plain numbers (``0.35``)."""
    finite = [v for v in values if _finite(v) and v > 0]
    if finite and math.log10(max(finite) / min(finite)) < 1:
        return dict(LOG_AXIS, nticks=5, tickformat=".2~g", exponentformat="none")
    return dict(LOG_AXIS, dtick=1) if finite else dict(LOG_AXIS)


def _colour(name: str, i: int) -> str | None:
    try:
        return registry.get(name).colour
    except Exception:  # a plan name that is not a propagator name
        return SERIES_PALETTE[i % len(SERIES_PALETTE)]


def _layout(fig: go.Figure, title: str, x: str, y: str, logy: bool = False) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        legend_title_text="",
        margin=dict(l=60, r=20, t=50, b=50),
    )
    if logy:
        values = [v for trace in fig.data for v in (trace.y or ())]
        fig.update_yaxes(**log_axis(values))
    return fig


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


# -- message flows -------------------------------------------------------------------


def messages_figure(recorder, kind: str = "grad", sites=None) -> go.Figure:
    """Message magnitude per instance (log y), latest pass: one trace per site.

    On the chaotic RNN under a Pause or TP plan the ``grad`` norm grows
    backwards through time: the RP gradient explodes. (Pure RP hands one batch
    to autograd, so it has no per-node gradient to show.)
    """
    recs = recorder.records()
    sites = sites or list(dict.fromkeys(r["site"] for r in recs.values()))
    fig = go.Figure()
    for site in sites:
        xs, ys = recorder.series(site, kind)
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{site} {kind}"))
    return _layout(fig, f"|{kind} message| per instance", "instance", "norm", logy=True)


def weights_figure(recorder, site: str) -> go.Figure:
    """TP's inverse-variance weight on RP vs LR per instance (latest pass)."""
    xs, parts = recorder.weight_series(site)
    fig = go.Figure()
    for part, ws in parts.items():
        fig.add_trace(go.Scatter(x=xs, y=ws, mode="lines+markers", name=Part.title_for(part)))
    fig.update_yaxes(range=[-0.02, 1.02])
    return _layout(fig, f"TP weights at '{site}'", "instance", "weight")


def heatmap_figure(recorder, site: str, kind: str = "grad") -> go.Figure:
    """log10 message norm, instance x iteration, from the recorder's history."""
    instances, iterations, z = recorder.matrix(site, kind)
    logz = [[math.log10(v) if _finite(v) and v > 0 else None for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            x=iterations,
            y=instances,
            z=logz,
            colorscale="Viridis",
            colorbar=dict(title=f"log10 |{kind}|"),
        )
    )
    return _layout(fig, f"|{kind}| at '{site}' over iterations", "iteration", "instance")


# -- gradient statistics --------------------------------------------------------------


def _param(result, param):
    if param is not None:
        return param
    for params in result.summary.values():
        for name in params:
            return name
    raise ValueError("the result holds no parameters")


def variance_figure(result, param: str | None = None) -> go.Figure:
    """Running variance of the gradient estimate vs iteration, per plan (log y)."""
    param = _param(result, param)
    fig = go.Figure()
    for i, (plan, params) in enumerate(result.history.items()):
        if param not in params:
            continue
        var = params[param]["variance"]
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(var) + 1)),
                y=var,
                mode="lines",
                name=plan,
                line=dict(color=_colour(plan, i)),
            )
        )
    return _layout(fig, f"gradient variance of '{param}'", "iterations", "variance", logy=True)


def final_variance_figure(result, param: str | None = None) -> go.Figure:
    """Final variance per plan with chi-square confidence intervals (log y)."""
    param = _param(result, param)
    plans, ys, lo, hi, colours = [], [], [], [], []
    for i, (plan, params) in enumerate(result.summary.items()):
        s = params.get(param)
        if s is None:
            continue
        plans.append(plan)
        ys.append(s["variance"])
        lo.append(s["variance"] - s["variance_ci"][0])
        hi.append(s["variance_ci"][1] - s["variance"])
        colours.append(_colour(plan, i))
    fig = go.Figure(
        go.Bar(
            x=plans,
            y=ys,
            marker_color=colours,
            name="variance",
            error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo),
        )
    )
    return _layout(fig, f"gradient variance of '{param}' (95% CI)", "plan", "variance", logy=True)


def mean_figure(result, param: str | None = None) -> go.Figure:
    """Mean gradient per plan with ±2 standard errors (scalar parameters, or the
    first element of a vector one)."""
    param = _param(result, param)
    plans, ys, es, colours = [], [], [], []
    for i, (plan, params) in enumerate(result.summary.items()):
        s = params.get(param)
        if s is None:
            continue
        m, se = s["mean"], s["se"]
        m = m[0] if isinstance(m, list) else m
        se = se[0] if isinstance(se, list) else se
        plans.append(plan)
        ys.append(m)
        es.append(2 * se)
        colours.append(_colour(plan, i))
    fig = go.Figure(
        go.Scatter(
            x=plans,
            y=ys,
            mode="markers",
            name="mean",
            marker=dict(size=12, color=colours),
            error_y=dict(type="data", array=es),
        )
    )
    return _layout(fig, f"mean gradient of '{param}' (± 2 se)", "plan", "gradient")


def sweep_figure(result, param: str | None = None, x: str | None = None) -> go.Figure:
    """Gradient variance vs a swept argument, one trace per plan, with CIs (log y)."""
    x = x or next(iter(result.over))
    if param is None:
        param = next((p for e in result.entries for p in e["summary"]), None)
    fig = go.Figure()
    for i, plan in enumerate(result.plans):
        pts = sorted(
            (e["point"][x], e["summary"][param])
            for e in result.entries
            if e["plan"] == plan
            and param in e["summary"]
            and _finite(e["summary"][param]["variance"])
        )
        if not pts:
            continue
        xs = [p for p, _ in pts]
        ys = [s["variance"] for _, s in pts]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=plan,
                line=dict(color=_colour(plan, i)),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[s["variance_ci"][1] - s["variance"] for _, s in pts],
                    arrayminus=[s["variance"] - s["variance_ci"][0] for _, s in pts],
                ),
            )
        )
    return _layout(fig, f"gradient variance of '{param}' vs {x}", x, "variance", logy=True)
