"""Lillicrap et al.'s (2016) linear teacher–student task: a 30-20-10 linear network
learns a random linear map, the set-up where feedback alignment was first shown.

A fixed teacher T (10 x 30, entries uniform in [-1, 1]) maps inputs x ~ N(0, I_30) to
targets y = T x. The student has two linear layers, written as function nodes so
that a propagator can replace their backward maps::

    h = pm.forward("hidden", hidden, x)     # 30 -> 20
    y_hat = pm.forward("output", output, h) # 20 -> 10
    pm.loss("cost", 0.5 * ||y - y_hat||^2)  # one fresh input per particle

Plan ``{"output": "FeedbackAlignment"}`` sends the output error to the hidden layer
through a fixed random matrix instead of the output weights (feedback alignment);
the default, Backprop, is ordinary gradient descent. :meth:`TeacherStudent.train`
runs plain SGD under any manager, the loop the tests and tutorial 6 use.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import System


class TeacherStudent(System):
    """The 30-20-10 linear teacher–student task (see the module docstring).

    ``particles``: inputs drawn per iteration (from torch's global generator, which
    the Lab seeds every iteration). ``seed`` fixes the teacher and the student's
    initial weights.
    """

    sites = ("hidden", "output", "cost")

    def __init__(
        self,
        inputs: int = 30,
        hidden: int = 20,
        outputs: int = 10,
        particles: int = 32,
        seed: int = 0,
        device=None,
        dtype=torch.float32,
    ):
        generator = torch.Generator().manual_seed(seed)
        teacher = torch.rand(outputs, inputs, generator=generator) * 2 - 1
        self.teacher = teacher.to(device=device, dtype=dtype)
        self.hidden_layer = nn.Linear(inputs, hidden, bias=False)
        self.output_layer = nn.Linear(hidden, outputs, bias=False)
        with torch.no_grad():  # Lillicrap's small uniform start, drawn from the same seed
            for layer in (self.hidden_layer, self.output_layer):
                bound = 1.0 / layer.in_features**0.5
                layer.weight.copy_(
                    torch.rand(layer.weight.shape, generator=generator) * 2 * bound - bound
                )
        self.hidden_layer.to(device=device, dtype=dtype)
        self.output_layer.to(device=device, dtype=dtype)
        super().__init__(
            {"hidden.weight": self.hidden_layer.weight, "output.weight": self.output_layer.weight}
        )
        self.inputs, self.hidden, self.outputs = inputs, hidden, outputs
        self.particles, self.seed = particles, seed

    def __call__(self, pm) -> None:
        pm.param("hidden", self.hidden_layer)
        pm.param("output", self.output_layer)
        x = torch.randn(self.particles, self.inputs, device=self.teacher.device)
        x = x.to(self.teacher.dtype)
        h = pm.forward("hidden", self.hidden_layer, x)
        y_hat = pm.forward("output", self.output_layer, h)
        pm.loss("cost", 0.5 * ((x @ self.teacher.T - y_hat) ** 2).sum(-1))

    def to(self, device) -> TeacherStudent:
        super().to(device)
        # the layers moved in place: their parameters are the ones to name
        self.params = {
            "hidden.weight": self.hidden_layer.weight,
            "output.weight": self.output_layer.weight,
        }
        return self

    def expected_loss(self) -> float:
        """E[cost] over inputs, exactly: 0.5 ||T - W_out W_hidden||_F^2 (x ~ N(0, I))."""
        with torch.no_grad():
            product = self.output_layer.weight @ self.hidden_layer.weight
            return float(0.5 * ((self.teacher - product) ** 2).sum())

    def train(self, pm, iterations: int, lr: float = 0.02) -> list[float]:
        """Plain SGD for ``iterations`` estimates under ``pm``; returns the exact expected
        loss before each step and after the last."""
        curve = [self.expected_loss()]
        for _ in range(iterations):
            grads = pm.estimate(self)
            with torch.no_grad():
                for name, p in self.params.items():
                    p -= lr * grads[name]
            curve.append(self.expected_loss())
        return curve
