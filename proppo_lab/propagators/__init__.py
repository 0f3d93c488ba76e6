"""The propagator library: built-ins, parts to assemble new ones, baselines.

* :mod:`.builtin`: Backprop, RP, LR, TP, GR, GS, Pause, Skip, registered in the
  core registry exactly as a user's own propagator is (the registry imports
  this package the first time a plan resolves a name);
* :mod:`.discrete`: ARM, DisARM, Enumerate (coupled particles) and Gumbel for
  discrete nodes; :mod:`.mvd`: the measure-valued derivative (MVD) of Normal nodes;
* :mod:`.parts`: :class:`Composite` and the parts it mixes (pathwise, score function);
  :mod:`.mixing`: TP's inverse-variance weights (batched Jacobian products);
  :mod:`.normal`: the Normal's draw, score and pathwise cotangents written out by hand;
* :mod:`.relax`: RELAX and REBAR (a learned control variate) for discrete nodes;
* :mod:`.baselines`: what LR-type parts subtract from the cost-to-go (``learned``
  among them); :mod:`.learned`: small networks trained online in a node's state;
* :mod:`.gaussian`: fitting and resampling Gaussians over particles (GR, GS);
* learning signals on function nodes: :mod:`.feedback` (FeedbackAlignment),
  :mod:`.synthetic` (SyntheticGradient, BP(λ)), :mod:`.truncate` (Truncate: truncated BPTT).
* memory and zeroth-order: :mod:`.checkpoint` (Checkpoint, placed by :mod:`.placement`),
  :mod:`.backrazor` (BackRazor), :mod:`.guided_es` (GuidedES), :mod:`.abpt` (ABPT).
"""

from . import baselines
from .baselines import baseline
from .builtin import GR, GS, LR, RP, TP, Backprop, Pause, Skip
from .discrete import ARM, DisARM, Enumerate, Gumbel
from .gaussian import fitted_gaussian
from .mvd import MVD
from .parts import Composite, Part, Pathwise, ScoreFunctionReference, draw, per_particle_sum
from .relax import RELAX
from .score_fast import ScoreFunction

# isort: split
# learning signals, memory and zeroth-order propagators: after the built-ins in the palette
from .feedback import FeedbackAlignment
from .synthetic import SyntheticGradient
from .truncate import Truncate

# isort: split
from .abpt import ABPT
from .backrazor import BackRazor
from .checkpoint import Checkpoint
from .guided_es import GuidedES

__all__ = [
    "GR",
    "GS",
    "LR",
    "RP",
    "TP",
    "Backprop",
    "Pause",
    "Skip",
    "ARM",
    "DisARM",
    "Enumerate",
    "Gumbel",
    "MVD",
    "RELAX",
    "FeedbackAlignment",
    "SyntheticGradient",
    "Truncate",
    "Checkpoint",
    "BackRazor",
    "GuidedES",
    "ABPT",
    "Composite",
    "Part",
    "Pathwise",
    "ScoreFunction",
    "ScoreFunctionReference",
    "baseline",
    "baselines",
    "draw",
    "fitted_gaussian",
    "per_particle_sum",
]
