"""The Lab on a recurrent program of function nodes: assign Checkpoint by clicking, run.

The notebook (notebooks/lab_checkpoint.ipynb) shows a 10-step recurrent program whose
step is the function node "cell" (Backprop by default). The test clicks the node, picks
Checkpoint from the palette, presses Run and checks that the run ends without an error
banner, the kernel recorded 20 finite estimates under the plan {"cell": "Checkpoint"},
and the memory plot holds the measured iterations.
"""

from __future__ import annotations

import pytest

from .test_lab_browser import node, open_lab, press_run, select_and_assign, shot, status_text
from .test_lab_discrete import kernel_state

pytestmark = pytest.mark.browser

CHECKPOINT = "#6a3d9a"  # its registry colour


def test_assign_checkpoint_to_a_function_node_and_run(page, lab_server):
    open_lab(page, lab_server, "lab_checkpoint.ipynb", site="cell")
    assert node(page, "site:cell").get_attribute("data-propagator") == "Backprop"

    select_and_assign(page, "Checkpoint", site="cell")
    fill = node(page, "site:cell").evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )
    assert fill == CHECKPOINT

    press_run(page)
    assert "done" in status_text(page)
    assert page.locator('[data-testid="error-banner"]').is_hidden()
    assert page.locator(".pl-lab .pl-error").count() == 0
    shot(page, "lab-checkpoint.png")

    state = kernel_state(page)
    assert state["ALIVE"] == "yes" and state["RUNNING"] == "False"
    assert state["PLAN"] == '{"cell": "Checkpoint"}'
    assert state["ROWS"] == '["current"] 20 finite=True'
    assert state["ERROR"] == "{}"
    # the shown iterations were measured (at least the last) and plotted
    assert int(state["MEASURED"]) >= 1
    assert int(state["MEMORY_POINTS"]) == int(state["MEASURED"])
