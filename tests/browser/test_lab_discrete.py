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

from .assign_and_run import assign_and_run
from .test_lab_browser import VARIANCE_POINTS_JS

pytestmark = pytest.mark.browser


def test_assign_disarm_to_a_bernoulli_node_and_run(page, lab_server):
    state = assign_and_run(
        page,
        lab_server,
        "lab_discrete.ipynb",
        "z",
        "DisARM",
        before="LR",
        screenshot="lab-discrete-disarm.png",
    )
    # the running variance has a point from the second iteration on, per parameter
    assert page.evaluate(VARIANCE_POINTS_JS) >= 19
    assert int(state["VARIANCE_POINTS"]) >= 5 * 19  # five parameters
