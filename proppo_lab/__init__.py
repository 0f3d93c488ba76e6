"""proppo_lab: automatic propagation on PyTorch, and a lab to see it work.

    import proppo_lab as pl
    pm = pl.PropagationManager(plan={"state": "TP"}, default="RP")

See README.md for the concepts: sites, plans, propagators, messages.
"""

from . import core, losses, propagators, systems

# the engine's public names are listed once, in core.__all__
from .core import *  # noqa: F403
from .propagators import Composite, Pathwise, ScoreFunction, baseline

__version__ = "0.1.0"


def __getattr__(name):
    # The lab pulls in ipywidgets and the tracing layer pulls in plotly; import
    # them on first use so that a plain script using the engine stays light.
    if name == "Lab":
        from .lab.app import Lab

        return Lab
    if name in ("trace", "lab"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'proppo_lab' has no attribute {name!r}")


__all__ = [
    "Lab",  # noqa: F405 (made on first use, by __getattr__)
    "Composite",
    "Pathwise",
    "ScoreFunction",
    "baseline",
    "losses",
    "propagators",
    "systems",
    *core.__all__,
]
