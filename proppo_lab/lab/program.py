"""Programs the Lab can run: a :class:`~proppo_lab.systems.System`, or a plain
``program(pm)`` function wrapped by :class:`FunctionProgram`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import torch

from ..systems.base import System


class FunctionProgram(System):
    """Wraps a plain ``program(pm)`` function and the tensors it learns.

    ``params`` are named to the manager before each run of ``fn``; a
    ``particles`` argument is passed when ``fn`` takes one.
    """

    def __init__(
        self,
        fn: Callable,
        params: Mapping[str, torch.Tensor] | None = None,
        particles: int | None = None,
    ):
        super().__init__(params or {})
        self.fn = fn
        arg = inspect.signature(fn).parameters.get("particles")
        self.takes_particles = arg is not None
        if particles is None and arg is not None and isinstance(arg.default, int):
            particles = arg.default  # program(pm, particles=256): the Lab can change it
        self.particles = particles
        self.sites = ()

    def __call__(self, pm):
        for name, value in self.params.items():
            pm.param(name, value)
        if self.takes_particles and self.particles is not None:
            self.fn(pm, particles=self.particles)
        else:
            self.fn(pm)

    def __repr__(self):
        return getattr(self.fn, "__name__", "program")


def as_program(
    program, params: Mapping[str, torch.Tensor] | None = None, particles: int | None = None
) -> System:
    """``program`` itself when it is a System, else the function wrapped."""
    return program if isinstance(program, System) else FunctionProgram(program, params, particles)


def particle_count(graph) -> int | None:
    """How many particles a captured program draws: the leading dimension of its
    first sample node (None when it has no sample node with a shape)."""
    for inst in getattr(graph, "instances", ()):
        if inst.kind == "sample" and inst.shape:
            return int(inst.shape[0])
    return None
