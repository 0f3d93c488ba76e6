"""The Lab on function nodes: assign FeedbackAlignment to a linear layer by clicking, run.

The notebook (notebooks/lab_teacher.ipynb) shows ``pl.Lab(TeacherStudent(), iterations=20,
lr=0.02)``: two linear layers as function nodes ``hidden`` and ``output``. The test checks
that the palette offers the learning-signal propagators for a forward node, clicks
``output``, picks FeedbackAlignment, presses Run and checks that the run ends without an
error banner, the alignment-angle plot in the page holds points, and the kernel recorded
20 finite estimates under the plan {"output": "FeedbackAlignment"}.
"""

from __future__ import annotations

import pytest

from .assign_and_run import assign_and_run

pytestmark = pytest.mark.browser

ANGLE_POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('.pl-lab .js-plotly-plot')];
    const a = plots.find(p => ((p.layout && p.layout.title && p.layout.title.text) || '')
                              .includes('Alignment angle'));
    if (!a || !Array.isArray(a.data)) return -1;
    return a.data.reduce((m, t) => Math.max(m, (t.x || []).length), 0);
}"""


def test_assign_feedback_alignment_to_a_linear_node_and_run(page, lab_server):
    state = assign_and_run(
        page,
        lab_server,
        "lab_teacher.ipynb",
        "output",
        "FeedbackAlignment",
        before="Backprop",
        screenshot="lab-feedback-alignment.png",
        offers=("FeedbackAlignment", "SyntheticGradient", "Truncate"),
    )
    assert page.evaluate(ANGLE_POINTS_JS) >= 1  # recorded passes noted their angle
    assert int(state["ANGLE_POINTS"]) >= 1
