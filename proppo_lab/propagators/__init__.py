"""The propagator library: built-ins, parts to assemble new ones, baselines.

Importing this package registers the built-ins (Backprop, RP, LR, TP, GR, GS,
Pause, Skip) in the registry that plans resolve names through.
"""
from . import baselines
from .baselines import baseline
from .builtin import GR, GS, LR, RP, TP, Backprop, Pause, Skip
from .gaussian import fitted_gaussian
from .parts import Composite, Part, Pathwise, ScoreFunction, draw, per_particle_sum

__all__ = ["GR", "GS", "LR", "RP", "TP", "Backprop", "Pause", "Skip", "Composite", "Part",
           "Pathwise", "ScoreFunction", "baseline", "baselines", "draw", "fitted_gaussian",
           "per_particle_sum"]
