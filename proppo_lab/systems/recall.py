"""Delayed recall: a recurrent network must output the symbol it saw ``delay`` steps ago.

Each particle reads a stream of random symbols (one-hot, ``symbols`` of them), one per
step, through a tanh RNN cell written as a function node::

    h = pm.forward("state", cell, x_t, h)                      # T instances of "state"
    pm.loss("recall", cross_entropy(readout(h), symbol[t - delay]))   # for t >= delay

A step's answer was seen ``delay`` steps earlier, so its gradient must travel
``delay`` steps back. Truncated BPTT that cuts every k < delay steps
(``{"state": Truncate(k)}``) never sees that dependency and stays near chance
(cross-entropy log(symbols) per step); synthetic gradients sent across the cuts
(``{"state": SyntheticGradient(every=k)}``) can carry it. Small and fast on a CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import System


class DelayedRecall(System):
    """The delayed-recall task (see the module docstring). ``seed`` fixes the initial
    weights; the streams come from torch's global generator (the Lab seeds it)."""

    sites = ("state", "recall")

    def __init__(
        self,
        symbols: int = 4,
        delay: int = 6,
        steps: int = 16,
        hidden: int = 32,
        particles: int = 64,
        seed: int = 0,
        device=None,
        dtype=torch.float32,
    ):
        generator = torch.random.fork_rng()
        with generator:
            torch.manual_seed(seed)
            self.cell = nn.RNNCell(symbols, hidden).to(device=device, dtype=dtype)
            self.readout = nn.Linear(hidden, symbols).to(device=device, dtype=dtype)
        self.symbols, self.delay, self.steps = symbols, delay, steps
        self.hidden, self.particles, self.seed = hidden, particles, seed
        super().__init__(self._named())

    def _named(self) -> dict[str, torch.Tensor]:
        return {
            **{f"cell.{k}": p for k, p in self.cell.named_parameters()},
            **{f"readout.{k}": p for k, p in self.readout.named_parameters()},
        }

    @property
    def chance(self) -> float:
        """The cross-entropy per step of guessing: log(symbols)."""
        return math.log(self.symbols)

    def streams(self, particles: int | None = None) -> torch.Tensor:
        """Random symbol streams, (particles, steps), from the global generator."""
        n = particles or self.particles
        device = self.readout.weight.device
        return torch.randint(self.symbols, (n, self.steps), device=device)

    def __call__(self, pm) -> None:
        pm.param("cell", self.cell)
        pm.param("readout", self.readout)
        tokens = self.streams()
        dtype = self.readout.weight.dtype
        h = tokens.new_zeros(tokens.shape[0], self.hidden, dtype=dtype)
        for t in range(self.steps):
            x = F.one_hot(tokens[:, t], self.symbols).to(dtype)
            h = pm.forward("state", self.cell, x, h)
            if t >= self.delay:
                logits = self.readout(h)
                pm.loss(
                    "recall", F.cross_entropy(logits, tokens[:, t - self.delay], reduction="none")
                )

    def evaluate(self, particles: int = 512) -> tuple[float, float]:
        """(cross-entropy per answered step, accuracy) on fresh streams, plain PyTorch."""
        with torch.no_grad():
            tokens = self.streams(particles)
            h = torch.zeros(particles, self.hidden, dtype=self.readout.weight.dtype)
            losses, hits = [], []
            for t in range(self.steps):
                x = F.one_hot(tokens[:, t], self.symbols).to(h.dtype)
                h = self.cell(x, h)
                if t >= self.delay:
                    logits, answer = self.readout(h), tokens[:, t - self.delay]
                    losses.append(F.cross_entropy(logits, answer))
                    hits.append((logits.argmax(-1) == answer).float().mean())
        return float(torch.stack(losses).mean()), float(torch.stack(hits).mean())

    def to(self, device) -> DelayedRecall:
        self.cell.to(device)
        self.readout.to(device)
        self.params = self._named()
        return self

    def train(self, pm, iterations: int, lr: float = 3e-3) -> tuple[float, float]:
        """Adam on ``iterations`` estimates of ``pm`` (an RNN wants an adaptive step);
        returns :meth:`evaluate` after the last."""
        optimizer = torch.optim.Adam(self.params.values(), lr=lr)
        for _ in range(iterations):
            grads = pm.estimate(self)
            for name, p in self.params.items():
                p.grad = grads[name]
            optimizer.step()
        return self.evaluate()
