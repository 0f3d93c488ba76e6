"""The Jupyter side of proppo_lab: everything a person clicks, and what it drives.

* :mod:`.plan_editor`: the one home of the plan (checked with core's rules);
* :mod:`.graph_widget`: the graph widget (kernel -> browser traits, drawing);
  :mod:`.graph_messages` + :mod:`.protocol`: its validated front-end messages;
  :mod:`.graph_snapshot`: its static SVG for kernel-less viewers; :mod:`.overlay`:
  per-node live metrics;
* :mod:`.app` (the Lab's layout and wiring), :mod:`.controls` (its buttons and
  fields: labels, tooltips, checked values, progress), :mod:`.runs` (run, step,
  compare, stop), :mod:`.session` (one run's loop and incremental live plots),
  :mod:`.plots`, :mod:`.layout`, :mod:`.program`, :mod:`.runner`,
  :mod:`.devices`, :mod:`.script` (plan files, "As Python");
* :mod:`.export` (kernel snapshots, execution, the nbconvert exporter) and
  :mod:`.static_widgets` (widget outputs as static HTML): offline HTML export;
  :mod:`.publish` (a Lab's runs precomputed for a page) and :mod:`.explorable`
  (+ ``explorable.js``: switching between them in the page), :mod:`.maths`
  (markdown formulas as MathML), :mod:`.site` (a folder of notebooks as a site).
"""

from .graph_widget import GraphWidget
from .plan_editor import PlanEditor

__all__ = ["GraphWidget", "PlanEditor"]
