"""The automatic-propagation engine.

* :mod:`.manager`: :class:`PropagationManager`, which records a program's nodes
  and runs their propagators backwards (start reading here);
* :mod:`.passes`: what a propagator may do on the forward and backward pass;
* :mod:`.node`, :mod:`.messages`, :mod:`.propagator`, :mod:`.loss`: the pieces;
* :mod:`.coupling`: particles drawn in coupled groups (antithetic pairs, outcomes);
* :mod:`.particles`: statistics across particles (the one place that knows of shards);
  :mod:`.sharded`: :class:`ShardedManager`, particles split over ``torch.distributed``;
* :mod:`.plan`, :mod:`.registry`, :mod:`.options`: which propagator serves a site;
* :mod:`.observer`: the events tracing listens to.

Imports nothing from the tracing or Jupyter layers: it works in a plain script.
"""

from .coupling import Coupling
from .errors import NonFiniteError, PlanError, PropagationError
from .manager import PropagationManager
from .messages import Inbox, Merge, Message
from .node import Node
from .observer import Observer
from .options import Option
from .passes import BackwardPass, ForwardPass
from .plan import Plan, Spec
from .propagator import Propagator
from .registry import catalogue, register, unregister
from .seeding import seed
from .sharded import ShardedManager

__all__ = [
    "BackwardPass",
    "Coupling",
    "ForwardPass",
    "Inbox",
    "Merge",
    "Message",
    "Node",
    "NonFiniteError",
    "Observer",
    "Option",
    "Plan",
    "PlanError",
    "PropagationError",
    "PropagationManager",
    "Propagator",
    "ShardedManager",
    "Spec",
    "catalogue",
    "register",
    "seed",
    "unregister",
]
