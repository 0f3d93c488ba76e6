"""Every tutorial runs top to bottom, headless, as CI's user would run it.

Notebooks carry their own checks (tutorial 2 asserts the paper's claims), so
an error in any cell fails here. ``PROPPO_FULL_RUN`` stays unset: the quick
settings each notebook documents. The run is the session's ``executed_tutorial``
(conftest), which the site test (test_export_site.py) exports again without
running the tutorials a second time; it also makes the export's snapshots, so
a Lab that publishes runs (``publish=[...]``) is checked to compute them.
"""

from __future__ import annotations

import pytest
from conftest import TUTORIALS as NOTEBOOKS


def test_there_are_tutorials():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_runs_top_to_bottom(path, executed_tutorial):
    nb = executed_tutorial(path)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    # every code cell ran, in order
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    # every Lab made with publish=[...] computed its runs for the exported page
    publishing = sum(c.source.count("publish=") for c in nb.cells if c.cell_type == "code")
    snapshots = nb.metadata["proppo_lab"]["snapshots"].values()
    published = [s for s in snapshots if s["kind"] == "lab" and s.get("explorable", {}).get("runs")]
    assert len(published) == publishing
