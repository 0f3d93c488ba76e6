"""The graph widget end to end: JupyterLab + the prebuilt extension + a kernel.

Opens a notebook that traces a small program and displays a GraphWidget,
clicks a node, assigns a propagator from the palette, and checks both sides:
the SVG node's data-propagator and fill change, and the kernel's plan (printed
by a second cell) changes. Also: an invalid option shows the error banner and
highlights the node, the flow overlay and tooltip, the unrolled view with a
per-instance override, the context menu, zoom and fit.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

NB = "graph_widget.ipynb"
TP, RP, LR = "#009e73", "#0072b2", "#e69f00"


def node(page, node_id: str):
    return page.locator(f'[data-testid="graph-node"][data-node-id="{node_id}"]')


def fill_of(page, node_id: str) -> str:
    return node(page, node_id).evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )


def shot(page, name: str) -> None:
    """Screenshot of the widget (scrolled into view) into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    widget = page.locator(".pl-graph-widget")
    widget.scroll_into_view_if_needed()
    widget.screenshot(path=str(ARTIFACTS / name))


def run_cell(page, index: int) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def cell_output(page, index: int, marker: str, timeout: float = 30_000) -> str:
    """Text of cell ``index``'s output once it contains ``marker``."""
    out = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output")
    out.filter(has_text=marker).first.wait_for(timeout=timeout)
    return out.all_inner_texts()[-1] if out.count() else ""


def kernel_state(page) -> dict:
    """Run cell 2 (prints the kernel-side state) and parse its lines."""
    run_cell(page, 1)
    page.wait_for_timeout(300)
    text = cell_output(page, 1, "ERROR=")
    fields = dict(line.split("=", 1) for line in text.strip().splitlines() if "=" in line)
    return {
        "plan": json.loads(fields["PLAN"]),
        "selected": fields["SELECTED"],
        "svg": fields["SVG"] == "True",
        "error": json.loads(fields["ERROR"]),
    }


def open_notebook(page, lab_server) -> None:
    page.goto(f"{lab_server['url']}/lab/tree/{NB}?token={lab_server['token']}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    dialog = page.locator(".jp-Dialog")
    # A "Select Kernel" dialog shows on some set-ups: accept the default kernel.
    try:
        dialog.wait_for(timeout=2_000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except Exception:  # noqa: BLE001 - no dialog is the usual case
        pass


def test_click_assign_and_kernel_plan(page, lab_server):
    open_notebook(page, lab_server)
    run_cell(page, 0)
    node(page, "site:state").wait_for(timeout=90_000)  # kernel start + torch import + WASM

    # Rendered: every graph node and edge tagged, coloured by the plan.
    assert page.locator('[data-testid="graph-node"]').count() == 4
    assert page.locator('[data-testid="graph-edge"]').count() >= 3
    state = node(page, "site:state")
    assert state.get_attribute("data-site") == "state"
    assert state.get_attribute("data-kind") == "sample"
    assert state.get_attribute("data-propagator") == "RP"
    assert fill_of(page, "site:state") == RP
    assert page.locator('[data-testid="legend"]').inner_text().count("RP") >= 1
    # The DOT's own legend box is hidden in the live view (the widget has its own).
    assert page.locator(".pl-svg g.node.pl-aux").count() >= 1
    assert not page.locator(".pl-svg g.node.pl-aux").first.is_visible()
    shot(page, "graph-widget-01-rendered.png")

    # Select: details panel, then assign TP from the palette.
    state.click()
    details = page.locator('[data-testid="node-details"]')
    details.wait_for()
    assert "state" in details.inner_text() and "Normal" in details.inner_text()
    assert "[8, 1]" in details.inner_text()
    rendered = page.locator(".pl-graph-widget").get_attribute("data-rendered")
    page.locator('[data-testid="palette-TP"]').click()
    assert state.get_attribute("data-propagator") == "TP"  # optimistic, at once
    # ... then confirmed by the kernel's new DOT (a fresh render, status from the kernel).
    page.wait_for_function(
        """([prev]) => {
            const w = document.querySelector('.pl-graph-widget');
            const g = document.querySelector('[data-node-id="site:state"]');
            return w.getAttribute('data-rendered') !== prev && g &&
                   g.getAttribute('data-propagator') === 'TP' &&
                   !g.classList.contains('pl-node-pending');
        }""",
        arg=[rendered],
    )
    assert fill_of(page, "site:state") == TP
    assert "TP" in page.locator('[data-testid="status"]').inner_text()
    assert page.locator('[data-testid="options-form"] [data-testid="option-every"]').count() == 1
    shot(page, "graph-widget-02-assigned-TP.png")

    ks = kernel_state(page)
    assert ks["plan"] == {"state": "TP"}
    assert ks["selected"] == "site:state"
    for _ in range(20):  # the view sends its SVG back debounced, after rendering
        if ks["svg"]:
            break
        page.wait_for_timeout(250)
        ks = kernel_state(page)
    assert ks["svg"], "the rendered SVG was not synced back to the kernel"
    assert ks["error"] == {}

    # An out-of-range option: the kernel refuses, the banner names it, the node is marked.
    every = page.locator('[data-testid="option-every"]')
    every.fill("0")
    page.locator('[data-testid="apply-options"]').click()
    banner = page.locator('[data-testid="error-banner"]')
    banner.wait_for(state="visible")
    assert "minimum" in banner.inner_text()
    page.wait_for_function(
        "() => document.querySelector('[data-node-id=\"site:state\"]')"
        ".classList.contains('pl-node-error')"
    )
    assert fill_of(page, "site:state") == TP  # optimistic colour undone
    stroke = node(page, "site:state").evaluate(
        "g => getComputedStyle(g.querySelector('ellipse, polygon, path')).stroke"
    )
    assert stroke != "rgb(0, 0, 0)", "the failing node is not highlighted"
    shot(page, "graph-widget-03-error.png")
    page.locator('[data-testid="dismiss-error"]').click()
    banner.wait_for(state="hidden")

    # A valid option changes the plan but not the layout: the drawn SVG is recoloured and
    # relabelled in place (Graphviz does not run), and the details show the kernel's options.
    drawn = page.locator('[data-testid="graph-svg"]').element_handle()
    rendered = page.locator(".pl-graph-widget").get_attribute("data-rendered")
    every.fill("2")
    page.locator('[data-testid="apply-options"]').click()
    page.wait_for_function(
        "([prev]) => document.querySelector('.pl-graph-widget')"
        ".getAttribute('data-rendered') !== prev",
        arg=[rendered],
    )
    assert page.locator(".pl-graph-widget").get_attribute("data-drawn-by") == "relabel"
    assert drawn.evaluate("svg => svg.isConnected"), "the graph was laid out again"
    assert "every=2" in details.inner_text()
    assert page.locator('[data-testid="option-every"]').input_value() == "2"

    # Flow overlay: widest edge for the largest norm, tooltip with weights and baseline.
    flow = page.locator('[data-testid="graph-edge"].pl-flow')
    assert flow.count() == 2
    state.hover()
    tip = page.locator('[data-testid="flow-tooltip"]')
    tip.wait_for(state="visible")
    assert "baseline" in tip.inner_text() and "weight LR" in tip.inner_text()

    # Zoom with the wheel, then fit.
    svg = page.locator('[data-testid="graph-svg"]')
    home = svg.get_attribute("viewBox")
    page.locator('[data-testid="graph-canvas"]').hover()
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(100)
    assert svg.get_attribute("viewBox") != home
    page.locator('[data-testid="fit-view"]').click()
    assert svg.get_attribute("viewBox") == home

    # Unrolled view: override one instance only.
    page.locator('[data-testid="view-toggle"]').click()
    node(page, "site:state#2").wait_for()
    page.locator('[data-testid="assign-instance-only"]').check()
    node(page, "site:state#1").click()
    page.locator('[data-testid="palette-LR"]').click()
    assert node(page, "site:state#1").get_attribute("data-propagator") == "LR"
    assert node(page, "site:state#0").get_attribute("data-propagator") == "TP"
    page.wait_for_function(
        "() => /instance 1: LR/.test("
        "document.querySelector('[data-testid=\"status\"]').textContent)"
    )
    node(page, "site:state#1").wait_for()
    assert fill_of(page, "site:state#1") == LR
    assert fill_of(page, "site:state#2") == TP

    # Right-click menu offers the palette's choices; Backprop cannot serve a sample node.
    node(page, "site:state#0").click(button="right")
    menu = page.locator('[data-testid="context-menu"]')
    menu.wait_for(state="visible")
    assert not page.locator(".lm-Menu").is_visible(), "JupyterLab's own menu opened too"
    assert page.locator('[data-testid="context-Backprop"]').is_disabled()
    assert page.locator('[data-testid="context-GR"]').is_enabled()
    shot(page, "graph-widget-04-unrolled-menu.png")
    page.keyboard.press("Escape")
    menu.wait_for(state="hidden")

    ks = kernel_state(page)
    assert ks["plan"] == {
        "state": {"instances": {"1": "LR"}, "propagator": "TP", "options": {"every": 2}}
    }
    assert re.fullmatch(r"site:state#\d", ks["selected"])
