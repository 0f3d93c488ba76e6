"""Shared fixtures and statistical helpers for the engine's tests.

Statistical tests follow one rule (the project's standards): fixed seeds, and
tolerances derived from the estimator's own standard error,
``|mean - truth| <= k * SE`` with ``SE = std / sqrt(reps)``, never a
hard-coded number. ``k = 4`` makes a false alarm a ~6e-5 event per
comparison, while a real bias of a few standard errors still fails.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import torch

import proppo_lab as pl
from proppo_lab.core import registry


@pytest.fixture
def seeded():
    """Seed torch's global generator; returns the seed."""
    torch.manual_seed(20221128)
    return 20221128


def small_rnn(**kw):
    """A chaotic RNN small enough for the Lab's kernel-side tests."""
    return pl.systems.ChaoticRNN(beta=2.4, steps=10, particles=64, **kw)


@pytest.fixture
def lab():
    """A Lab on :func:`small_rnn` under TP, stopped and its run thread joined after the test."""
    lab = pl.Lab(small_rnn(), plan={"state": "TP"}, iterations=5)
    yield lab
    lab.stop()
    lab.runner.join(10)


@pytest.fixture
def clean_registry():
    """Unregister every user propagator a test registered, even when it fails."""
    before = set(registry.names())
    yield
    for name in set(registry.names()) - before:
        registry.unregister(name)


def collect(pm: pl.PropagationManager, program: Callable, reps: int) -> dict[str, torch.Tensor]:
    """``reps`` gradient estimates of ``program`` under ``pm``: {param: (reps, *shape) float64}."""
    runs = [pm.estimate(program) for _ in range(reps)]
    return {k: torch.stack([r[k] for r in runs]).double().cpu() for k in runs[0]}


def mean_se(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error over dim 0."""
    samples = samples.double()
    n = samples.shape[0]
    return samples.mean(0), samples.std(0) / math.sqrt(n)


def assert_within_se(
    samples: torch.Tensor, truth, k: float = 4.0, bias: float | torch.Tensor = 0.0, what: str = ""
) -> None:
    """Assert ``|mean - truth| <= k * SE + bias`` elementwise.

    ``bias`` is an explicit allowance for estimators that are only
    approximately unbiased (documented where used). The standard error must
    be positive, so a degenerate estimator cannot pass by having no spread.
    """
    mean, se = mean_se(samples)
    truth = torch.as_tensor(truth, dtype=torch.float64).cpu()
    err = (mean - truth).abs()
    tol = k * se + torch.as_tensor(bias, dtype=torch.float64)
    assert bool(torch.isfinite(mean).all()), f"{what}: non-finite mean {mean}"
    assert bool((se > 0).all()), f"{what}: zero standard error (degenerate estimates)"
    assert bool((err <= tol).all()), (
        f"{what}: mean {mean.tolist()} vs truth {truth.tolist()}: |error| {err.tolist()} "
        f"> {k} SE + bias = {tol.tolist()} (SE {se.tolist()})"
    )


def assert_close_means(a: torch.Tensor, b: torch.Tensor, k: float = 4.0, what: str = "") -> None:
    """Two independent estimators agree: ``|mean_a - mean_b| <= k * sqrt(SE_a^2 + SE_b^2)``."""
    ma, sa = mean_se(a)
    mb, sb = mean_se(b)
    tol = k * torch.sqrt(sa**2 + sb**2)
    assert bool(((ma - mb).abs() <= tol).all()), (
        f"{what}: means {ma.tolist()} and {mb.tolist()} differ by more than {k} joint SE "
        f"({tol.tolist()})"
    )


def f_quantile(q: float, dfn: int, dfd: int) -> float:
    """Quantile of the F distribution, for variance-ratio tests."""
    from scipy import stats

    return float(stats.f.ppf(q, dfn, dfd))


def assert_variance_le(
    smaller: torch.Tensor, larger: torch.Tensor, q: float = 0.999, what: str = ""
) -> None:
    """One-sided F-test of ``Var(smaller) <= Var(larger)`` (estimates over dim 0).

    Fails when the observed ratio Var(smaller)/Var(larger) exceeds the q-quantile of
    F(n_s - 1, n_l - 1): the claimed ordering is then rejected at level 1 - q.
    """
    vs, vl = smaller.double().var(0), larger.double().var(0)
    crit = f_quantile(q, smaller.shape[0] - 1, larger.shape[0] - 1)
    ratio = vs / vl
    assert bool((ratio <= crit).all()), (
        f"{what}: variance {vs.tolist()} vs {vl.tolist()}: ratio {ratio.tolist()} exceeds the "
        f"F quantile {crit:.3g}"
    )


def assert_variance_lt(
    smaller: torch.Tensor, larger: torch.Tensor, q: float = 0.999, what: str = ""
) -> None:
    """One-sided F-test that ``Var(smaller) < Var(larger)`` significantly.

    Passes only when Var(larger)/Var(smaller) exceeds the q-quantile of
    F(n_l - 1, n_s - 1): equal variances fail this with probability q.
    """
    vs, vl = smaller.double().var(0), larger.double().var(0)
    crit = f_quantile(q, larger.shape[0] - 1, smaller.shape[0] - 1)
    ratio = vl / vs
    assert bool((ratio > crit).all()), (
        f"{what}: variance {vs.tolist()} is not significantly below {vl.tolist()}: ratio "
        f"{ratio.tolist()} <= F quantile {crit:.3g}"
    )


# ---------------------------------------------------------------------------
# Tutorials executed once per test session: the notebook tests check that each
# runs, the site and explorable-page tests export the same executed notebooks
# (executing the five tutorials takes minutes on 2 cores; twice would double it).

TUTORIALS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def executed_tutorial(tmp_path_factory):
    """``executed_tutorial(path)``: the tutorial run top to bottom in a fresh kernel,
    with the export snapshots (:func:`proppo_lab.lab.export.execute`), cached for the
    session. A cell error raises nbclient's CellExecutionError (also on a later call)."""
    from proppo_lab.lab.export import execute

    cache: dict[Path, object] = {}

    def run(path: Path):
        if path not in cache:
            nb = nbformat.read(path, as_version=4)
            cwd = tmp_path_factory.mktemp(path.stem)
            try:
                with pytest.MonkeyPatch.context() as env:
                    env.delenv("PROPPO_FULL_RUN", raising=False)  # the quick settings
                    cache[path] = execute(nb, cwd=cwd, timeout=900, kernel_name="python3")
            except Exception as err:  # noqa: BLE001 - re-raised for every test that asks
                cache[path] = err
        if isinstance(cache[path], Exception):
            raise cache[path]
        return copy.deepcopy(cache[path])

    return run
