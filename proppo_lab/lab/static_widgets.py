"""Static HTML for widget outputs: the preprocessor that export runs on a notebook.

:class:`StaticWidgetsPreprocessor` replaces each widget output
(``application/vnd.jupyter.widget-view+json``) by static HTML, walking the
saved widget state from the displayed model down through its children (boxes
become flex rows/columns, HTML/labels/buttons/text fields become disabled
look-alikes): a model with a snapshot (:func:`proppo_lab.lab.export.snapshots`)
becomes its SVG or plot, and a Lab its graph, status line and plots
(:mod:`.explorable`, with its published runs when it has some); a graph model
without one is drawn from its ``dot`` trait (or the ``svg`` trait that notebooks
saved by earlier versions carry) with the ``dot`` binary; a FigureWidget without
one falls back to its saved (initial) figure. Graphs are drawn without their
legend box, with a line of colour chips under them instead. A FigureWidget
without a series of two points is left out, with a line saying why. The Lab's
controls are left out: without a kernel they would do nothing. Plain plotly
outputs (``application/vnd.plotly.v1+json``) become plot divs, and a graph
bundle's ``image/svg+xml`` fallback is used when its widget state is gone.
:data:`CSS` styles what it writes.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from ..contracts import GRAPH_MIME, SNAPSHOT_MIME
from . import explorable
from .graph_snapshot import legend_html, standalone, svg_from_dot, without_legend

log = logging.getLogger(__name__)

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: where an executed notebook keeps its snapshots (``metadata.proppo_lab.snapshots``)
METADATA_KEY = "proppo_lab"

#: The code of the cell export injects after the notebook's own cells
#: (``--execute``); the preprocessor drops it, and its output, from the page.
SNAPSHOT_CELL = "import proppo_lab.lab.export as _pl_export; _pl_export.kernel_snapshots()"

#: Widgets that only act through a kernel (the Lab's controls): not drawn in a page.
KERNEL_ONLY_CLASSES = {"pl-controls", "pl-presentation-toggle"}

#: The page's style for the static look-alikes (inlined by the exporter's template).
CSS = """
.pl-static-box { display: flex; gap: 6px; flex-wrap: wrap; align-items: flex-start; }
.pl-static-vbox { flex-direction: column; flex-wrap: nowrap; }
.pl-static-grid { display: grid; width: 100%;
                  grid-template-columns: repeat(auto-fill, minmax(470px, 1fr)); }
.pl-static-vbox > div { align-self: stretch; }
.pl-static-graph svg { max-width: 100%; height: auto; }
.pl-static-field { font-size: 12px; display: flex; gap: 6px; align-items: center; }
.pl-static-field label { min-width: 80px; text-align: right; color: #555; }
.pl-static-widget button, .pl-static-widget input, .pl-static-widget select,
.pl-static-widget textarea { font-size: 12px; }
.pl-static-missing { color: #777; font-style: italic; font-size: 12px; }
"""


def _plotly_html(figure: Mapping[str, Any]) -> str:
    import plotly.io as pio

    return pio.to_html(
        dict(figure),
        include_plotlyjs=False,
        full_html=False,
        validate=False,
        config={"responsive": True},
    )


def _graph_html(svg: str, legend: str = "") -> str:
    return f'<div class="pl-static-graph">{standalone(svg) or svg}</div>{legend}'


def _svg_from_dot(dot: str) -> str:
    svg = svg_from_dot(dot)
    if not svg:
        log.warning(
            "export: cannot draw a graph without the `dot` binary (apt-get install graphviz)"
        )
    return svg


def _ref(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        return value[len("IPY_MODEL_") :]
    return None


class StaticWidgetsPreprocessor(Preprocessor):
    """Replace widget and plotly outputs by static HTML (see the module docstring)."""

    keep_widget_state = Bool(
        False, help="keep metadata.widgets (the page never loads a widget manager either way)"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        resources = resources if resources is not None else {}
        meta = nb.metadata.get(METADATA_KEY) or {}
        self.snapshots: dict = dict(meta.get("snapshots") or {})
        self.snapshots.update(resources.get("proppo_lab_snapshots") or {})
        state = ((nb.metadata.get("widgets") or {}).get(WIDGET_STATE_MIME) or {}).get("state")
        self.state: dict = dict(state or {})
        self.uses_plotly = self.uses_explorable = False
        for cell in nb.cells:
            if cell.get("cell_type") != "code":
                continue
            outputs = []
            for output in cell.get("outputs", []):
                data = output.get("data") or {}
                if SNAPSHOT_MIME in data:  # a snapshot cell left in the notebook
                    self.snapshots.update(data[SNAPSHOT_MIME] or {})
                    continue
                if cell.get("source", "").strip() == SNAPSHOT_CELL:
                    continue
                outputs.append(self._convert(output))
            cell["outputs"] = outputs
        nb.cells = [c for c in nb.cells if c.get("source", "").strip() != SNAPSHOT_CELL]
        if not self.keep_widget_state:
            nb.metadata.pop("widgets", None)
        nb.metadata.pop(METADATA_KEY, None)
        if self.uses_plotly:
            from plotly.offline import get_plotlyjs

            resources["proppo_lab_plotly_js"] = get_plotlyjs()
        resources["proppo_lab_explorable"] = self.uses_explorable
        return nb, resources

    # -- one output
    def _convert(self, output):
        data = output.get("data")
        if not data:
            return output
        html_text = None
        if WIDGET_VIEW_MIME in data:
            model_id = (data[WIDGET_VIEW_MIME] or {}).get("model_id", "")
            if model_id in self.snapshots or model_id in self.state:
                html_text = self._widget(model_id, depth=0)
            elif "image/svg+xml" in data and GRAPH_MIME in data:
                html_text = _graph_html(data["image/svg+xml"])
            elif PLOTLY_MIME in data:
                html_text = self._plotly(data[PLOTLY_MIME])
            else:
                html_text = (
                    '<div class="pl-static-missing">(an interactive widget: its '
                    "state was not saved, so there is no static view)</div>"
                )
        elif PLOTLY_MIME in data:
            html_text = self._plotly(data[PLOTLY_MIME])
        if html_text is None:
            return output
        new = nbformat.NotebookNode(output)
        new["data"] = {"text/html": html_text}
        new["metadata"] = {}
        return new

    def _plotly(self, figure) -> str:
        self.uses_plotly = True
        return _plotly_html(figure)

    def _figure_of(self, model_id: str) -> dict | None:
        """A FigureWidget's figure: its snapshot, else its saved (initial) state."""
        snap = self.snapshots.get(model_id)
        if snap and snap.get("kind") == "plotly":
            return snap["figure"]
        s = (self.state.get(model_id) or {}).get("state") or {}
        if "_widget_data" in s:
            return {"data": s.get("_widget_data") or [], "layout": s.get("_widget_layout") or {}}
        return None

    def _figure_widget(self, figure: dict) -> str:
        if explorable.points(figure) < 2:  # an empty plot says nothing: one line instead
            title = explorable.title_of(figure) or "a plot"
            why = explorable.why_empty(figure)
            return (
                f'<div class="pl-static-missing">“{html.escape(title)}”: {html.escape(why)}</div>'
            )
        return f'<div class="pl-static-plot">{self._plotly(figure)}</div>'

    # -- the widget tree
    def _widget(self, model_id: str, depth: int) -> str:
        if depth > 50:
            return ""
        snap = self.snapshots.get(model_id)
        if snap and snap.get("kind") == "lab":
            self.uses_explorable |= "explorable" in snap
            return explorable.lab_html(
                snap, lambda ref: self._widget(ref, depth + 1), self._figure_of, self._plotly
            )
        if snap and snap.get("kind") == "graph" and snap.get("svg"):
            return _graph_html(snap["svg"], snap.get("legend", ""))
        figure = self._figure_of(model_id)
        if figure is not None:
            return self._figure_widget(figure)
        model = self.state.get(model_id)
        if not model:
            return ""
        name = model.get("model_name", "")
        s = model.get("state") or {}
        if KERNEL_ONLY_CLASSES & set(s.get("_dom_classes") or []):
            return ""
        classes = " ".join(html.escape(str(c)) for c in s.get("_dom_classes") or [])
        if name == "GraphModel":
            svg = _svg_from_dot(without_legend(s["dot"])) if s.get("dot") else ""
            if not svg and (s.get("svg") or "").lstrip().startswith("<svg"):
                svg = s["svg"]  # saved by an earlier version, or no `dot` binary here
            return _graph_html(svg, legend_html(s.get("graph") or {})) if svg else ""
        if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"):
            kind = {"VBoxModel": "pl-static-vbox", "GridBoxModel": "pl-static-grid"}.get(name, "")
            children = "".join(
                f"<div>{self._widget(ref, depth + 1)}</div>"
                for ref in (_ref(c) for c in s.get("children") or [])
                if ref
            )
            return f'<div class="pl-static-widget pl-static-box {kind} {classes}">{children}</div>'
        return self._control(name, s, classes)

    @staticmethod
    def _control(name: str, s: Mapping[str, Any], classes: str) -> str:
        esc = html.escape
        desc = esc(str(s.get("description") or ""))
        label = f"<label>{desc}</label>" if desc else ""
        value = s.get("value")
        if name in ("HTMLModel", "HTMLMathModel"):
            return f'<div class="pl-static-widget {classes}">{value or ""}</div>'
        if name == "LabelModel":
            return f'<div class="pl-static-widget {classes}">{esc(str(value or ""))}</div>'
        if name == "ButtonModel":
            return (
                f'<button class="pl-static-widget {classes}" disabled>'
                f"{esc(str(s.get('description') or ''))}</button>"
            )
        if name == "TextareaModel":
            return (
                f'<div class="pl-static-widget pl-static-field {classes}">{label}'
                f'<textarea disabled rows="4" cols="40">{esc(str(value or ""))}</textarea></div>'
            )
        if name in ("IntProgressModel", "FloatProgressModel"):
            return (
                f'<div class="pl-static-widget pl-static-field {classes}">{label}'
                f'<progress max="{esc(str(s.get("max", 1)))}" value="{esc(str(value or 0))}">'
                f"</progress></div>"
            )
        if name in ("DropdownModel", "SelectModel", "SelectMultipleModel", "RadioButtonsModel"):
            options = [str(o) for o in s.get("_options_labels") or []]
            index = s.get("index")
            chosen = set(index if isinstance(index, list) else [index])
            opts = "".join(
                f"<option{' selected' if i in chosen else ''}>{esc(o)}</option>"
                for i, o in enumerate(options)
            )
            multiple = " multiple" if name == "SelectMultipleModel" else ""
            return (
                f'<div class="pl-static-widget pl-static-field {classes}">{label}'
                f"<select disabled{multiple}>{opts}</select></div>"
            )
        if "value" in s and not isinstance(value, (dict, list)):
            shown = "" if value is None else str(value)
            return (
                f'<div class="pl-static-widget pl-static-field {classes}">{label}'
                f'<input disabled value="{esc(shown)}"></div>'
            )
        return ""
