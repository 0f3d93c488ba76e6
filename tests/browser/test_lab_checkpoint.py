"""The Lab on a recurrent program of function nodes: assign Checkpoint by clicking, run.

The notebook (notebooks/lab_checkpoint.ipynb) shows a 10-step recurrent program whose
step is the function node "cell" (Backprop by default). The test clicks the node, picks
Checkpoint from the palette, presses Run and checks that the run ends without an error
banner, the kernel recorded 20 finite estimates under the plan {"cell": "Checkpoint"},
and the memory plot holds the measured iterations.
"""

from __future__ import annotations

import pytest

from .assign_and_run import assign_and_run

pytestmark = pytest.mark.browser


def test_assign_checkpoint_to_a_function_node_and_run(page, lab_server):
    state = assign_and_run(
        page,
        lab_server,
        "lab_checkpoint.ipynb",
        "cell",
        "Checkpoint",
        before="Backprop",
        screenshot="lab-checkpoint.png",
    )
    # the shown iterations were measured (at least the last) and plotted
    assert int(state["MEASURED"]) >= 1
    assert int(state["MEMORY_POINTS"]) == int(state["MEASURED"])
