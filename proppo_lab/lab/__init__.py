"""The Jupyter side of proppo_lab: the graph widget (and, around it, the Lab app)."""
from .graph_widget import GraphWidget

__all__ = ["GraphWidget"]
