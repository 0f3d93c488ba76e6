"""Cart-pole through a known differentiable model (PILCO / PIPPS set-up).

State (position, velocity, angle, angular velocity); angle 0 hangs down, pi is
upright. Each step integrates the equations of motion, then adds Gaussian
process noise at the sample site "state". A small neural policy pushes the
cart with a force in [-max_force, max_force]; the per-step cost
1 - exp(-d^2 / (2 w^2)) measures how far the pole's tip is from upright
above the origin (w = 0.5 for balancing from upright, 0.25 for swinging up
from hanging down, as in PILCO).

Defaults (balance, dt 0.05 s, 80 steps = 4 s, noise 0.05) are the set-up of
tutorial 4: the policy's output layer starts small (``init_scale``), so the
untrained policy barely pushes and does not saturate; the pole falls from the
unstable upright and swings near the separatrix, where small differences grow
exponentially. There reparameterisation gradients explode with the horizon
while total propagation stays usable (Parmas et al., PIPPS, ICML 2018).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Normal

from .base import System

GRAVITY = 9.82


class Policy(nn.Module):
    """Features (x, v, sin a, cos a, w) -> force, squashed by tanh."""

    def __init__(self, hidden: int = 32, max_force: float = 10.0, init_scale: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.max_force = max_force
        # a small output layer: the untrained policy pushes gently (|force| of order
        # 0.5 N) instead of driving the cart away at the tanh's saturation, where the
        # costs saturate too and every gradient vanishes
        with torch.no_grad():
            self.net[2].weight.mul_(init_scale)
            self.net[2].bias.mul_(init_scale)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        x, v, a, w = s.unbind(-1)
        features = torch.stack([x, v, torch.sin(a), torch.cos(a), w], -1)
        return self.max_force * torch.tanh(self.net(features)).squeeze(-1)


class CartPole(System):
    sites = ("state", "cost")

    def __init__(
        self,
        horizon=80,
        particles=100,
        noise=0.05,
        dt=0.05,
        substeps=2,
        hidden=32,
        seed=0,
        task="balance",
        device=None,
    ):
        if task not in ("balance", "swingup"):
            raise ValueError(f"task must be 'balance' or 'swingup', got {task!r}")
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
            self.policy = Policy(hidden).to(device)
        super().__init__(dict(self.policy.named_parameters(prefix="policy")))
        self.horizon, self.particles, self.noise = horizon, particles, noise
        self.dt, self.substeps, self.hidden, self.seed = dt, substeps, hidden, seed
        self.cart_mass, self.pole_mass, self.length, self.friction = 0.5, 0.5, 0.5, 0.1
        self.task = task
        # balance starts at the unstable upright equilibrium, where small errors grow
        # exponentially; swing-up starts hanging down
        self.start = torch.tensor(
            [0.0, 0.0, math.pi if task == "balance" else 0.0, 0.0], device=device
        )
        self.width = 0.5 if task == "balance" else 0.25
        self.scale = torch.full((4,), noise, device=device)
        self.last_cost: torch.Tensor | None = None  # (horizon,) mean cost per step, last run

    def dynamics(self, s: torch.Tensor, force: torch.Tensor) -> torch.Tensor:
        """One step of the cart-pole's equations of motion (semi-implicit Euler)."""
        M, m, l, b = self.cart_mass, self.pole_mass, self.length, self.friction
        h = self.dt / self.substeps
        x, v, a, w = s.unbind(-1)
        for _ in range(self.substeps):
            sin, cos = torch.sin(a), torch.cos(a)
            denom = 4 * (M + m) - 3 * m * cos**2
            acc = (
                2 * m * l * w**2 * sin + 3 * m * GRAVITY * sin * cos + 4 * force - 4 * b * v
            ) / denom
            ang = (
                -3 * m * l * w**2 * sin * cos
                - 6 * (M + m) * GRAVITY * sin
                - 6 * (force - b * v) * cos
            ) / (l * denom)
            v = v + h * acc
            w = w + h * ang
            x = x + h * v
            a = a + h * w
        return torch.stack([x, v, a, w], -1)

    def step_cost(self, s: torch.Tensor) -> torch.Tensor:
        x, _, a, _ = s.unbind(-1)
        l = self.length
        d2 = (x + l * torch.sin(a)) ** 2 + (l + l * torch.cos(a)) ** 2
        return 1 - torch.exp(-d2 / (2 * self.width**2))

    def __call__(self, pm):
        policy = pm.param("policy", self.policy)
        s = self.start.expand(self.particles, 4)
        costs = []
        for _ in range(self.horizon):
            mean = self.dynamics(s, policy(s))
            s = pm.sample("state", Normal(mean, self.scale.expand_as(mean), validate_args=False))
            cost = self.step_cost(s)
            pm.loss("cost", cost)
            costs.append(cost.detach().mean())
        # what the particles paid, step by step (for learning curves; no sync here)
        self.last_cost = torch.stack(costs) if costs else None

    def to(self, device):
        super().to(device)
        self.params = dict(self.policy.named_parameters(prefix="policy"))
        return self

    def settings(self):
        return {
            "horizon": self.horizon,
            "particles": self.particles,
            "noise": self.noise,
            "dt": self.dt,
            "substeps": self.substeps,
            "hidden": self.hidden,
            "seed": self.seed,
            "task": self.task,
        }
