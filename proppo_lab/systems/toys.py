"""Small programs whose gradients are known in closed form: ground truth for tests."""

from __future__ import annotations

import torch
from torch.distributions import Bernoulli, Normal

from .base import System, leaf


class GaussianToy(System):
    """x ~ N(mu, sigma^2), cost x^2. d/dmu E = 2 mu, d/dsigma E = 2 sigma."""

    sites = ("x", "cost")

    def __init__(self, mu=0.5, sigma=1.0, particles=1000, device=None):
        super().__init__({"mu": leaf(mu, device), "sigma": leaf(sigma, device)})
        self.particles = particles

    def __call__(self, pm):
        mu = pm.param("mu", self.params["mu"])
        sigma = pm.param("sigma", self.params["sigma"])
        n = self.particles
        x = pm.sample("x", Normal(mu.expand(n), sigma.expand(n)))
        pm.loss("cost", x**2)

    def analytic_gradient(self):
        mu, sigma = (self.params[k].detach() for k in ("mu", "sigma"))
        return {"mu": 2 * mu, "sigma": 2 * sigma}


class GaussianChain(System):
    """x1 ~ N(mu, s1^2), x2 ~ N(a x1, s2^2), cost x2^2.

    E = a^2 (mu^2 + s1^2) + s2^2, so d/dmu = 2 a^2 mu and d/da = 2 a (mu^2 + s1^2).
    """

    sites = ("x1", "x2", "cost")

    def __init__(self, mu=0.5, a=1.5, s1=1.0, s2=0.5, particles=1000, device=None):
        super().__init__({"mu": leaf(mu, device), "a": leaf(a, device)})
        self.s1, self.s2, self.particles = s1, s2, particles

    def __call__(self, pm):
        mu = pm.param("mu", self.params["mu"])
        a = pm.param("a", self.params["a"])
        n = self.particles
        x1 = pm.sample("x1", Normal(mu.expand(n), self.s1))
        x2 = pm.sample("x2", Normal(a * x1, self.s2))
        pm.loss("cost", x2**2)

    def analytic_gradient(self):
        mu, a = self.params["mu"].detach(), self.params["a"].detach()
        return {"mu": 2 * a**2 * mu, "a": 2 * a * (mu**2 + self.s1**2)}


class BernoulliToy(System):
    """z ~ Bernoulli(sigmoid(theta)), cost (z - target)^2.

    E = p (1 - t)^2 + (1 - p) t^2, so d/dtheta = p (1 - p) ((1 - t)^2 - t^2).
    """

    sites = ("z", "cost")

    def __init__(self, theta=0.3, target=0.2, particles=1000, device=None):
        super().__init__({"theta": leaf(theta, device)})
        self.target, self.particles = target, particles

    def __call__(self, pm):
        theta = pm.param("theta", self.params["theta"])
        z = pm.sample("z", Bernoulli(logits=theta.expand(self.particles)))
        pm.loss("cost", (z - self.target) ** 2)

    def analytic_gradient(self):
        p = torch.sigmoid(self.params["theta"].detach())
        t = self.target
        return {"theta": p * (1 - p) * ((1 - t) ** 2 - t**2)}
