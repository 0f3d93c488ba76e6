"""Gaussian fits of a particle set, shared by Gaussian resampling and shaping."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.distributions import MultivariateNormal

from ..core import particles
from ..core.node import Node

#: the absolute part of the ridge: about the variance float32 rounding alone gives
#: values of order one, so particles that all agree (a zero covariance) still have a
#: Cholesky factor, and a cloud with any real spread is not changed by it
FLOOR = torch.finfo(torch.float32).eps ** 2


def fitted_gaussian(x: torch.Tensor, jitter: float) -> MultivariateNormal:
    """A Gaussian with the particles' mean and covariance, differentiable in x.

    ``x`` is (particles, ...); the event is everything after dim 0, flattened.
    Returns a distribution with batch shape (particles,) whose ``log_prob``
    takes the flattened particles.

    ``jitter`` is relative: the fit's covariance is ``cov + jitter * s * I``
    with ``s`` the covariance's mean diagonal (trace / dim), plus ``FLOOR``
    (1.4e-14) so that particles that all agree still have a Cholesky factor. An
    absolute jitter would be large against a small noise (1e-6 doubles a
    variance of 1e-6) and bias the fit; a relative one adds the same small
    fraction of the mean variance at every scale.
    """
    n = x.shape[0]
    count = particles.count(n)  # over every rank when the particles are sharded
    if count < 2:
        raise ValueError("fitting a Gaussian needs at least 2 particles")
    flat = x.reshape(n, -1)
    mean = particles.mean(flat, 0)
    centred = flat - mean
    # summed over every rank: each rank gets the same covariance, so the same ridge
    cov = particles.summed(centred.T @ centred) / (count - 1)
    ridge = jitter * torch.diagonal(cov).mean() + FLOOR
    eye = torch.eye(flat.shape[1], dtype=x.dtype, device=x.device)
    tril = torch.linalg.cholesky(cov + ridge * eye)
    return _Flat(MultivariateNormal(mean, scale_tril=tril).expand((n,)), x.shape)


class _Flat:
    """Lets a fitted MVN score and draw particles in their original shape."""

    has_rsample = True

    def __init__(self, mvn: MultivariateNormal, shape: torch.Size):
        self.mvn, self.shape = mvn, shape
        self.arg_constraints = {}

    def log_prob(self, x):
        return self.mvn.log_prob(x.reshape(x.shape[0], -1))

    def rsample(self):
        return self.mvn.rsample().reshape(self.shape)

    def sample(self):
        return self.mvn.sample().reshape(self.shape)


def resampled(node: Node, x: torch.Tensor, jitter: float, inner: Callable[[], torch.Tensor]):
    """Swap the node's distribution for the Gaussian fitted to ``x`` and let
    ``inner`` (another propagator's forward) draw from it."""
    fit = fitted_gaussian(x, jitter)
    node.saved["source_dist"] = node.dist
    node.dist = fit
    node.inputs = (fit.mvn.loc, fit.mvn.scale_tril)
    return inner()
