"""The graph widget in Jupyter Notebook 7: the same prebuilt extension as in
JupyterLab (share/jupyter/labextensions/proppo-lab) must load there too.

Starts ``jupyter notebook`` (Notebook 7, same isolated JUPYTER_* dirs as the
JupyterLab fixture), opens the graph-widget test notebook at Notebook 7's
``/notebooks/<name>`` URL, runs the first cell, clicks the ``state`` node and
assigns TP from the palette: the node's data-propagator and fill change.
"""

from __future__ import annotations

import shutil

import pytest

from .conftest import ARTIFACTS, NOTEBOOKS, _unavailable, jupyter_lab_server

pytestmark = pytest.mark.browser

NB = "graph_widget.ipynb"
TP = "#009e73"


@pytest.fixture(scope="module")
def notebook_server(tmp_path_factory):
    """Jupyter Notebook 7 serving a copy of the graph-widget test notebook."""
    try:
        import notebook
    except ImportError as err:
        _unavailable(f"Jupyter Notebook 7 is not installed ({err}; pip install 'notebook>=7')")
    if int(notebook.__version__.split(".")[0]) < 7:
        _unavailable(f"Jupyter Notebook {notebook.__version__} is not Notebook 7")
    base = tmp_path_factory.mktemp("notebook7")
    root = base / "root"
    root.mkdir()
    shutil.copy(NOTEBOOKS / NB, root / NB)
    with jupyter_lab_server(root, base, app="notebook") as server:
        yield server


def node(page, node_id: str):
    return page.locator(f'[data-testid="graph-node"][data-node-id="{node_id}"]')


def fill_of(page, node_id: str) -> str:
    return node(page, node_id).evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )


def test_graph_widget_in_notebook7(page, notebook_server):
    s = notebook_server
    errors: list[str] = []  # the extension's plugins must activate cleanly here too
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{s['url']}/notebooks/{NB}?token={s['token']}")
    # Notebook 7's single-document shell (not JupyterLab's /lab).
    page.locator("#main-panel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    try:  # a "Select Kernel" dialog shows on some set-ups: accept the default
        page.locator(".jp-Dialog").wait_for(timeout=2_000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except Exception:  # noqa: BLE001 - no dialog is the usual case
        pass
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    state = node(page, "site:state")
    state.wait_for(timeout=90_000)  # kernel start + torch import + Graphviz WASM

    assert page.locator('[data-testid="graph-node"]').count() == 4
    assert state.get_attribute("data-propagator") == "RP"
    state.click()
    page.locator('[data-testid="node-details"]').wait_for()
    page.locator('[data-testid="palette-TP"]').click()
    assert state.get_attribute("data-propagator") == "TP"  # optimistic, at once
    page.wait_for_function(  # ... then confirmed by the kernel's re-render
        """() => {
            const g = document.querySelector('[data-node-id="site:state"]');
            return g && g.getAttribute('data-propagator') === 'TP' &&
                   !g.classList.contains('pl-node-pending');
        }"""
    )
    assert fill_of(page, "site:state") == TP
    assert "TP" in page.locator('[data-testid="status"]').inner_text()

    proppo_errors = [e for e in errors if "proppo" in e.lower()]
    assert not proppo_errors, proppo_errors

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "notebook7-graph.png"))
