"""The Lab's layout at classroom sizes, checked by bounding boxes.

One test per window size, JupyterLab's left sidebar (file browser) open in
both: 1024x768 (a projector) and 1600x1000. The notebook shows
``pl.Lab(ChaoticRNN(...), plan={"state": "TP"})``; the test clicks the
``state`` node (TP has options, so the options form and its Apply button show)
and checks, in normal and then in presentation mode:

* the graph's drawn area (the canvas) is at least 400 px wide;
* every control (run buttons, the number fields, device, compare, plan file,
  Save/Load/As Python, each palette entry, Apply, the Presentation toggle) is
  visible: after scrolling it into view its box has a size, lies inside the
  window, and the element at its centre is the control itself (nothing covers
  it), and no panel of the Lab had to scroll to show it (the options form's
  Apply once sat half cut off at the bottom of the scrolling side panel);
  enabled ones also pass Playwright's actionability check for a click;
* every plot is drawn as wide as its grid cell, none wider (nothing scrolls
  sideways), in both modes and after presentation mode ends;
* presentation mode (the toggle) enlarges the controls', the palette's and
  the plots' fonts, puts the graph across the Lab's width and draws the
  plots one a row, across the Lab;
  ``lab.presentation = False`` from Python turns it off again.

Screenshots: test-artifacts/layout-<size>-<mode>-*.png.
"""

from __future__ import annotations

import re

import pytest

from .conftest import ARTIFACTS, open_notebook_page, run_notebook_cell

pytestmark = pytest.mark.browser

MIN_GRAPH_WIDTH = 400
SIZES = {"1024x768": (1024, 768), "1600x1000": (1600, 1000)}

# (what, selector): every control a student uses. Number fields and the
# dropdowns are found by their label, so the checks follow the controls even
# when their order or container changes.
BUTTONS = [
    ("Run", ".pl-lab .pl-run"),
    ("Stop", ".pl-lab .pl-stop"),
    ("Step", ".pl-lab .pl-step"),
    ("Compare", ".pl-lab .pl-compare"),
    ("Save", ".pl-lab .pl-save-plan"),
    ("Load", ".pl-lab .pl-load-plan"),
    ("As Python", ".pl-lab .pl-as-python"),
    ("Presentation", ".pl-lab .pl-presentation-toggle"),
    ("Apply", '.pl-lab [data-testid="apply-options"]'),
]
LABELLED = [
    ("iterations", r"^iterations$"),
    ("particles", r"^particles$"),
    ("seed", r"^seed$"),
    ("device", r"^device$"),
    ("learning rate", r"learning rate|step size"),
    ("plan file", r"^plan file$"),
]

VISIBLE_JS = """el => {
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    // A panel of the Lab that had to scroll to show the control hides it from a user.
    const scrolled = [];
    for (let a = el.parentElement; a && !a.classList.contains('pl-lab'); a = a.parentElement) {
        if (a.scrollTop > 0 || a.scrollLeft > 0) scrolled.push(a.className);
    }
    return {x: r.left, y: r.top, w: r.width, h: r.height, scrolled,
            vw: window.innerWidth, vh: window.innerHeight,
            hit: hit ? (hit.outerHTML || '').slice(0, 120) : null,
            covered: !(hit && (el === hit || el.contains(hit)))};
}"""


def labelled_control(page, pattern: str):
    """The input/select of the control row whose label matches ``pattern``."""
    row = page.locator(".pl-lab .pl-controls .widget-inline-hbox").filter(
        has=page.locator("label", has_text=re.compile(pattern, re.I))
    )
    return row.first.locator("input, select, textarea").first


def controls(page) -> list[tuple[str, object]]:
    found = [(what, page.locator(sel).first) for what, sel in BUTTONS]
    found += [(what, labelled_control(page, pattern)) for what, pattern in LABELLED]
    toggles = page.locator(".pl-lab .pl-compare-choices button")
    assert toggles.count() >= 3, "compare offers the registered propagators as toggles"
    found += [(f"compare {b.inner_text().strip()}", b) for b in toggles.all()]
    palette = page.locator('.pl-lab [data-testid="palette"] [data-testid^="palette-"]')
    assert palette.count() >= 3, "the palette lists the registered propagators"
    found += [(f"palette {b.get_attribute('data-testid')}", b) for b in palette.all()]
    return found


def check_visible_and_clickable(page, where: str) -> None:
    problems = []
    for what, loc in controls(page):
        if loc.count() == 0:
            problems.append(f"{what}: not found")
            continue
        loc.scroll_into_view_if_needed()
        box = loc.evaluate(VISIBLE_JS)
        inside = (
            box["x"] >= 0
            and box["y"] >= 0
            and box["x"] + box["w"] <= box["vw"] + 0.5
            and box["y"] + box["h"] <= box["vh"] + 0.5
        )
        if box["w"] < 4 or box["h"] < 4:
            problems.append(f"{what}: size {box['w']:.0f}x{box['h']:.0f}")
        elif not inside:
            problems.append(f"{what}: outside the window after scrolling: {box}")
        elif box["scrolled"]:
            problems.append(f"{what}: inside a scrolled panel {box['scrolled']}")
        elif box["covered"]:
            problems.append(f"{what}: covered by {box['hit']}")
        elif loc.is_enabled():
            try:
                loc.click(trial=True, timeout=3_000)
            except Exception as err:  # noqa: BLE001 - reported with the others
                problems.append(f"{what}: not clickable ({str(err).splitlines()[0]})")
    assert not problems, f"{where}:\n" + "\n".join(problems)


def graph_width(page) -> float:
    canvas = page.locator(".pl-lab .pl-canvas").first
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()["width"]


def font_sizes(page) -> dict:
    return page.evaluate("""() => {
        const px = sel => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize);
        const plot = document.querySelector('.pl-lab .js-plotly-plot');
        const title = plot && plot.querySelector('.gtitle');
        return {run: px('.pl-lab .pl-run'),
                iterations: px('.pl-lab .pl-controls input'),
                palette: px('.pl-lab [data-testid="palette"] button'),
                plot_title: title ? parseFloat(title.style.fontSize) : -1};
    }""")


def widths(page) -> dict:
    return page.evaluate("""() => {
        const w = sel => document.querySelector(sel).getBoundingClientRect().width;
        // plotly's drawing, not its div (the div follows the grid cell whatever plotly draws)
        return {lab: w('.pl-lab'), graph: w('.pl-lab .pl-graph-widget'),
                plot: w('.pl-lab .js-plotly-plot .main-svg')};
    }""")


# Each plot cell: its width, what scrolls inside it, and plotly's drawing, against
# the grid the cells sit in (a cell may itself outgrow the grid when it is not stretched).
PLOT_CELLS_JS = """() => [...document.querySelectorAll('.pl-lab .pl-plots')].flatMap(grid => {
    const right = grid.getBoundingClientRect().right;
    return [...grid.children].map(cell => {
        const svg = cell.querySelector('.main-svg');
        const drawn = svg ? svg.getBoundingClientRect() : null;
        return {cell: cell.clientWidth, scroll: cell.scrollWidth,
                cell_right: cell.getBoundingClientRect().right, grid_right: right,
                drawn: drawn ? drawn.width : 0, drawn_right: drawn ? drawn.right : 0};
    }); })"""


def misfits(page) -> list[dict]:
    """Each plot cell whose figure does not fill it exactly: wider than the cell or
    the grid (it would scroll sideways), or narrower (it did not follow the cell)."""
    return [
        c
        for c in page.evaluate(PLOT_CELLS_JS)
        if c["drawn"] == 0
        or c["scroll"] > c["cell"] + 1
        or abs(c["drawn"] - c["cell"]) > 2
        or max(c["cell_right"], c["drawn_right"]) > c["grid_right"] + 1
    ]


def check_plots_fit(page, where: str) -> None:
    """Every plot drawn as wide as its grid cell (after plotly's resize), none wider."""
    try:
        page.wait_for_function(
            f"() => {{ const cells = ({PLOT_CELLS_JS})();"
            " return cells.length >= 5 && cells.every(c => c.drawn > 0"
            " && c.scroll <= c.cell + 1 && Math.abs(c.drawn - c.cell) <= 2"
            " && Math.max(c.cell_right, c.drawn_right) <= c.grid_right + 1); }",
            timeout=10_000,
        )
    except Exception:  # noqa: BLE001 - the assertion below says which cells
        pass
    bad = misfits(page)
    assert bad == [], f"{where}: plots that do not fit their cells: {bad}"


def shots(page, name: str) -> None:
    """The graph with the controls, then the plots, as the window shows them."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".pl-lab .pl-toolbar").first.scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('.pl-lab').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / f"{name}-1-graph.png"))
    page.locator(".pl-lab .pl-as-python").first.evaluate(
        "el => el.scrollIntoView({block: 'center'})"
    )
    page.screenshot(path=str(ARTIFACTS / f"{name}-2-controls.png"))
    page.locator(".pl-lab .pl-plots").first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / f"{name}-3-plots.png"))


def open_sidebar(page) -> None:
    """Show the file browser in JupyterLab's left sidebar (a fresh workspace may not)."""
    browser = page.locator("#filebrowser")
    if not browser.is_visible():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    browser.wait_for(state="visible")
    assert browser.bounding_box()["width"] > 150


@pytest.mark.parametrize("size", list(SIZES))
def test_every_control_fits(page, lab_server, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    open_notebook_page(page, lab_server, "lab_layout.ipynb")
    open_sidebar(page)
    run_notebook_cell(page, 0)
    state = page.locator('[data-testid="graph-node"][data-node-id="site:state"]')
    state.wait_for(timeout=90_000)  # kernel start + torch + capture + Graphviz WASM
    page.locator(".pl-lab .js-plotly-plot .gtitle").first.wait_for(timeout=30_000)
    state.click()
    page.locator('[data-testid="options-form"] form[data-propagator="TP"]').wait_for()

    assert graph_width(page) >= MIN_GRAPH_WIDTH
    check_visible_and_clickable(page, f"{size}, normal")
    check_plots_fit(page, f"{size}, normal")
    before, normal_widths = font_sizes(page), widths(page)
    shots(page, f"layout-{size}-normal")

    toggle = page.locator(".pl-lab .pl-presentation-toggle")
    toggle.scroll_into_view_if_needed()
    toggle.click()
    page.locator(".pl-lab.pl-presentation").wait_for()
    page.wait_for_function(  # plotly re-draws its titles at the new size
        "s => { const t = document.querySelector('.pl-lab .js-plotly-plot .gtitle');"
        " return t && parseFloat(t.style.fontSize) > s; }",
        arg=before["plot_title"],
    )
    page.locator(".pl-lab .js-plotly-plot .gtitle").first.wait_for()
    after, wide = font_sizes(page), widths(page)
    for key in before:
        assert after[key] > before[key], f"{key}: font {before[key]} -> {after[key]} px"
    assert wide["graph"] >= 0.95 * wide["lab"], wide
    # One plot a row, across the Lab, and still inside its cell.
    check_plots_fit(page, f"{size}, presentation")
    wide = widths(page)
    assert wide["plot"] >= 0.9 * wide["lab"] and wide["plot"] >= normal_widths["plot"], wide
    assert graph_width(page) >= MIN_GRAPH_WIDTH
    check_visible_and_clickable(page, f"{size}, presentation")
    shots(page, f"layout-{size}-presentation")

    # Off again from Python: the class, the toggle and the fonts follow.
    run_notebook_cell(page, 1)
    page.locator(".pl-lab.pl-presentation").wait_for(state="detached")
    page.wait_for_function(
        "() => !document.querySelector('.pl-lab .pl-presentation-toggle')"
        ".classList.contains('mod-active')"
    )
    assert font_sizes(page)["run"] == before["run"]
    assert widths(page)["graph"] == pytest.approx(normal_widths["graph"], abs=2)
    # back to the grid's columns: the figures shrink to their cells again
    check_plots_fit(page, f"{size}, presentation off")
    assert widths(page)["plot"] == pytest.approx(normal_widths["plot"], abs=2)
