"""The failing node stays visible whatever its propagator's colour: a propagator
registered in the error red fails at step 7; the node gets the outline and a
badge (white disc, dark ring, "!") that does not rely on colour."""

from __future__ import annotations

import pytest

from .test_lab_browser import node, open_lab, select_and_assign, shot

pytestmark = pytest.mark.browser


def test_an_error_mark_is_visible_on_a_red_propagator(page, lab_server):
    open_lab(page, lab_server, "lab_error_mark.ipynb")
    select_and_assign(page, "RedFail")
    page.locator(".pl-lab .pl-run").click()
    banner = page.locator('[data-testid="error-banner"]')
    banner.wait_for(state="visible", timeout=60_000)
    assert "step 7 refuses" in banner.inner_text()
    state = node(page, "site:state")
    page.wait_for_function(
        '() => document.querySelector(\'[data-node-id="site:state"] [data-testid="error-badge"]\')'
    )
    assert "pl-node-error" in (state.get_attribute("class") or "")
    fill = state.evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )
    assert fill == "#d62728", "the node should keep its red fill (the test's point)"
    badge = state.locator('[data-testid="error-badge"]')
    assert badge.count() == 1
    disc, ring = badge.locator("circle").evaluate(
        "c => [getComputedStyle(c).fill, getComputedStyle(c).stroke]"
    )
    assert disc == "rgb(255, 255, 255)" and ring == "rgb(26, 26, 26)"
    assert badge.locator("text").inner_text() == "!"
    # the badge sits on the node's corner, inside the drawing
    box, node_box = badge.bounding_box(), state.bounding_box()
    assert box["width"] >= 10 and box["height"] >= 10
    assert node_box["x"] <= box["x"] + box["width"] / 2 <= node_box["x"] + node_box["width"] + 1
    shot(page, "lab-error-mark-red.png")

    # dismissing the error removes the mark
    page.locator('[data-testid="dismiss-error"]').click()
    banner.wait_for(state="hidden")
    assert state.locator('[data-testid="error-badge"]').count() == 0
    assert "pl-node-error" not in (state.get_attribute("class") or "")
