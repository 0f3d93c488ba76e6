"""Gaussian fits of a particle set, shared by Gaussian resampling and shaping."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.distributions import MultivariateNormal

from ..core import particles
from ..core.node import Node


def fitted_gaussian(x: torch.Tensor, jitter: float) -> MultivariateNormal:
    """A Gaussian with the particles' mean and covariance, differentiable in x.

    ``x`` is (particles, ...); the event is everything after dim 0, flattened.
    Returns a distribution with batch shape (particles,) whose ``log_prob``
    takes the flattened particles.
    """
    n = x.shape[0]
    count = particles.count(n)  # over every rank when the particles are sharded
    if count < 2:
        raise ValueError("fitting a Gaussian needs at least 2 particles")
    flat = x.reshape(n, -1)
    mean = particles.mean(flat, 0)
    centred = flat - mean
    cov = particles.summed(centred.T @ centred) / (count - 1)
    eye = torch.eye(flat.shape[1], dtype=x.dtype, device=x.device)
    tril = torch.linalg.cholesky(cov + jitter * eye)
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
