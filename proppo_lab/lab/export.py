"""Static, offline export of a notebook: one self-contained HTML page.

    python -m proppo_lab export NOTEBOOK.ipynb -o PAGE.html [--execute]
    jupyter nbconvert --to proppo_lab_html NOTEBOOK.ipynb

The page shows every propagation graph as SVG and every plotly figure as an
interactive plotly.js plot, with no kernel and no network: plotly.js is inlined
once per page (only when the page has a plot), and the widget-manager, require.js,
MathJax and mermaid CDN scripts of nbconvert's ``lab`` template are left out.

Design (the simplest one that sees the *live* state):

1. ``--execute`` runs the notebook with nbclient (``store_widget_state=True``)
   and then, in the same kernel, one injected cell that calls
   :func:`kernel_snapshots`. That walks every live ipywidget and emits, keyed by
   model id, a static snapshot of each :class:`GraphWidget` (its SVG, see
   :meth:`GraphWidget.static_svg`) and of each plotly ``FigureWidget`` (its
   *current* figure as JSON). This matters for the Lab: its FigureWidgets are
   filled by a run after they were displayed, and the widget state nbclient
   saves keeps only their initial, empty figure. The injected cell's output
   is removed again; its snapshots travel in the notebook metadata
   (``proppo_lab.snapshots``), so an executed ``.ipynb`` saved with
   ``--save-notebook`` exports the same way later.
2. :class:`StaticWidgetsPreprocessor` replaces each widget output
   (``application/vnd.jupyter.widget-view+json``) by static HTML, walking the
   saved widget state from the displayed model down through its children
   (boxes become flex rows/columns, HTML/labels/buttons/text fields become
   disabled look-alikes): a model with a snapshot becomes its SVG or plot; a
   graph model without one is drawn from its ``dot`` trait (or the ``svg``
   trait that notebooks saved by earlier versions carry) with the ``dot``
   binary; a FigureWidget without one falls back to its saved (initial) figure. Plain plotly outputs
   (``application/vnd.plotly.v1+json``) become plot divs, and a graph bundle's
   ``image/svg+xml`` fallback is used when its widget state is gone.
3. :class:`OfflineHTMLExporter` (the nbconvert exporter ``proppo_lab_html``)
   runs that preprocessor and renders nbconvert's ``lab`` template minus its
   CDN scripts, plus plotly.js inline when needed.

Markdown maths is shown as written (MathJax would need the network).
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from jinja2 import DictLoader
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode, default

from ..contracts import GRAPH_MIME, SNAPSHOT_MIME

log = logging.getLogger(__name__)

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
METADATA_KEY = "proppo_lab"

#: The code of the cell injected after the notebook's own cells (``--execute``).
SNAPSHOT_CELL = "import proppo_lab.lab.export as _pl_export; _pl_export.kernel_snapshots()"

_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
{%- if resources.proppo_lab_plotly_js -%}
<script type="text/javascript">{{ resources.proppo_lab_plotly_js }}</script>
{%- endif -%}
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
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
</style>
{% endblock extra_css %}
"""


# ---------------------------------------------------------------- kernel side


def _live_widgets() -> dict:
    try:
        from ipywidgets.widgets.widget import _instances
    except ImportError:  # ipywidgets 7
        from ipywidgets import Widget

        _instances = Widget.widgets
    return dict(_instances)


def snapshots() -> dict:
    """Static snapshots of every live graph widget and plotly FigureWidget, by model id.

    ``{"<model id>": {"kind": "graph", "svg": "<svg ...>"}`` or
    ``{"kind": "plotly", "figure": {"data": [...], "layout": {...}}}``.
    """
    from .graph_widget import GraphWidget

    try:
        import plotly.io as pio
        from plotly.basewidget import BaseFigureWidget
    except ImportError:  # pragma: no cover - plotly is a dependency
        BaseFigureWidget = None
    out: dict = {}
    for model_id, widget in _live_widgets().items():
        try:
            if isinstance(widget, GraphWidget):
                svg = widget.static_svg()
                if svg:
                    out[model_id] = {"kind": "graph", "svg": svg}
            elif BaseFigureWidget is not None and isinstance(widget, BaseFigureWidget):
                out[model_id] = {
                    "kind": "plotly",
                    "figure": json.loads(pio.to_json(widget, validate=False)),
                }
        except Exception:  # noqa: BLE001 - one broken widget must not stop the export
            log.exception("export: no snapshot of widget %s", model_id)
    return out


def kernel_snapshots() -> None:
    """Display :func:`snapshots` as one output (run by the injected export cell)."""
    from IPython.display import display

    display({SNAPSHOT_MIME: snapshots()}, raw=True)


# ---------------------------------------------------------------- execution


def execute(
    nb: nbformat.NotebookNode,
    cwd: str | Path | None = None,
    timeout: int = 600,
    kernel_name: str | None = None,
) -> nbformat.NotebookNode:
    """Run ``nb`` in a fresh kernel, then collect the live widgets' snapshots.

    Saves the widget state (``metadata.widgets``) like ``store_widget_state``
    and the snapshots under ``metadata.proppo_lab.snapshots``. Cell errors
    raise (nbclient's ``CellExecutionError``).
    """
    from nbclient import NotebookClient

    kwargs: dict = {
        "timeout": timeout,
        "store_widget_state": True,
        "resources": {"metadata": {"path": str(cwd or Path.cwd())}},
    }
    if kernel_name:
        kwargs["kernel_name"] = kernel_name
    client = NotebookClient(nb, **kwargs)
    snap_cell = nbformat.v4.new_code_cell(SNAPSHOT_CELL)
    with client.setup_kernel():
        for index, cell in enumerate(list(nb.cells)):
            client.execute_cell(cell, index)
        nb.cells.append(snap_cell)  # nbclient writes each cell back by index
        try:
            client.execute_cell(snap_cell, len(nb.cells) - 1)
        finally:
            nb.cells.pop()
        client.set_widgets_metadata()
    found: dict = {}
    for output in snap_cell.get("outputs", []):
        found.update(output.get("data", {}).get(SNAPSHOT_MIME) or {})
        if output.get("output_type") == "error":
            log.warning("export: snapshot cell failed: %s", output.get("evalue"))
    nb.metadata.setdefault(METADATA_KEY, {})["snapshots"] = found
    return nb


# ---------------------------------------------------------------- static HTML


def _plotly_html(figure: Mapping[str, Any]) -> str:
    import plotly.io as pio

    return pio.to_html(
        dict(figure),
        include_plotlyjs=False,
        full_html=False,
        validate=False,
        config={"responsive": True},
    )


def _graph_html(svg: str) -> str:
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    return f'<div class="pl-static-graph">{svg}</div>'


def _svg_from_dot(dot: str) -> str:
    try:
        import graphviz

        return graphviz.Source(dot).pipe(format="svg").decode("utf-8")
    except Exception:  # noqa: BLE001 - no dot binary
        log.warning(
            "export: cannot draw a graph without the `dot` binary (apt-get install graphviz)"
        )
        return ""


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
        self.uses_plotly = False
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

    # -- the widget tree
    def _widget(self, model_id: str, depth: int) -> str:
        if depth > 50:
            return ""
        snap = self.snapshots.get(model_id)
        if snap and snap.get("kind") == "graph" and snap.get("svg"):
            return _graph_html(snap["svg"])
        if snap and snap.get("kind") == "plotly":
            return f'<div class="pl-static-plot">{self._plotly(snap["figure"])}</div>'
        model = self.state.get(model_id)
        if not model:
            return ""
        name = model.get("model_name", "")
        s = model.get("state") or {}
        classes = " ".join(html.escape(str(c)) for c in s.get("_dom_classes") or [])
        if name == "GraphModel":
            svg = s.get("svg") or ""
            if not svg.lstrip().startswith("<svg"):
                svg = _svg_from_dot(s.get("dot") or "")
            return _graph_html(svg) if svg else ""
        if model.get("model_module") == "anywidget" and "_widget_data" in s:
            figure = {"data": s.get("_widget_data") or [], "layout": s.get("_widget_layout") or {}}
            return f'<div class="pl-static-plot">{self._plotly(figure)}</div>'
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


class OfflineHTMLExporter(HTMLExporter):
    """nbconvert's HTML (``lab`` template) with static widgets and no network."""

    export_from_notebook = "Proppo Lab offline HTML"
    template_name = Unicode("lab").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_preprocessor(StaticWidgetsPreprocessor(), enabled=True)

    @default("template_file")
    def _template_file_default(self):
        return "proppo_lab_offline.html.j2"

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [DictLoader({"proppo_lab_offline.html.j2": _TEMPLATE})]


def export(
    notebook: str | Path,
    output: str | Path | None = None,
    *,
    execute_first: bool = False,
    timeout: int = 600,
    kernel_name: str | None = None,
    save_notebook: str | Path | None = None,
) -> Path:
    """Export ``notebook`` to one offline HTML page; returns the page's path."""
    notebook = Path(notebook)
    output = Path(output) if output is not None else notebook.with_suffix(".html")
    nb = nbformat.read(notebook, as_version=4)
    if execute_first:
        execute(nb, cwd=notebook.parent.resolve(), timeout=timeout, kernel_name=kernel_name)
        if save_notebook is not None:
            nbformat.write(nb, str(save_notebook))
    body, _ = OfflineHTMLExporter().from_notebook_node(
        nb, resources={"metadata": {"name": notebook.stem, "path": str(notebook.parent)}}
    )
    output.write_text(body, encoding="utf-8")
    return output
