"""The Jupyter side of proppo_lab: everything a person clicks, and what it drives.

* :mod:`.plan_editor`: the one home of the plan (checked with core's rules);
* :mod:`.graph_widget` + :mod:`.protocol`: the graph widget and its validated
  front-end messages;
* :mod:`.app` (the Lab's layout and wiring), :mod:`.controls` (its buttons and
  fields: labels, tooltips, checked values, progress), :mod:`.session` (runs and their
  incremental live plots), :mod:`.plots`, :mod:`.program`, :mod:`.runner`,
  :mod:`.devices`, :mod:`.script` (plan files, "As Python");
* :mod:`.export`: static, offline HTML export of notebooks.
"""

from .graph_widget import GraphWidget
from .plan_editor import PlanEditor

__all__ = ["GraphWidget", "PlanEditor"]
