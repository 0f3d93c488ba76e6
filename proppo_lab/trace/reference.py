"""Bias against a reference gradient, and "is my estimator unbiased here?".

An estimator's mean squared error is its bias squared plus its variance.
:func:`compare` already measures the variance; given a reference gradient it
also measures the bias, its z-score and the MSE, and a cost-normalised MSE
(seconds per estimate × MSE: what it costs to reach a given accuracy by
averaging, the figure of merit of Mohamed et al. 2020, section 3.3).

A reference is one of:

* a mapping ``{param: exact gradient}`` (tensors, floats or lists);
* ``"analytic"``: the program's own ``analytic_gradient()`` (the ready systems
  in :mod:`proppo_lab.systems` that have one);
* a callable of no arguments returning such a mapping;
* :meth:`Reference.run`: the mean of many estimates under a trusted plan,
  typically of the same program with many particles. Its own standard error
  enters the z-score, so a noisy reference does not flag a sound estimator.

:func:`gradcheck` runs one plan ``n`` times and answers with a pass/fail line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Reference:
    """A reference gradient per parameter, with its standard error (0 if exact)."""

    mean: dict[str, torch.Tensor]
    se: dict[str, torch.Tensor]
    source: str

    @classmethod
    def run(
        cls, program: Callable, plan: Any = "RP", iterations: int = 50, seed: int = 10**6, **kw
    ) -> Reference:
        """The mean of ``iterations`` estimates of ``program`` under ``plan``.

        The seeds start far from :func:`compare`'s (``seed`` defaults to 10⁶) so
        that the reference and the estimates it judges draw independent noise.
        """
        from .compare import compare

        result = compare(program, {"reference": plan}, iterations, seed=seed, **kw)
        if result.errors:
            raise ValueError(f"the reference run failed: {result.errors[0]['message']}")
        summary = result.summary["reference"]
        return cls(
            mean={k: torch.tensor(s["mean"], dtype=torch.float64) for k, s in summary.items()},
            se={k: torch.tensor(s["se"], dtype=torch.float64) for k, s in summary.items()},
            source=f"{iterations} estimates under {plan!r}",
        )


def resolve(reference: Any, program: Any) -> Reference:
    """Turn any accepted form of ``reference`` into a :class:`Reference`."""
    if isinstance(reference, Reference):
        return reference
    source = "exact"
    if isinstance(reference, str):
        if reference != "analytic":
            raise ValueError(
                f"reference must be 'analytic', a mapping or a callable, got {reference!r}"
            )
        known = getattr(program, "analytic_gradient", None)
        reference = known() if callable(known) else None
        if reference is None:
            raise ValueError(
                f"reference='analytic': {type(program).__name__} has no analytic_gradient()"
            )
        source = "analytic"
    elif callable(reference):
        reference = reference()
        source = "callable"
    if not isinstance(reference, Mapping):
        raise TypeError(
            "a reference gradient must map param -> gradient, got " + type(reference).__name__
        )
    mean = {k: torch.as_tensor(v, dtype=torch.float64).detach().cpu() for k, v in reference.items()}
    return Reference(mean, {k: torch.zeros_like(v) for k, v in mean.items()}, source)


def bias_columns(summary: Mapping[str, Any], ref: Reference, param: str, seconds: float) -> dict:
    """Bias, its z-score, MSE and cost-normalised MSE for one plan's parameter.

    ``summary``: the parameter's statistics (:meth:`GradientStats.summary`);
    ``seconds``: time per estimate. Elementwise columns keep the gradient's
    shape (floats for a scalar); ``max_abs_z`` is the largest over elements.
    """
    if param not in ref.mean:
        return {}
    mean = torch.tensor(summary["mean"], dtype=torch.float64)
    se = torch.tensor(summary["se"], dtype=torch.float64)
    target = ref.mean[param].reshape(mean.shape)
    bias = mean - target
    z = bias / (se**2 + ref.se[param].reshape(mean.shape) ** 2).sqrt()
    mse = float((bias**2).sum()) + summary["variance"]
    return {
        "reference": _floats(target),
        "bias": _floats(bias),
        "z": _floats(z),
        "max_abs_z": float(z.abs().max()) if z.numel() else math.nan,
        "mse": mse,
        "cost_mse": seconds * mse,
    }


def _floats(t: torch.Tensor):
    return t.item() if t.dim() == 0 else t.reshape(-1).tolist()


@dataclass(frozen=True)
class GradCheck:
    """What :func:`gradcheck` found; ``str()`` is its one-line verdict."""

    passed: bool
    plan: Any
    n: int
    threshold: float
    rows: list[dict]  # one per parameter: bias_columns plus mean and se
    error: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        head = (
            f"gradcheck {'PASS' if self.passed else 'FAIL'}: plan {self.plan!r}, {self.n} estimates"
        )
        if self.error:
            return f"{head}: {self.error}"
        parts = [
            f"{r['param']}: mean {_fmt(r['mean'])} ± {_fmt(r['se'])} vs {_fmt(r['reference'])}, "
            f"bias {_fmt(r['bias'])} (max |z| {r['max_abs_z']:.1f})"
            for r in self.rows
        ]
        return f"{head}, |z| ≤ {self.threshold:g} wanted; " + "; ".join(parts)

    def _repr_markdown_(self) -> str:
        return f"`{self}`"


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4g}" for v in value[:4]) + (", …]" if len(value) > 4 else "]")
    return f"{value:.4g}"


def gradcheck(
    program: Callable,
    plan: Any,
    reference: Any = "analytic",
    n: int = 200,
    *,
    seed: int = 0,
    threshold: float = 4.0,
    **kw,
) -> GradCheck:
    """Is ``plan``'s estimator unbiased on ``program``? ``n`` estimates against ``reference``.

    Passes when every element's |bias / standard error| is at most
    ``threshold`` (4 by default: a sound estimator fails about once in 16 000
    elements). The answer's ``str()`` is a line with the numbers; it is truthy
    when it passed. A plan that fails to run fails the check and says why.
    """
    from .compare import compare

    result = compare(program, {"plan": plan}, n, seed=seed, reference=reference, **kw)
    if result.errors:
        return GradCheck(False, plan, n, threshold, [], error=result.errors[0]["message"])
    rows = [r for r in result.table() if "bias" in r]
    if not rows:
        raise ValueError("gradcheck: the reference names none of the program's parameters")
    passed = all(r["max_abs_z"] <= threshold for r in rows)
    return GradCheck(passed, plan, n, threshold, rows)
