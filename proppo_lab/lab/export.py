"""Static, offline export of a notebook: one self-contained HTML page.

    python -m proppo_lab export NOTEBOOK.ipynb -o PAGE.html [--execute]
    jupyter nbconvert --to proppo_lab_html NOTEBOOK.ipynb

The page shows every propagation graph as SVG and every plotly figure as an
interactive plotly.js plot, with no kernel and no network: plotly.js is inlined
once per page (only when the page has a plot; a site shares one file instead,
:mod:`.site`), and the widget-manager, require.js, MathJax and mermaid CDN
scripts of nbconvert's ``lab`` template are left out. Formulas in markdown are
MathML (:mod:`.maths`). A Lab made with ``publish=[...]`` carries runs
precomputed at export, and the reader switches between them (:mod:`.publish`,
:mod:`.explorable`).

Design (the simplest one that sees the *live* state):

1. ``--execute`` runs the notebook with nbclient (``store_widget_state=True``)
   and then, in the same kernel, one injected cell that calls
   :func:`kernel_snapshots`. That walks every live ipywidget and emits, keyed by
   model id, a static snapshot of each :class:`GraphWidget` (its SVG, see
   :meth:`GraphWidget.static_svg`) and of each plotly ``FigureWidget`` (its
   *current* figure as JSON), and of each Lab (its parts, and the runs it
   publishes, computed there: :func:`.publish.lab_snapshot`). This matters
   for the Lab: its FigureWidgets are filled by a run after they were
   displayed, and the widget state nbclient saves keeps only their initial,
   empty figure. The injected cell's output
   is removed again; its snapshots travel in the notebook metadata
   (``proppo_lab.snapshots``), so an executed ``.ipynb`` saved with
   ``--save-notebook`` exports the same way later.
2. :class:`~.static_widgets.StaticWidgetsPreprocessor` (its own module)
   replaces each widget and plotly output by static HTML: snapshots first,
   else what the saved widget state allows.
3. :class:`OfflineHTMLExporter` (the nbconvert exporter ``proppo_lab_html``)
   runs that preprocessor and renders nbconvert's ``lab`` template minus its
   CDN scripts, plus plotly.js when needed and formulas as MathML.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import nbformat
from jinja2 import DictLoader, pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from traitlets import Unicode, default

from ..contracts import SNAPSHOT_MIME
from . import explorable, maths
from .static_widgets import CSS, METADATA_KEY, SNAPSHOT_CELL, StaticWidgetsPreprocessor

log = logging.getLogger(__name__)

_TEMPLATE = (
    r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
{%- if resources.proppo_lab_plotly_js and resources.proppo_lab_plotly_src -%}
<script type="text/javascript" src="{{ resources.proppo_lab_plotly_src }}"></script>
{%- elif resources.proppo_lab_plotly_js -%}
<script type="text/javascript">{{ resources.proppo_lab_plotly_js }}</script>
{%- endif -%}
{%- if resources.proppo_lab_explorable -%}
<script type="text/javascript">{{ resources.proppo_lab_explorable_js }}</script>
{%- endif -%}
{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">"""
    + CSS
    + explorable.CSS
    + maths.CSS
    + """</style>
{% endblock extra_css %}
"""
)


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

    ``{"<model id>": {"kind": "graph", "svg": "<svg ...>", "legend": "<div ..."}``,
    ``{"kind": "plotly", "figure": {"data": [...], "layout": {...}}}`` or
    ``{"kind": "lab", ...}`` (:func:`.publish.lab_snapshot`).
    """
    from .app import Lab
    from .graph_snapshot import legend_html
    from .graph_widget import GraphWidget
    from .publish import lab_snapshot

    try:
        import plotly.io as pio
        from plotly.basewidget import BaseFigureWidget
    except ImportError:  # pragma: no cover - plotly is a dependency
        BaseFigureWidget = None
    out: dict = {}
    for model_id, widget in _live_widgets().items():
        try:
            if isinstance(widget, Lab):
                out[model_id] = lab_snapshot(widget)
            elif isinstance(widget, GraphWidget):
                svg = widget.static_svg()
                if svg:
                    out[model_id] = {
                        "kind": "graph",
                        "svg": svg,
                        "legend": legend_html(widget.graph),
                    }
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


class OfflineHTMLExporter(HTMLExporter):
    """nbconvert's HTML (``lab`` template) with static widgets and no network."""

    export_from_notebook = "Proppo Lab offline HTML"
    template_name = Unicode("lab").tag(config=True)
    plotly_src = Unicode(
        "", help="load plotly.js from this URL (a site's shared file) instead of inlining it"
    ).tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_preprocessor(StaticWidgetsPreprocessor(), enabled=True)
        #: formulas that stayed as text in the last export (each was logged as a warning)
        self.math_failures: list[str] = []

    def from_notebook_node(self, nb, resources=None, **kw):
        resources = dict(resources or {})
        resources["proppo_lab_plotly_src"] = self.plotly_src
        resources["proppo_lab_explorable_js"] = explorable.SCRIPT
        self.math_failures = []
        return super().from_notebook_node(nb, resources, **kw)

    @pass_context
    def markdown2html(self, context, source):
        """nbconvert's markdown filter, with formulas as MathML (:mod:`.maths`)."""
        cell = context.get("cell", {})
        renderer = maths.MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            failures=self.math_failures,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)

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
    plotly_src: str = "",
) -> Path:
    """Export ``notebook`` to one offline HTML page; returns the page's path.

    ``plotly_src``: where the page loads plotly.js from (a site's shared file);
    '' inlines it."""
    notebook = Path(notebook)
    output = Path(output) if output is not None else notebook.with_suffix(".html")
    nb = nbformat.read(notebook, as_version=4)
    if execute_first:
        execute(nb, cwd=notebook.parent.resolve(), timeout=timeout, kernel_name=kernel_name)
        if save_notebook is not None:
            nbformat.write(nb, str(save_notebook))
    body, _ = OfflineHTMLExporter(plotly_src=plotly_src).from_notebook_node(
        nb, resources={"metadata": {"name": notebook.stem, "path": str(notebook.parent)}}
    )
    output.write_text(body, encoding="utf-8")
    return output
