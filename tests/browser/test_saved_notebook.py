"""A notebook saved with its outputs, reopened WITHOUT a kernel, still shows its graph.

tests/data/saved_graph.ipynb (a GraphWidget over a traced GaussianToy and a
plotly figure) is executed headless with nbclient (store_widget_state=True)
and saved with its outputs. It is then opened in JupyterLab with no kernel:
its kernelspec names a kernel that does not exist, and the "Select Kernel"
dialog is answered with "No Kernel". The graph output must show the SVG nodes
(the mime renderer of labextension/src/mime.ts falls back to the bundle's
static SVG) and no "model not found" / "Error displaying widget" message.

Two variants: the notebook as nbclient wrote it (untrusted: JupyterLab never
renders widgets there; the sanitised static SVG shows), and the same notebook
signed as trusted with the server's notary (the live widget is tried first;
its model is missing, so the static SVG stays).
"""

from __future__ import annotations

import json

import pytest

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

DATA = __import__("pathlib").Path(__file__).resolve().parents[1] / "data"
GRAPH_IDS = {"param:mu", "param:sigma", "site:x", "site:cost"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """saved_graph.ipynb executed with nbclient, its widget state stored."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(DATA / "saved_graph.ipynb", as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(DATA)}},
    ).execute()
    bundle = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.proppo-lab.graph+json" in bundle and "image/svg+xml" in bundle
    # Opened later with a kernel that does not exist: JupyterLab asks, we say "No Kernel".
    # (language too: JupyterLab would otherwise pick a kernel of the same language)
    nb.metadata["kernelspec"] = {
        "name": "proppo-no-such-kernel",
        "display_name": "none",
        "language": "proppo-none",
    }
    nb.metadata.pop("language_info", None)
    return nb


def _save(nb, lab_server, name: str, trusted: bool) -> None:
    import nbformat
    from nbformat.sign import NotebookNotary

    path = lab_server["root"] / name
    nbformat.write(nb, str(path))
    if trusted:
        data_dir = lab_server["root"].parent / "jupyter_data_dir"
        notary = NotebookNotary(data_dir=str(data_dir))
        signed = nbformat.read(str(path), as_version=4)
        notary.sign(signed)
        nbformat.write(signed, str(path))


def _open_without_kernel(page, lab_server, name: str) -> None:
    page.goto(f"{lab_server['url']}/lab/tree/{name}?token={lab_server['token']}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(timeout=10_000)
    except Exception:  # noqa: BLE001 - then no kernel was started either; checked below
        return
    select = dialog.locator("select")
    if select.count():
        select.first.select_option(value="null")  # "No Kernel"
        dialog.locator(".jp-mod-accept").click()
    else:
        dialog.get_by_role("button", name="No Kernel").click()
    dialog.wait_for(state="detached", timeout=10_000)


def _check_static_graph(page, name: str) -> None:
    out = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    static = out.locator('[data-testid="graph-static"] svg')
    static.wait_for(timeout=30_000)
    nodes = static.evaluate(
        "svg => [...svg.querySelectorAll('g.node')].map(g => "
        "[g.id, (g.querySelector('title') || {}).textContent || ''])"
    )
    assert GRAPH_IDS <= {n[0] for n in nodes}, nodes
    assert static.is_visible()
    # Every node is drawn (a shape with a size), not only present in the DOM.
    for node_id in GRAPH_IDS:
        box = static.evaluate(
            "(svg, id) => { const g = [...svg.querySelectorAll('g.node')].find(n => n.id === id);"
            " const r = g.getBoundingClientRect(); return [r.width, r.height,"
            " g.querySelectorAll('ellipse, polygon, path').length]; }",
            node_id,
        )
        assert box[0] > 5 and box[1] > 5 and box[2] >= 1, (node_id, box)
    assert static.evaluate("svg => svg.getBoundingClientRect().width") > 100
    # The sanitiser keeps drawing only: no scripts, links or handlers.
    assert static.evaluate("svg => svg.querySelectorAll('script, a, foreignObject').length") == 0
    page.wait_for_timeout(2_000)  # let the widget manager give up, if it will
    text = page.locator(".jp-Notebook").inner_text()
    for bad in ("model not found", "Error displaying widget", "Loading widget"):
        assert bad not in text, text[:2000]
    assert static.is_visible()
    # No kernel: the toolbar's kernel name says so.
    assert "No Kernel" in page.locator(".jp-NotebookPanel-toolbar").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"saved-notebook-{name.replace('.ipynb', '')}.png"))


def test_saved_notebook_shows_graph_without_kernel(page, lab_server, executed):
    _save(executed, lab_server, "saved_untrusted.ipynb", trusted=False)
    _open_without_kernel(page, lab_server, "saved_untrusted.ipynb")
    _check_static_graph(page, "saved_untrusted.ipynb")
    # The plotly figure (a plain mime bundle) shows too.
    plot = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".js-plotly-plot")
    plot.wait_for(timeout=30_000)


def test_trusted_saved_notebook_shows_graph_without_kernel(page, lab_server, executed):
    _save(executed, lab_server, "saved_trusted.ipynb", trusted=True)
    _open_without_kernel(page, lab_server, "saved_trusted.ipynb")
    _check_static_graph(page, "saved_trusted.ipynb")


def test_saved_notebook_json_is_plain(executed):
    """The fallback travels as plain JSON-able data (no kernel needed to read it)."""
    bundle = executed.cells[1].outputs[0]["data"]
    marker = bundle["application/vnd.proppo-lab.graph+json"]
    json.dumps(marker)
    assert GRAPH_IDS <= set(marker["nodes"])
    assert bundle["image/svg+xml"].lstrip().startswith("<svg")
