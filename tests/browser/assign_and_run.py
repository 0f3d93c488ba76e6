"""One browser scenario the propagator tests share: open a Lab notebook, assign a
propagator to a node by clicking, press Run, and read the kernel's own account of it.

Each Lab notebook under ``notebooks/`` shows the Lab in cell 0 and a probe in cell 1
that prints ``KEY=value`` lines (ALIVE, RUNNING, PLAN, ROWS, ERROR and the test's own).
"""

from __future__ import annotations

import json

from proppo_lab.core import registry

from .test_lab_browser import (
    node,
    open_lab,
    press_run,
    run_cell_until,
    select_and_assign,
    shot,
    status_text,
)

FILL_JS = (
    "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
)


def kernel_state(page) -> dict[str, str]:
    """Run the probe cell and read its KEY=value lines."""
    run_cell_until(page, 1, "ERROR=")
    cell = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    text = cell.all_inner_texts()[-1]
    return dict(line.split("=", 1) for line in text.strip().splitlines() if "=" in line)


def assign_and_run(
    page,
    lab_server,
    notebook: str,
    site: str,
    propagator: str,
    *,
    before: str,
    screenshot: str,
    offers: tuple[str, ...] = (),
) -> dict[str, str]:
    """Click ``site`` (served by ``before``; its palette ``offers`` these propagators too),
    pick ``propagator`` from the palette, run 20 iterations; check the node took the
    propagator's colour and the run ended without an error anywhere, then return the
    probe's lines for the test's own checks."""
    open_lab(page, lab_server, notebook, site=site)
    target = node(page, f"site:{site}")
    assert target.get_attribute("data-propagator") == before
    if offers:
        target.click()
        for name in offers:
            assert page.locator(f'[data-testid="palette-{name}"]').count() == 1, name

    select_and_assign(page, propagator, site=site)
    assert target.evaluate(FILL_JS) == registry.get(propagator).colour.lower()

    press_run(page)
    assert "done" in status_text(page)
    assert page.locator('[data-testid="error-banner"]').is_hidden()
    assert page.locator(".pl-lab .pl-error").count() == 0  # the Lab's own banner is empty
    shot(page, screenshot)

    state = kernel_state(page)
    assert state["ALIVE"] == "yes" and state["RUNNING"] == "False"
    assert state["PLAN"] == json.dumps({site: propagator})
    assert state["ROWS"] == '["current"] 20 finite=True'
    assert state["ERROR"] == "{}"
    return state
