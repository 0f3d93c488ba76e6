"""proppo_lab: automatic propagation on PyTorch, and a lab to see it work.

    import proppo_lab as pl
    pm = pl.PropagationManager(plan={"state": "TP"}, default="RP")

See README.md for the concepts: sites, plans, propagators, messages.
"""
from . import propagators, systems
from .core import (Inbox, Merge, Message, Node, NonFiniteError, Option, Plan, PlanError,
                   PropagationError, PropagationManager, Propagator, Spec, catalogue, register,
                   unregister)
from .propagators import Composite, Pathwise, ScoreFunction, baseline

__version__ = "0.1.0"

__all__ = ["Composite", "Inbox", "Merge", "Message", "Node", "NonFiniteError", "Option", "Pathwise",
           "Plan", "PlanError", "PropagationError", "PropagationManager", "Propagator",
           "ScoreFunction", "Spec", "baseline", "catalogue", "propagators", "register", "systems",
           "unregister"]
