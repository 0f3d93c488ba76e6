"""The unrolled strip of a long loop and the per-node live overlay, in JupyterLab.

On the 100-step chaotic RNN (tutorial 2's system): the rolled graph is laid out
by Graphviz in a Web Worker; after a run, unrolling shows every instance as a
strip cell whose tooltip has its recorded messages (not "no messages recorded
yet"); choosing an overlay in the toolbar recolours the cells with the kernel's
values, darker to lighter as the values grow.
"""

from __future__ import annotations

import json

import pytest

from .conftest import open_notebook_page
from .test_graph_widget_browser import cell_output, node, run_cell, shot

pytestmark = pytest.mark.browser

NB = "lab_overlay.ipynb"
STEPS = 100


def _luminance(fill: str) -> float:
    from proppo_lab.contracts import luminance

    return luminance(fill)


# Viridis' luminance rises monotonically, but the overlay's fills are 8-bit: overlay.ts
# mixes two neighbouring stops and rounds each channel. Where one channel falls while
# another rises (red falls from the second stop on), the falling one can round down a
# step before the rising one rounds up, so a fill for a larger value may be darker by a
# fraction of one 8-bit step (3.7e-4 at worst on today's scale). Each rounded channel is
# within half a step of the exact mix, so no fill is darker than an earlier one by more
# than one step of every channel; at full scale, where a step weighs most, that is:
ROUNDING = _luminance("#ffffff") - _luminance("#fefefe")


def assert_lighter_with_value(fills: list[str]) -> None:
    """Fills listed in order of their values get lighter, up to 8-bit rounding: each is
    at most ROUNDING darker than the lightest before it (so a slow drift down fails too)."""
    lum = [_luminance(f) for f in fills]
    lightest = 0
    for j in range(1, len(fills)):
        assert lum[j] >= lum[lightest] - ROUNDING, (
            f"fill {fills[j]} (number {j} by value) is darker than the earlier "
            f"{fills[lightest]}: {lum[j]:.4f} < {lum[lightest]:.4f} (all fills: {fills})"
        )
        lightest = j if lum[j] > lum[lightest] else lightest
    assert lum[-1] > lum[0], fills


def _viridis_ramp(stops: list[str], n: int) -> list[str]:
    """``n`` fills along ``stops`` at 8 bits per channel, mixed as overlay.ts mixes them."""
    import math

    def channels(s: str) -> list[int]:
        return [int(s[i : i + 2], 16) for i in (1, 3, 5)]

    fills = []
    for k in range(n):
        pos = k / (n - 1) * (len(stops) - 1)
        i = min(len(stops) - 2, math.floor(pos))
        a, b = channels(stops[i]), channels(stops[i + 1])
        # Math.round rounds halves up
        mixed = [math.floor(x + (y - x) * (pos - i) + 0.5) for x, y in zip(a, b)]
        fills.append("#" + "".join(f"{c:02x}" for c in mixed))
    return fills


def test_luminance_order_allows_rounding_and_nothing_more():
    """The order check accepts the overlay's own 8-bit viridis ramp, which an exact
    order rejects, and still rejects a ramp with two stops out of order."""
    import re
    from pathlib import Path

    source = Path(__file__).parents[2] / "labextension" / "src" / "overlay.ts"
    block = re.search(r"const SCALE = \[(.*?)\];", source.read_text(), re.S).group(1)
    stops = re.findall(r"'(#[0-9a-f]{6})'", block)
    assert len(stops) >= 3
    ramp = _viridis_ramp(stops, 20_001)
    lum = [_luminance(f) for f in ramp]
    assert any(b < a for a, b in zip(lum, lum[1:])), "rounding no longer darkens any fill"
    assert_lighter_with_value(ramp)
    for i in range(len(stops) - 1):
        swapped = stops[:i] + [stops[i + 1], stops[i]] + stops[i + 2 :]
        with pytest.raises(AssertionError):
            assert_lighter_with_value(_viridis_ramp(swapped, 201))
    with pytest.raises(AssertionError):
        assert_lighter_with_value(ramp[::-1])


def kernel_overlay(page) -> tuple[str, dict]:
    run_cell(page, 2)
    page.wait_for_timeout(300)
    text = cell_output(page, 2, "ERROR=")
    fields = dict(line.split("=", 1) for line in text.strip().splitlines() if "=" in line)
    assert json.loads(fields["ERROR"]) == {}
    return fields["METRIC"], json.loads(fields["VALUES"])


def wait_drawing(page, view: str, drawing: str) -> None:
    page.wait_for_function(
        """([view, drawing]) => {
            const svg = document.querySelector('[data-testid="graph-svg"]');
            return svg && svg.getAttribute('data-view') === view &&
                   svg.getAttribute('data-drawing') === drawing;
        }""",
        arg=[view, drawing],
        timeout=60_000,
    )


def test_unrolled_strip_tooltips_and_overlay(page, lab_server):
    page.set_viewport_size({"width": 1600, "height": 1400})
    open_notebook_page(page, lab_server, NB)
    run_cell(page, 0)
    node(page, "site:state").wait_for(timeout=90_000)
    # the rolled graph was laid out by Graphviz in the worker, not on the page's thread
    svg = page.locator('[data-testid="graph-svg"]')
    assert svg.get_attribute("data-layout-thread") == "worker"

    run_cell(page, 1)  # a run in the rolled view, as tutorial 2 does
    cell_output(page, 1, "DONE=rolled", timeout=120_000)

    page.locator('[data-testid="view-toggle"]').click()
    wait_drawing(page, "unrolled", "strip")
    cells = page.locator('[data-testid="graph-node"][data-site="state"]')
    assert cells.count() == STEPS
    # every instance is on screen at Fit, each cell big enough to point at
    canvas = page.locator('[data-testid="graph-canvas"]').bounding_box()
    for i in (0, 50, STEPS - 1):
        box = node(page, f"site:state#{i}").bounding_box()
        assert box["width"] >= 8 and box["height"] >= 6, box
        assert canvas["x"] <= box["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"]
        assert (
            canvas["y"] <= box["y"] and box["y"] + box["height"] <= canvas["y"] + canvas["height"]
        )

    tip = page.locator('[data-testid="flow-tooltip"]')
    for i in range(STEPS):
        node(page, f"site:state#{i}").hover()
        tip.filter(has_text=f"state[{i}]").wait_for(timeout=5_000)
        text = tip.inner_text()
        assert "no messages recorded yet" not in text, (i, text)
        assert "grad" in text and "weight" in text, (i, text)

    # choose an overlay in the toolbar: the kernel answers with values, the cells recolour
    before = {i: node(page, f"site:state#{i}").get_attribute("data-propagator") for i in (0, 97)}
    page.locator('[data-testid="overlay-select"]').select_option("grad norm")
    page.wait_for_function(
        """n => document.querySelectorAll('[data-site="state"][data-overlay-value]')
                .length === n""",
        arg=STEPS,
        timeout=30_000,
    )
    metric, values = kernel_overlay(page)
    assert metric == "grad norm"
    shown = page.evaluate("""() => Object.fromEntries(
        Array.from(document.querySelectorAll('[data-overlay-value]')).map(g => [
            g.getAttribute('data-node-id'),
            [Number(g.getAttribute('data-overlay-value')),
             g.querySelector('rect, ellipse, polygon, path').getAttribute('fill')]]))""")
    assert set(shown) == set(values)
    for nid, (v, _) in shown.items():
        assert v == pytest.approx(values[nid], rel=1e-6)
    # the fills follow the kernel's values: viridis gets lighter as values grow
    fills = [shown[nid][1] for nid in sorted(values, key=values.get)]
    assert_lighter_with_value(fills)
    assert len(set(fills)) > 10  # a spread of colours, not one flat fill
    legend = page.locator('[data-testid="overlay-legend"]')
    assert legend.is_visible() and "iteration" in legend.inner_text()
    shot(page, "overlay-unrolled-strip.png")

    # an instance is still selectable: the kernel learns its id
    node(page, "site:state#97").click()
    page.wait_for_function(
        """() => document.querySelector('[data-node-id="site:state#97"]')
                 .classList.contains('pl-node-selected')"""
    )

    # back to colours by propagator
    page.locator('[data-testid="overlay-select"]').select_option("")
    page.wait_for_function(
        """() => !document.querySelector('[data-overlay-value]')""", timeout=30_000
    )
    assert node(page, "site:state#97").get_attribute("data-propagator") == before[97]
