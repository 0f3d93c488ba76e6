"""Take the README's picture of the Lab (docs/lab.png) in JupyterLab with headless Chromium.

The chaotic RNN of tutorial 2 (100 steps, TP at ``state``) after a run, in the
unrolled view with the nodes coloured by the gradient-message norm, the
pointer on ``state[97]`` (its tooltip open). 1600x1000 pixels, JupyterLab's
sidebar collapsed. Needs what the browser tests need (Chromium, Playwright):

    python docs/screenshot.py [--out docs/lab.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    jupyter_lab_server,
    open_notebook_page,
    run_notebook_cell,
    scratch_notebook,
)

SETUP = """\
import proppo_lab as pl
lab = pl.Lab(pl.systems.ChaoticRNN(beta=2.8, particles=500), plan={"state": "TP"},
             iterations=30, view="unrolled")
lab.overlay = "grad norm"
lab"""
RUN = 'lab.run(wait=True)\nprint("DONE")'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "lab.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    base, root = scratch_notebook("pl-shot-", "lab.ipynb", SETUP, RUN)
    try:
        with jupyter_lab_server(root, base) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(120_000)
            open_notebook_page(page, server, "lab.ipynb")
            run_notebook_cell(page, 0)
            page.locator('[data-testid="graph-svg"][data-drawing="strip"]').wait_for()
            run_notebook_cell(page, 1)
            page.get_by_text("DONE", exact=True).wait_for()
            page.locator('[data-site="state"][data-overlay-value]').first.wait_for()
            page.keyboard.press("Escape")
            page.keyboard.press("Control+b")  # collapse the file browser
            page.wait_for_timeout(500)
            page.evaluate("document.querySelector('.pl-lab').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(500)
            page.locator('[data-node-id="site:state#97"]').hover()
            page.locator('[data-testid="flow-tooltip"]', has_text="state[97]").wait_for()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(args.out)


if __name__ == "__main__":
    main()
