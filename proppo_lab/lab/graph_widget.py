"""GraphWidget: the kernel side of the propagation-graph view.

The widget shows a traced program as a graph (laid out in the browser by
Graphviz compiled to WebAssembly, see ``labextension/``), lets a person click a
node and assign it a propagator from the palette, and overlays message flows.

Data flows one way per direction:

* kernel -> browser: synced traits (``dot``, ``graph``, ``catalogue``,
  ``plan``, ``selected``, ``view``, ``flows``, ``overlay``, ``error``, ``status``);
* browser -> kernel: custom messages only, each validated
  (:mod:`.protocol`) before anything happens (:mod:`.graph_messages`); direct
  state writes from the browser are refused.

The plan itself lives in a :class:`~proppo_lab.lab.plan_editor.PlanEditor`
(:attr:`GraphWidget.editor`, shared with the Lab): the widget turns assign and
clear messages into editor calls, and redraws (re-sending ``graph``, whose
nodes carry their resolved ``propagator`` and explicit ``options``) whenever the
editor announces a change, whoever made it. The ``plan`` trait is a read-only
copy of the editor's plan for the front end.

``svg`` (the rendered picture the browser sends back after each layout, up to
5 MB) is a plain attribute, not a synced trait: the view never reads it, and
the kernel uses it for static export only (:meth:`GraphWidget.static_svg`).

The display bundle also carries a static picture of the graph, for viewers
without a kernel (:mod:`.graph_snapshot`); :meth:`GraphWidget.static_svg` is
what static export uses.

``source`` is anything with ``sites`` (list of site names),
``to_json(plan, view) -> dict`` and ``to_dot(plan, view, flows=None) -> str``;
in the lab it is :class:`proppo_lab.trace.Graph`. It is handed the current
plan as a :class:`proppo_lab.Plan`. Re-assigning a propagator only re-renders
(recolours) from the captured graph; the program is not traced again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
from traitlets import Dict, List, Unicode, observe

from ..contracts import VIEWS
from ..core import registry
from ..core.errors import PropagationError
from ..core.plan import Plan
from . import graph_snapshot, overlay
from .graph_messages import FrontendMessages, error_dict
from .plan_editor import PlanEditor, site_kinds

log = logging.getLogger(__name__)

MODULE_NAME = "proppo-lab"
MODULE_VERSION = "^0.1.0"

PlanCallback = Callable[[Plan], Any]


class GraphWidget(FrontendMessages, widgets.DOMWidget):
    """The propagation graph of a traced program, editable by clicking.

    >>> w = GraphWidget(graph_source, plan={"state": "TP"})
    >>> w.on_plan_change(lambda plan: print(plan.to_dict()))
    >>> w            # displays the graph in JupyterLab / Notebook 7
    """

    _model_name = Unicode("GraphModel").tag(sync=True)
    _view_name = Unicode("GraphView").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    dot = Unicode("", help="the graph in Graphviz DOT; nodes and edges carry id=").tag(sync=True)
    graph = Dict(help="the graph as JSON (view, sites, nodes, edges)").tag(sync=True)
    catalogue = List(help="registered propagators, as proppo_lab.catalogue()").tag(sync=True)
    plan = Dict(help="the current plan as plain JSON (Plan.to_dict())").tag(sync=True)
    selected = Unicode("", help="id of the selected node, '' for none").tag(sync=True)
    view = Unicode("rolled", help="'rolled' or 'unrolled'").tag(sync=True)
    flows = Dict(help="message-flow summary: {'nodes': {...}, 'edges': {...}}").tag(sync=True)
    overlay = Dict(help="per-node live metric the nodes are coloured by (see lab/overlay.py)").tag(
        sync=True
    )
    error = Dict(help="{'message','site','instance','propagator'} or {}").tag(sync=True)
    status = Unicode("", help="one line of what just happened").tag(sync=True)

    def __init__(
        self,
        source: Any,
        plan: Plan | Mapping[str, Any] | None = None,
        *,
        view: str = "rolled",
        catalogue: list | None = None,
        editor: PlanEditor | None = None,
        **kwargs: Any,
    ):
        if view not in VIEWS:
            raise ValueError(f"view must be 'rolled' or 'unrolled', not {view!r}")
        self._source = source
        if editor is None:
            editor = PlanEditor.for_source(source, plan)
        elif plan is not None:
            editor.set_plan(plan)
        self.editor = editor
        #: the picture the browser laid out (export only; see the module docstring)
        self.svg = ""
        self._callbacks: list[PlanCallback] = []
        self._dismiss_callbacks: list[Callable[[], Any]] = []
        self._overlay_metric = ""
        self._overlay_values: dict[str, dict[str, float]] = {}  # metric -> unrolled id -> v
        self._overlay_iteration: int | None = None
        super().__init__(
            catalogue=list(catalogue if catalogue is not None else registry.catalogue()),
            plan=editor.plan.to_dict(),
            view=view,
            **kwargs,
        )
        self._rendering = False
        self._render()
        if catalogue is None:  # the live registry's palette: follow its changes
            self._unsubscribe = registry.subscribe(self._registry_changed)
        self._send_overlay()
        editor.on_change(self._redraw_for_plan)
        self.on_msg(self._on_frontend_msg)

    # ----------------------------------------------------------------- public API

    @property
    def source(self) -> Any:
        return self._source

    @property
    def current_plan(self) -> Plan:
        """The current plan as a :class:`proppo_lab.Plan` (``plan`` holds its JSON)."""
        return self.editor.plan

    def set_plan(self, plan: Plan | Mapping[str, Any]) -> None:
        """Replace the plan from Python (raises PlanError when it is invalid)."""
        self.editor.set_plan(plan)

    def on_plan_change(self, callback: PlanCallback, remove: bool = False) -> None:
        """Call ``callback(plan)`` after each accepted change of the plan.

        A callback that raises does not undo the change; its error is shown in
        the widget's error banner.
        """
        if remove:
            self._callbacks = [c for c in self._callbacks if c is not callback]
        elif callback not in self._callbacks:
            self._callbacks.append(callback)

    def set_flows(self, flows: Mapping[str, Any] | None) -> None:
        """Show a message-flow summary ({'nodes': {...}, 'edges': {...}}) as an overlay."""
        flows = dict(flows or {})
        self.flows = (
            {"nodes": dict(flows.get("nodes") or {}), "edges": dict(flows.get("edges") or {})}
            if flows
            else {}
        )

    @property
    def overlay_metric(self) -> str:
        """The live metric the nodes are coloured by ('' = by propagator); see
        :data:`proppo_lab.lab.overlay.METRICS`. Setting an unknown name raises ValueError."""
        return self._overlay_metric

    @overlay_metric.setter
    def overlay_metric(self, name: str) -> None:
        self._overlay_metric = overlay.check_metric(name)
        self._send_overlay()

    def set_overlay_values(
        self, values: Mapping[str, Mapping[str, float]], iteration: int | None = None
    ) -> None:
        """Per-instance metric values ``{metric: {unrolled node id: value}}`` of one
        recorded pass (:func:`proppo_lab.lab.overlay.instance_values`)."""
        self._overlay_values = {k: dict(v) for k, v in values.items()}
        self._overlay_iteration = iteration
        self._send_overlay()

    def _send_overlay(self) -> None:
        self.overlay = overlay.payload(
            self._overlay_metric, self._overlay_values, self.view, self._overlay_iteration
        )

    def show_error(self, err: PropagationError | Mapping[str, Any] | str | BaseException) -> None:
        """Show an error in the banner; a PropagationError also highlights its node."""
        if isinstance(err, PropagationError):
            self.error = error_dict(str(err), err.site, err.instance, err.propagator)
        elif isinstance(err, Mapping):
            self.error = error_dict(
                str(err.get("message", "")),
                err.get("site"),
                err.get("instance"),
                err.get("propagator"),
            )
        else:
            self.error = error_dict(str(err))

    def clear_error(self) -> None:
        self.error = {}

    def set_source(self, source: Any) -> None:
        """Draw another capture of the same program (after its particles or
        device changed), keeping the plan."""
        self.editor.retarget(source.sites, site_kinds(source))
        self._source = source
        self._render()

    # ------------------------------------------------------------- static snapshot

    def static_svg(self) -> str:
        """The graph as a standalone SVG string ('' when it cannot be drawn).

        Drawn kernel-side with the ``dot`` binary (Debian ``graphviz``), coloured by
        the current plan, with the flow overlay and without the legend box
        (:func:`.graph_snapshot.without_legend`); the browser's picture (``svg``,
        sent after each layout: the same Graphviz layout of the same DOT) when the
        binary is missing.
        """
        try:
            dot = self._source.to_dot(self.current_plan, self.view, flows=self.flows or None)
        except Exception:  # noqa: BLE001 - a source that cannot draw: no picture
            log.debug("graph widget: no DOT for the static SVG", exc_info=True)
            dot = ""
        svg = graph_snapshot.svg_from_dot(graph_snapshot.without_legend(dot)) if dot else ""
        if not svg and self.svg.lstrip().startswith("<svg"):
            return self.svg
        return svg

    def snapshot_bundle(self, model_id: str) -> dict:
        """The static snapshot for a display bundle whose widget view is ``model_id``
        (:func:`.graph_snapshot.bundle`); {} when there is no picture."""
        return graph_snapshot.bundle(self.static_svg(), self.view, model_id, self._node_ids())

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        """The widget view plus a static snapshot (SVG) for kernel-less viewers."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle:
            bundle.update(self.snapshot_bundle(self.model_id))
        return bundle

    # ------------------------------------------------------------------- internals

    def _node_ids(self) -> set[str]:
        return {n.get("id") for n in self.graph.get("nodes", []) if isinstance(n, dict)}

    def _redraw_for_plan(self, plan: Plan, what: str) -> None:
        """The editor accepted a change (from a click, the Lab or a plan file): redraw."""
        self.plan = plan.to_dict()
        self.error = {}
        self._render()
        if not self.error:
            self.status = what
        for callback in list(self._callbacks):
            try:
                callback(plan)
            except Exception as err:  # noqa: BLE001 - shown, not raised
                log.exception("graph widget: on_plan_change callback failed")
                self.error = error_dict(
                    f"on_plan_change callback failed: {type(err).__name__}: {err}"
                )

    def _registry_changed(self) -> None:
        """A propagator was registered or removed: new palette, and a redraw (a
        re-registered propagator may have a new colour in the graph and legend)."""
        self.catalogue = registry.catalogue()
        self._render()

    def _render(self) -> None:
        """Recompute graph JSON and DOT from the source for the current plan and view."""
        if getattr(self, "_rendering", True):
            return
        self._rendering = True
        try:
            plan = self.current_plan
            graph = self._source.to_json(plan, self.view)
            dot = self._source.to_dot(plan, self.view)
            with self.hold_sync():
                self.graph = dict(graph)
                self.dot = str(dot)
                if self.selected and self.selected not in self._node_ids():
                    self.selected = ""
        except Exception as err:  # noqa: BLE001 - drawing must not crash the kernel
            log.exception("graph widget: rendering failed")
            self.error = error_dict(f"could not draw the graph: {type(err).__name__}: {err}")
        finally:
            self._rendering = False

    @observe("view")
    def _on_view(self, change: dict) -> None:
        if change["new"] not in VIEWS:
            self.set_trait("view", change["old"])
            self.error = error_dict(f"view must be 'rolled' or 'unrolled', not {change['new']!r}")
            return
        self._render()
        self._send_overlay()
