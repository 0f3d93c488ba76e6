"""The automatic-propagation engine: nodes, messages, propagators, the manager.

Imports nothing from the tracing or Jupyter layers: it works in a plain script.
"""
from .errors import NonFiniteError, PlanError, PropagationError
from .manager import BackwardPass, ForwardPass, PropagationManager
from .messages import Inbox, Merge, Message
from .node import Node
from .options import Option
from .plan import Plan, Spec
from .propagator import Propagator
from .registry import catalogue, register, unregister
from .seeding import seed

__all__ = ["BackwardPass", "ForwardPass", "Inbox", "Merge", "Message", "Node", "NonFiniteError",
           "Option", "Plan", "PlanError", "PropagationError", "PropagationManager", "Propagator",
           "Spec", "catalogue", "register", "seed", "unregister"]
