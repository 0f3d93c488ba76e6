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

from .test_lab_browser import node, open_lab, press_run, select_and_assign, shot, status_text
from .test_lab_discrete import kernel_state

pytestmark = pytest.mark.browser

FEEDBACK_ALIGNMENT = "#88ccee"  # its registry colour

ANGLE_POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('.pl-lab .js-plotly-plot')];
    const a = plots.find(p => ((p.layout && p.layout.title && p.layout.title.text) || '')
                              .includes('Alignment angle'));
    if (!a || !Array.isArray(a.data)) return -1;
    return a.data.reduce((m, t) => Math.max(m, (t.x || []).length), 0);
}"""


def test_assign_feedback_alignment_to_a_linear_node_and_run(page, lab_server):
    open_lab(page, lab_server, "lab_teacher.ipynb", site="output")
    assert node(page, "site:output").get_attribute("data-propagator") == "Backprop"

    node(page, "site:output").click()
    for name in ("FeedbackAlignment", "SyntheticGradient", "Truncate"):
        assert page.locator(f'[data-testid="palette-{name}"]').count() == 1, name

    select_and_assign(page, "FeedbackAlignment", site="output")
    fill = node(page, "site:output").evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )
    assert fill == FEEDBACK_ALIGNMENT

    press_run(page)
    assert "done" in status_text(page)
    assert page.locator('[data-testid="error-banner"]').is_hidden()
    assert page.locator(".pl-lab .pl-error").count() == 0
    assert page.evaluate(ANGLE_POINTS_JS) >= 1  # recorded passes noted their angle
    shot(page, "lab-feedback-alignment.png")

    state = kernel_state(page)
    assert state["ALIVE"] == "yes" and state["RUNNING"] == "False"
    assert state["PLAN"] == '{"output": "FeedbackAlignment"}'
    assert state["ROWS"] == '["current"] 20 finite=True'
    assert state["ERROR"] == "{}"
    assert int(state["ANGLE_POINTS"]) >= 1
