"""The chaotic 2-D sigmoid RNN of the Proppo paper (Parmas & Seno, 2022).

s_{t+1} ~ N(sigmoid(beta * s_t W), noise^2), W = [[-5, -25], [5, 25]],
s_0 = [0.35, 0.55], cost 0.5 * ||1 - s_T||^2 at the end. Near beta = 2.4 the
system sits at the edge of chaos: the reparameterisation gradient's variance
grows by orders of magnitude with beta, the likelihood-ratio gradient's does not.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

from .base import System, leaf

W = ((-5.0, -25.0), (5.0, 25.0))
START = (0.35, 0.55)


class ChaoticRNN(System):
    sites = ("state", "cost")

    def __init__(
        self, beta=2.4, particles=1000, steps=100, noise=1e-3, device=None, dtype=torch.float32
    ):
        super().__init__({"beta": leaf(beta, device, dtype)})
        self.particles, self.steps, self.noise = particles, steps, noise
        self.W = torch.tensor(W, device=device, dtype=dtype)
        self.start = torch.tensor(START, device=device, dtype=dtype)
        self.scale = torch.tensor(noise, device=device, dtype=dtype)

    def __call__(self, pm):
        beta = pm.param("beta", self.params["beta"])
        s = self.start.expand(self.particles, 2)
        for _ in range(self.steps):
            # arguments are valid by construction: skip torch's per-call validation
            s = pm.sample(
                "state", Normal(torch.sigmoid(beta * s @ self.W), self.scale, validate_args=False)
            )
        pm.loss("cost", 0.5 * ((1 - s) ** 2).sum(-1))

    def plain(self, noise: torch.Tensor) -> torch.Tensor:
        """The same rollout in plain PyTorch, reparameterised, with given noise
        (steps, particles, 2): the autograd baseline for tests and benchmarks."""
        beta = self.params["beta"]
        s = self.start.expand(self.particles, 2)
        for t in range(self.steps):
            s = torch.sigmoid(beta * s @ self.W) + self.noise * noise[t]
        return (0.5 * ((1 - s) ** 2).sum(-1)).mean()
