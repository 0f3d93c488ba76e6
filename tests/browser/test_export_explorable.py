"""An exported tutorial stays explorable offline: click a node and a propagator, see that run.

Tutorial 1 (executed once per session, ``executed_tutorial`` in tests/conftest.py)
is exported to one page; its Lab publishes RP, LR and TP. Chromium opens the page
with the network cut off (every request that is not file:, data: or blob: is
aborted and recorded). The test clicks the ``x`` node, then LR, then RP in the
palette, and checks each time that the plots' data are that run's precomputed
values (from the JSON the page carries), that the node's fill is the
propagator's colour and the status line names the run; that a propagator not
precomputed is named as unavailable and changes nothing; that no formula shows
raw ``$``-delimited LaTeX (they are MathML, drawn with a size); and that no
request left the page.
"""

from __future__ import annotations

import json

import pytest
from conftest import TUTORIALS

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PLOT_DATA_JS = """lab => Object.fromEntries([...lab.querySelectorAll('[data-pl-plot]')].map(slot =>
    [slot.dataset.plPlot, {empty: slot.classList.contains('pl-empty'),
     traces: (slot.querySelector('.js-plotly-plot').data || []).map(t =>
        ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))}]))"""
FILL_JS = """([lab, id]) => lab.querySelector(`g.node[id="${id}"]`)
    .querySelector('path, polygon, ellipse').getAttribute('fill')"""
# text outside code, outputs and scripts holding a $...$ with a LaTeX command
RAW_LATEX_JS = r"""() => {
    const skip = 'script, style, code, pre, math, .jp-InputArea, .jp-OutputArea';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const found = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (!n.parentElement.closest(skip) && /\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/.test(n.data)) {
            found.push(n.data.slice(0, 80));
        }
    }
    return found;
}"""
MATHS_JS = """() => [...document.querySelectorAll('math')].map(m => {
    const r = m.getBoundingClientRect(); return [r.width, r.height]; })"""


@pytest.fixture(scope="module")
def tutorial_page(executed_tutorial, tmp_path_factory):
    from test_export import _needs_dot

    from proppo_lab.lab.export import OfflineHTMLExporter

    _needs_dot()
    path = TUTORIALS[0]
    body, _ = OfflineHTMLExporter().from_notebook_node(
        executed_tutorial(path), resources={"metadata": {"name": path.stem}}
    )
    page = tmp_path_factory.mktemp("explorable") / f"{path.stem}.html"
    page.write_text(body, encoding="utf-8")
    return page


def _expected(run: dict, name: str, site: str) -> list[dict]:
    fig = run["sites"][site][name] if name in ("messages", "weights") else run["plots"][name]
    return [{"name": t["name"], "x": t["x"], "y": t["y"]} for t in fig["data"]]


def test_explorable_tutorial_offline(browser, tutorial_page):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_offline(True)
    attempted, errors = [], []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(tutorial_page.resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
        lab = page.locator(".pl-static-lab[data-pl-explorable]")
        assert lab.count() == 1
        handle = lab.element_handle()
        data = json.loads(lab.locator("script.pl-explore-data").text_content())
        colours = {p["name"]: p["colour"] for p in data["palette"]}
        runs = {r["label"]: r for r in data["runs"]}
        assert {"RP", "LR", "TP"} <= set(runs)
        notebook_plots = page.evaluate(PLOT_DATA_JS, handle)
        assert page.evaluate(FILL_JS, [handle, "site:x"]) == colours["TP"]  # plan {"x": "TP"}

        lab.locator('g.node[id="site:x"]').click()
        for name in ("LR", "RP"):
            lab.locator(f'.pl-palette button[data-pl-propagator="{name}"]').click()
            page.wait_for_function(
                "([lab, n]) => lab.getAttribute('data-pl-showing') === n", arg=[handle, name]
            )
            shown = page.evaluate(PLOT_DATA_JS, handle)
            # pure RP hands its gradient to autograd: no message at x to plot
            plots = ("gradient", "variance", "loss") + (("messages",) if name == "LR" else ())
            for plot in plots:
                assert not shown[plot]["empty"], plot
                assert shown[plot]["traces"] == _expected(runs[name], plot, "x"), plot
            assert shown["gradient"] != notebook_plots["gradient"]
            assert page.evaluate(FILL_JS, [handle, "site:x"]) == colours[name]
            status = lab.locator("[data-pl-status]").inner_text()
            assert status.startswith(f"{name} · iteration ") and status.endswith("done")
            assert lab.locator('g.node[id="site:x"] text').nth(1).text_content() == name
        # under RP the message and TP-weight plots are hidden, and the page says why
        assert shown["messages"]["empty"] and shown["weights"]["empty"]
        notes = lab.locator(".pl-plot-notes").inner_text()
        assert "no gradient messages recorded at 'x'" in notes and "no TP at 'x'" in notes
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "export-explorable.png"), full_page=False)

        # a propagator that was not precomputed: named as unavailable, nothing changes
        missing = next(p["name"] for p in data["palette"] if p["name"] not in runs)
        lab.locator(f'.pl-palette button[data-pl-propagator="{missing}"]').click()
        note = lab.locator(".pl-explore-note").inner_text()
        assert f"{missing} at x was not precomputed" in note and "lab.assign(" in note
        assert page.evaluate(PLOT_DATA_JS, handle) == shown
        assert lab.get_attribute("data-pl-showing") == "RP"

        # back to what the notebook showed
        lab.locator('button[data-pl-run="notebook"]').click()
        assert page.evaluate(PLOT_DATA_JS, handle)["gradient"] == notebook_plots["gradient"]
        assert page.evaluate(FILL_JS, [handle, "site:x"]) == colours["TP"]

        # maths: MathML with a size, never raw LaTeX
        assert page.evaluate(RAW_LATEX_JS) == []
        sizes = page.evaluate(MATHS_JS)
        assert len(sizes) >= 10 and all(w > 0 and h > 0 for w, h in sizes)
    finally:
        context.close()
    assert attempted == [] and errors == []
