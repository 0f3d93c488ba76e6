"""The Lab on a discrete latent: assign DisARM to a Bernoulli node by clicking, run, see estimates.

The notebook (notebooks/lab_discrete.ipynb) shows ``pl.Lab(SigmoidBeliefNet(particles=16),
plan={"z": "LR"}, iterations=20)``. The test clicks the ``z`` node, picks DisARM from the
palette (a coupled propagator: the engine learns its antithetic pairs on the first
iteration and runs it again), presses Run and checks that the run ends without an error
banner, the variance plot in the page holds the run's points, and the kernel recorded 20
finite estimates under the plan {"z": "DisARM"}.
"""

from __future__ import annotations

import pytest

from .test_lab_browser import (
    VARIANCE_POINTS_JS,
    node,
    open_lab,
    press_run,
    run_cell_until,
    select_and_assign,
    shot,
    status_text,
)

pytestmark = pytest.mark.browser

DISARM = "#aa4499"  # its registry colour


def kernel_state(page) -> dict[str, str]:
    """Run the probe cell and read its KEY=value lines."""
    run_cell_until(page, 1, "ERROR=")
    cell = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    text = cell.all_inner_texts()[-1]
    return dict(line.split("=", 1) for line in text.strip().splitlines() if "=" in line)


def test_assign_disarm_to_a_bernoulli_node_and_run(page, lab_server):
    open_lab(page, lab_server, "lab_discrete.ipynb", site="z")
    assert node(page, "site:z").get_attribute("data-propagator") == "LR"

    select_and_assign(page, "DisARM", site="z")
    fill = node(page, "site:z").evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )
    assert fill == DISARM

    press_run(page)
    assert "done" in status_text(page)
    assert page.locator('[data-testid="error-banner"]').is_hidden()
    assert page.locator(".pl-lab .pl-error").count() == 0  # the Lab's own banner is empty
    # the running variance has a point from the second iteration on, per parameter
    assert page.evaluate(VARIANCE_POINTS_JS) >= 19
    shot(page, "lab-discrete-disarm.png")

    state = kernel_state(page)
    assert state["ALIVE"] == "yes" and state["RUNNING"] == "False"
    assert state["PLAN"] == '{"z": "DisARM"}'
    assert state["ROWS"] == '["current"] 20 finite=True'
    assert state["ERROR"] == "{}"
    assert int(state["VARIANCE_POINTS"]) >= 5 * 19  # five parameters
