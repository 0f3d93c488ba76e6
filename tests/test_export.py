"""Offline HTML export: `python -m proppo_lab export NB -o PAGE.html --execute`.

The notebook (tests/data/export_small.ipynb) shows a GraphWidget over a traced
GaussianToy, a plain plotly figure and a small pl.Lab that runs 3 iterations.
The page is opened in headless Chromium with the network cut off: every
request that is not file:// is aborted and recorded, and the test asserts none
was attempted. It checks the graph nodes (SVG g.node with ids and titles), the
plotly traces and points (the Lab's variance plot: 3 points per trace, i.e. the
live figure, not the empty initial one), and that no widget error text shows.

Chromium missing: skipped on a developer machine, FAILS when CI is set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Chromium's path and flags, CI's rule and the screenshot folder: the browser tests' own
from browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _in_ci

from proppo_lab.lab.note_plots import NOTE_PLOTS
from proppo_lab.lab.plots import LivePlots

DATA = Path(__file__).parent / "data"
GRAPH_IDS = {"param:mu", "param:sigma", "site:x", "site:cost"}
#: the Lab's live plots (counted, not restated: helpers add plots)
LAB_PLOTS = len(LivePlots().figures)
#: the plots of propagators' notes: empty under TP, so a page leaves them out and says why
NOTE_TITLES = [title for title, _, _ in NOTE_PLOTS.values()]
#: what the exported page of the TP toy Lab draws: the static figure and every other plot
DRAWN = 1 + LAB_PLOTS - len(NOTE_TITLES)


def _needs_dot():
    import shutil

    if shutil.which("dot") is None:
        if _in_ci():
            pytest.fail("the `dot` binary (Debian graphviz) is missing", pytrace=False)
        pytest.skip("needs the `dot` binary (apt-get install graphviz)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Execute + export once: {'page': Path, 'notebook': Path (the executed .ipynb)}."""
    _needs_dot()
    out = tmp_path_factory.mktemp("export")
    page, saved = out / "page.html", out / "executed.ipynb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "proppo_lab",
            "export",
            str(DATA / "export_small.ipynb"),
            "-o",
            str(page),
            "--execute",
            "--save-notebook",
            str(saved),
            "--timeout",
            "300",
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"page": page, "notebook": saved}


def test_page_is_self_contained(exported):
    text = exported["page"].read_text()
    # No script or stylesheet from the network (CDN widget manager, require.js, MathJax).
    assert not re.findall(r'<script[^>]+src="https?:', text)
    assert not re.findall(r'<link[^>]+href="https?:', text)
    assert "html-manager" not in text and "embed-amd" not in text
    # plotly.js is inlined exactly once, however many plots the page has.
    from plotly.offline import get_plotlyjs

    assert text.count(get_plotlyjs()[:2000]) == 1
    assert text.count("Plotly.newPlot") == DRAWN
    not_shown = text[text.index("Not shown:") :]
    assert all(f"“{title}”" in not_shown for title in NOTE_TITLES)
    # The injected snapshot cell leaves no trace.
    assert "kernel_snapshots" not in text
    assert "vnd.proppo-lab.snapshots" not in text


def test_executed_notebook_keeps_snapshots(exported):
    import nbformat

    nb = nbformat.read(exported["notebook"], as_version=4)
    snaps = nb.metadata["proppo_lab"]["snapshots"]
    kinds = sorted(s["kind"] for s in snaps.values())
    assert kinds.count("graph") == 2 and kinds.count("plotly") == LAB_PLOTS
    # The GraphWidget output carries the kernel-less fallback (SVG + marker).
    data = nb.cells[1].outputs[0]["data"]
    assert "application/vnd.proppo-lab.graph+json" in data
    assert 'id="site:x"' in data["image/svg+xml"]


def test_nbconvert_exporter_entry_point(exported, tmp_path):
    """`jupyter nbconvert --to proppo_lab_html` on the executed notebook (no kernel)."""
    from importlib.metadata import entry_points

    names = {e.name for e in entry_points(group="nbconvert.exporters")}
    if "proppo_lab_html" not in names:
        pytest.fail("entry point proppo_lab_html not installed: run `pip install -e .`")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "proppo_lab_html",
            str(exported["notebook"]),
            "--output-dir",
            str(tmp_path),
            "--output",
            "again",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "again.html").read_text()
    assert 'id="site:x"' in text and "Running variance of the estimate" in text
    assert not re.findall(r'<script[^>]+src="https?:', text)


# The page is inspected by a separate Python process: a sync Playwright cannot
# start inside another one (the browser tests' session fixture may be running).
_INSPECT = r"""
import json, sys
from playwright.sync_api import sync_playwright
page_uri, chromium, shot, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
attempted, errors = [], []
GRAPHS_JS = '''() => [...document.querySelectorAll('.pl-static-graph svg')].map(svg =>
    ({html: svg.innerHTML,
      nodes: [...svg.querySelectorAll('g.node')].map(g =>
          [g.id, (g.querySelector('title') || {}).textContent || ''])}))'''
PLOTS_JS = '''() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
    title: ((gd.layout || {}).title || {}).text || '',
    traces: (gd.data || []).map(t => (t.x || []).length),
    drawn: gd.querySelectorAll('.scatterlayer .trace').length}))'''
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=args)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_offline(True)
    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            attempted.append(url)
            r.abort()
    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_uri)
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6", timeout=60_000)
    page.screenshot(path=shot, full_page=True)
    result = {"attempted": attempted, "errors": errors,
              "graphs": page.evaluate(GRAPHS_JS), "plots": page.evaluate(PLOTS_JS),
              "text": page.inner_text("body"),
              "run_buttons": page.locator("button:has-text('Run')").count()}
    context.close()
    browser.close()
print("RESULT=" + json.dumps(result))
"""


@pytest.fixture(scope="module")
def offline_page(exported):
    """The exported page in headless Chromium with every non-file request aborted."""
    try:
        import playwright  # noqa: F401
    except ImportError as err:
        if _in_ci():
            pytest.fail(f"python playwright is missing in CI ({err})", pytrace=False)
        pytest.skip(f"needs python playwright ({err})")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        if _in_ci():
            pytest.fail(
                f"no Chromium at {CHROMIUM} in CI (apt-get install chromium)", pytrace=False
            )
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    ARTIFACTS.mkdir(exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _INSPECT,
            exported["page"].resolve().as_uri(),
            CHROMIUM,
            str(ARTIFACTS / "export-offline-page.png"),
            json.dumps(CHROMIUM_ARGS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT=") :])


def test_no_network_attempted(offline_page):
    assert offline_page["attempted"] == []
    assert offline_page["errors"] == []


def test_graphs_are_svg(offline_page):
    graphs = offline_page["graphs"]
    assert len(graphs) == 2  # the GraphWidget and the Lab's graph
    for graph in graphs:
        ids = {n[0] for n in graph["nodes"]}
        assert GRAPH_IDS <= ids, graph["nodes"]
        assert all(title for _, title in graph["nodes"])
    # The Lab's graph has the flow overlay of the run: not the same picture.
    assert graphs[0]["html"] != graphs[1]["html"]


def test_plotly_traces_rendered(offline_page):
    plots = offline_page["plots"]
    assert len(plots) == DRAWN, plots
    static = [p for p in plots if p["title"] == "A static plotly figure"]
    assert static and static[0]["traces"] == [4, 3] and static[0]["drawn"] == 2
    variance = [p for p in plots if p["title"] == "Running variance of the estimate"]
    assert variance, plots
    assert variance[0]["traces"] and all(n == 3 for n in variance[0]["traces"]), variance
    assert variance[0]["drawn"] == len(variance[0]["traces"])
    gradient = [p for p in plots if p["title"] == "Gradient estimate per iteration"][0]
    assert gradient["traces"] and all(n == 3 for n in gradient["traces"])


def test_no_widget_errors(offline_page):
    text = offline_page["text"]
    for bad in ("widget not found", "Error displaying widget", "Loading widget", "no static view"):
        assert bad not in text
    # The Lab's controls need a kernel: the page leaves them out instead of greying them.
    assert offline_page["run_buttons"] == 0
    for control in ("As Python", "plan file", "learning rate", "Presentation"):
        assert control not in text


def test_graphs_have_no_legend_box(exported):
    """The legend cluster Graphviz drew beside a small graph (larger than the graph
    itself) is gone; a line of colour chips names the propagators instead."""
    text = exported["page"].read_text()
    assert 'id="legend' not in text and ">propagators<" not in text
    assert text.count('class="pl-static-legend"') == 2
    from proppo_lab.contracts import text_colour
    from proppo_lab.core import registry

    tp = registry.get("TP").colour
    assert f'style="background:{tp};color:{text_colour(tp)}">TP</span>' in text
