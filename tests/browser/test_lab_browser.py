"""The Lab end to end: JupyterLab + the graph extension + ipywidgets + plotly + a kernel.

Each test opens its own notebook (its own kernel) that builds
``pl.Lab(ChaoticRNN(beta=2.4, steps=30, particles=200), plan={"state": "RP"},
iterations=20)`` and displays it, then drives the page the way a person does:

* ``test_run_assign_rerun_stop``: Run, click the ``state`` node, assign TP
  from the palette, Run again (node recoloured, >= 20 points in the variance
  plot read from the plotly div's own ``data``), then a long run stopped with
  Stop: the status says "stopped", Run is enabled again, and a new cell runs.
* ``test_bad_option_shows_banner_and_lab_recovers``: an out-of-range option
  through the options form shows the graph's error banner with a readable
  message; the kernel is alive, and a new run works and clears the banner.
* ``test_dismiss_clears_kernel_error_and_load_updates_the_form``: the banner's
  dismiss clears ``lab.graph.error`` in the kernel; Load of a plan file updates
  the open options form.
* ``test_a_propagator_registered_later_reaches_the_shown_palette_and_compare``:
  ``pl.register`` in a later cell updates the displayed palette and compare toggles.

Waits are on DOM conditions, never on elapsed time (except the ~1 s the long
run is left running before Stop). Screenshots go to test-artifacts/lab-*.png.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

TP = "#009e73"
RP = "#0072b2"

# The Lab's own status line (an ipywidgets HTML); the graph view has its own .pl-status.
STATUS = ".pl-lab .widget-html.pl-status"

VARIANCE_POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('.pl-lab .js-plotly-plot')];
    const v = plots.find(p => ((p.layout && p.layout.title && p.layout.title.text) || '')
                              .includes('Running variance'));
    if (!v || !Array.isArray(v.data)) return -1;
    return v.data.reduce((m, t) => Math.max(m, (t.x || []).length), 0);
}"""


# ----------------------------------------------------------------------------- helpers


def open_notebook(page, lab_server, name: str) -> None:
    page.goto(f"{lab_server['url']}/lab/tree/{name}?token={lab_server['token']}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    try:  # a "Select Kernel" dialog shows on some set-ups: accept the default kernel
        page.locator(".jp-Dialog").wait_for(timeout=2_000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except Exception:  # noqa: BLE001 - no dialog is the usual case
        pass


def run_cell(page, index: int) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def probe(page, index: int = 1, timeout: float = 30_000) -> dict:
    """Run the probe cell (prints KEY=value lines) and parse its newest output.

    Its output appearing at all is the proof that the kernel is alive and idle
    enough to execute a cell while the Lab's thread exists.
    """
    out = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output")
    page.evaluate(
        "i => document.querySelectorAll('.jp-Notebook .jp-Cell')[i]"
        ".querySelectorAll('.jp-OutputArea-output').forEach(o => o.remove())",
        index,
    )
    run_cell(page, index)
    out.filter(has_text="ERROR=").first.wait_for(timeout=timeout)
    text = out.all_inner_texts()[-1]
    fields = dict(line.split("=", 1) for line in text.strip().splitlines() if "=" in line)
    return {
        "alive": fields.get("ALIVE") == "yes",
        "running": fields.get("RUNNING") == "True",
        "plan": json.loads(fields["PLAN"]),
        "variance_points": int(fields["VARIANCE_POINTS"]),
        "error": json.loads(fields["ERROR"]),
    }


def node(page, node_id: str):
    return page.locator(f'[data-testid="graph-node"][data-node-id="{node_id}"]')


def fill_of(page, node_id: str) -> str:
    return node(page, node_id).evaluate(
        "g => (g.querySelector('ellipse, polygon, path').getAttribute('fill') || '').toLowerCase()"
    )


def status_text(page) -> str:
    return page.locator(STATUS).inner_text()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    lab = page.locator(".pl-lab").first
    lab.scroll_into_view_if_needed()
    lab.screenshot(path=str(ARTIFACTS / name))


def watch_run_button(page) -> None:
    """Arm a flag that turns true once the Run button is disabled (a run has started)."""
    page.evaluate("""() => {
        const b = document.querySelector('.pl-lab .pl-run');
        window.__plSawRunning = b.disabled;
        if (window.__plObs) window.__plObs.disconnect();
        window.__plObs = new MutationObserver(() => {
            if (b.disabled) window.__plSawRunning = true;
        });
        window.__plObs.observe(b, {attributes: true, attributeFilter: ['disabled']});
    }""")


def wait_run_ended(page, word: str, timeout: float = 30_000) -> None:
    """Wait until a run that started after watch_run_button() has ended with ``word``."""
    page.wait_for_function(
        """([sel, word]) => {
            const b = document.querySelector('.pl-lab .pl-run');
            const s = document.querySelector(sel);
            return window.__plSawRunning && b && !b.disabled && s && s.textContent.includes(word);
        }""",
        arg=[STATUS, word],
        timeout=timeout,
    )


def press_run(page, word: str = "done", timeout: float = 30_000) -> None:
    watch_run_button(page)
    page.locator(".pl-lab .pl-run").click()
    wait_run_ended(page, word, timeout)


def field_input(page, label: str):
    """The input of the Lab's text field labelled ``label``."""
    row = page.locator(".pl-controls .widget-text").filter(
        has=page.locator("label", has_text=re.compile(rf"^\s*{label}\s*$"))
    )
    return row.locator("input")


def run_cell_until(page, index: int, text: str) -> None:
    """Run cell ``index`` and wait for an output containing ``text``."""
    run_cell(page, index)
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output").filter(
        has_text=text
    ).wait_for(timeout=30_000)


def apply_every(page, value: str):
    """Type ``value`` into TP's ``every`` option, Apply, and return the banner once shown."""
    page.locator('[data-testid="options-form"] [data-testid="option-every"]').fill(value)
    page.locator('[data-testid="apply-options"]').click()
    banner = page.locator('[data-testid="error-banner"]')
    banner.wait_for(state="visible")
    return banner


def open_lab(page, lab_server, name: str, site: str = "state") -> None:
    # Tall enough that the whole Lab (graph, controls, five plots) fits the
    # notebook panel: element screenshots of it are then complete.
    page.set_viewport_size({"width": 1400, "height": 2300})
    open_notebook(page, lab_server, name)
    run_cell(page, 0)
    # kernel start + torch import + capture + Graphviz WASM
    node(page, f"site:{site}").wait_for(timeout=90_000)
    page.locator(".pl-lab .pl-run").wait_for()
    page.locator(".pl-lab .js-plotly-plot").first.wait_for(timeout=30_000)


def select_and_assign(page, propagator: str, site: str = "state") -> None:
    node(page, f"site:{site}").click()
    page.locator('[data-testid="node-details"]').filter(has_text=site).wait_for()
    rendered = page.locator(".pl-graph-widget").get_attribute("data-rendered")
    page.locator(f'[data-testid="palette-{propagator}"]').click()
    # Confirmed by the kernel's new DOT: a fresh render with the node no longer pending.
    page.wait_for_function(
        """([prev, p, id]) => {
            const w = document.querySelector('.pl-graph-widget');
            const g = document.querySelector(`[data-node-id="${id}"]`);
            return w.getAttribute('data-rendered') !== prev && g &&
                   g.getAttribute('data-propagator') === p &&
                   !g.classList.contains('pl-node-pending');
        }""",
        arg=[rendered, propagator, f"site:{site}"],
    )


# ------------------------------------------------------------------------------- tests


def test_run_assign_rerun_stop(page, lab_server):
    open_lab(page, lab_server, "lab_run_stop.ipynb")
    assert node(page, "site:state").get_attribute("data-propagator") == "RP"
    assert fill_of(page, "site:state") == RP

    # First run under RP.
    press_run(page)
    assert page.evaluate(VARIANCE_POINTS_JS) >= 20
    shot(page, "lab-01-first-run-RP.png")

    # Click the state node, assign TP from the palette, run again.
    select_and_assign(page, "TP")
    assert node(page, "site:state").get_attribute("data-propagator") == "TP"
    assert fill_of(page, "site:state") == TP
    press_run(page)
    assert node(page, "site:state").get_attribute("data-propagator") == "TP"
    assert fill_of(page, "site:state") == TP
    points = page.evaluate(VARIANCE_POINTS_JS)
    assert points >= 20, f"variance plot holds {points} points"
    state = probe(page)
    assert state["alive"] and not state["running"]
    assert state["plan"] == {"state": "TP"}
    assert state["variance_points"] >= 20
    shot(page, "lab-02-second-run-TP.png")

    # A long run, stopped from the page.
    box = field_input(page, "iterations")
    box.fill("1000000")
    box.press("Enter")
    page.wait_for_timeout(200)  # let the value sync before Run reads it
    watch_run_button(page)
    page.locator(".pl-lab .pl-run").click()
    stop = page.locator(".pl-lab .pl-stop")
    page.wait_for_function("() => !document.querySelector('.pl-lab .pl-stop').disabled")
    page.wait_for_timeout(1_000)
    assert page.locator(".pl-lab .pl-run").is_disabled(), "the long run ended by itself"
    shot(page, "lab-03-long-run.png")
    stop.click()
    wait_run_ended(
        page, "stopped", timeout=20_000
    )  # one iteration + a UI round trip, on a busy 2-core CI
    assert "stopped" in status_text(page)
    assert page.locator(".pl-lab .pl-run").is_enabled()
    assert stop.is_disabled()
    state = probe(page, timeout=30_000)
    assert state["alive"] and not state["running"]
    shot(page, "lab-04-stopped.png")


def test_bad_option_shows_banner_and_lab_recovers(page, lab_server):
    open_lab(page, lab_server, "lab_errors.ipynb")
    select_and_assign(page, "TP")

    # Below the minimum.
    banner = apply_every(page, "0")
    text = banner.inner_text()
    assert "every" in text and "minimum" in text, text
    assert "Traceback" not in text
    shot(page, "lab-05-error-minimum.png")

    # Far beyond the maximum: a fresh message (the banner re-renders with it).
    page.locator('[data-testid="dismiss-error"]').click()
    banner.wait_for(state="hidden")
    text = apply_every(page, "999999999").inner_text()
    assert "every" in text and "maximum" in text, text
    assert node(page, "site:state").get_attribute("data-propagator") == "TP"
    shot(page, "lab-06-error-maximum.png")

    # The kernel is alive; the refused values did not reach the plan.
    state = probe(page)
    assert state["alive"] and not state["running"]
    assert state["plan"] == {"state": "TP"}
    assert "maximum" in state["error"].get("message", "")

    # A new run works and clears the banner.
    press_run(page)
    assert banner.is_hidden()
    assert page.evaluate(VARIANCE_POINTS_JS) >= 20
    assert "done" in status_text(page)
    state = probe(page)
    assert state["error"] == {} and state["variance_points"] >= 20
    shot(page, "lab-07-recovered.png")


def test_dismiss_clears_kernel_error_and_load_updates_the_form(page, lab_server):
    open_lab(page, lab_server, "lab_errors.ipynb")
    select_and_assign(page, "TP")

    # Dismissing the banner clears the kernel's error too, not just the page's.
    banner = apply_every(page, "0")
    assert "minimum" in probe(page)["error"].get("message", "")
    page.locator('[data-testid="dismiss-error"]').click()
    banner.wait_for(state="hidden")
    page.wait_for_timeout(300)  # the dismiss message's round trip
    assert probe(page)["error"] == {}

    # Load a plan file that sets every=3: the open options form shows it.
    run_cell_until(page, 2, "WROTE=yes")
    path = field_input(page, "plan file")
    path.fill("loaded_plan.json")
    path.press("Enter")
    page.wait_for_timeout(200)  # let the value sync before Load reads it
    page.locator(".pl-lab .pl-load-plan").click()
    page.wait_for_function(
        """() => { const i = document.querySelector(
                     '[data-testid="options-form"] [data-testid="option-every"]');
                   return i && i.value === '3'; }""",
        timeout=30_000,
    )
    assert probe(page)["plan"] == {"state": {"propagator": "TP", "options": {"every": 3}}}
    shot(page, "lab-08-loaded-plan-form.png")


def test_a_propagator_registered_later_reaches_the_shown_palette_and_compare(page, lab_server):
    open_lab(page, lab_server, "lab_errors.ipynb")
    node(page, "site:state").click()
    palette = page.locator('[data-testid="palette-LRlate"]')
    assert palette.count() == 0
    run_cell_until(page, 3, "REGISTERED=yes")
    palette.wait_for(timeout=30_000)
    page.locator(".pl-lab .pl-compare-choices button", has_text="LRlate").wait_for(timeout=30_000)
    # and it works: assign it from the palette, run
    select_and_assign(page, "LRlate")
    press_run(page)
    assert probe(page)["plan"] == {"state": "LRlate"}
