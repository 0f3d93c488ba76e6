"""Confidence intervals for a sample variance, with only the standard library.

Why not scipy: it is a dev extra and may be absent at run time. For n samples,
(n - 1) s^2 / sigma^2 ~ chi^2(n - 1); its quantiles come from the
Wilson–Hilferty cube-root normal approximation, accurate to a few percent
already at 10 degrees of freedom. For a vector parameter the variance is the
sum over elements and the interval treats it with the same degrees of freedom
(exact for a scalar, an approximation otherwise).
"""

from __future__ import annotations

import math
from statistics import NormalDist


def chi2_quantile(p: float, k: float) -> float:
    """Approximate p-quantile of chi^2 with k degrees of freedom (Wilson–Hilferty)."""
    if k <= 0:
        return float("nan")
    z = NormalDist().inv_cdf(p)
    c = 2.0 / (9.0 * k)
    return k * max(1.0 - c + z * math.sqrt(c), 0.0) ** 3


def variance_interval(variance: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided CI for the true variance given a sample variance from n samples."""
    if n < 2 or not math.isfinite(variance):
        return float("nan"), float("nan")
    k = n - 1
    alpha = 1.0 - confidence
    upper_q = chi2_quantile(1 - alpha / 2, k)
    lower_q = chi2_quantile(alpha / 2, k)
    lo = k * variance / upper_q
    hi = k * variance / lower_q if lower_q > 0 else float("inf")
    return lo, hi
