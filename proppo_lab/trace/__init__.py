"""Tracing: the computation graph, message flows and gradient statistics.

Everything here watches the engine from outside, as an observer
(:class:`proppo_lab.Observer`) or by running programs through a manager.

* :func:`capture` (:mod:`.capturing`) runs a program once and returns its
  :class:`Graph` (:mod:`.graph`: sites, instances, parameters, losses, edges
  read off autograd by :mod:`.walk`; stable ids from :mod:`.ids`), which renders
  as the front end's JSON (:meth:`Graph.to_json`, the views in
  :mod:`.graph_views`) or as Graphviz DOT (:mod:`.dot`), coloured by any plan
  without re-tracing.
* :class:`Recorder` observes backward passes and records the messages every
  node sent, TP's weights and LR's baselines (one host sync per pass, taken by
  :mod:`.pass_record`).
* :class:`Welford` / :class:`GradientStats` keep running gradient statistics
  on the device; :func:`compare` runs one program under several plans with
  common random numbers; :func:`sweep` maps variance across a program
  argument (resumable). Both run their independent cells on any
  ``concurrent.futures.Executor`` (:mod:`.cells`: a process pool and Dask are tested).
  With ``reference=`` (an exact gradient, or :meth:`Reference.run`), compare's
  table adds each plan's bias, z-score and MSE; :func:`gradcheck` answers "is
  this estimator unbiased here?" with a pass/fail line (:mod:`.reference`).
* :class:`PeakMemory` (:mod:`.memory`) measures an iteration's peak memory:
  the bytes autograd holds for backward (any device) and CUDA's allocator peak.
* :class:`ForwardCheck` and the engine's ``NonFiniteError`` name the site,
  instance, propagator and iteration where a non-finite value first appears.

``trace`` depends on ``core`` only (plus numpy-free torch, plotly, graphviz);
it never imports the lab or Jupyter packages.
"""

from ..contracts import LOSS_COLOUR, PARAM_COLOUR
from .capturing import capture
from .checks import ForwardCheck, gradient_report, report
from .compare import Comparison, compare
from .dot import to_dot
from .figures import (
    final_variance_figure,
    heatmap_figure,
    mean_figure,
    messages_figure,
    sweep_figure,
    variance_figure,
    weights_figure,
)
from .graph import Graph, Instance, Param
from .ids import edge_id, param_id, site_id
from .intervals import chi2_quantile, variance_interval
from .memory import PeakMemory
from .recorder import Recorder
from .reference import GradCheck, Reference, gradcheck
from .sweep import SweepResult, sweep
from .welford import GradientStats, Welford

__all__ = [
    "Comparison",
    "ForwardCheck",
    "GradCheck",
    "GradientStats",
    "Graph",
    "Instance",
    "LOSS_COLOUR",
    "PARAM_COLOUR",
    "Param",
    "PeakMemory",
    "Recorder",
    "Reference",
    "SweepResult",
    "Welford",
    "capture",
    "chi2_quantile",
    "compare",
    "edge_id",
    "final_variance_figure",
    "gradcheck",
    "gradient_report",
    "heatmap_figure",
    "mean_figure",
    "messages_figure",
    "param_id",
    "report",
    "site_id",
    "sweep",
    "sweep_figure",
    "to_dot",
    "variance_figure",
    "variance_interval",
    "weights_figure",
]
