"""Click-to-kernel latency in the Lab while a long run is in progress.

JupyterLab + the proppo-lab extension in headless Chromium (Python
Playwright). A notebook builds ``pl.Lab(ChaoticRNN(beta=2.4), plan={"state":
"TP"})`` (1000 particles, 100 steps: the default system) and registers a
kernel-side observer on ``lab.graph.selected`` that stores ``time.time()``
and the new value. The page records ``Date.now()`` in a capture-phase click
listener (before the view's own handler sends the 'select' message). Clicks
alternate between the ``state`` and ``beta`` nodes so each one changes the
selection. Latency = kernel stamp - page stamp (same machine, same wall clock):
the view's handler, the comm message over the websocket and ZMQ, the kernel
picking it up while the Lab's background thread runs, validation, and the
trait change. Measured twice: during a long run (pressed with the Run button)
and with the kernel idle, as reference.

Never asserts on time. Target: median < 200 ms during a run.

    python bench/click_latency.py [--clicks 10] [--gap 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
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

OUT = ROOT / "bench" / "results" / "click_latency.json"
TARGET_MS = 200.0

NB_BUILD = """import json, time
import torch
import proppo_lab as pl

lab = pl.Lab(pl.systems.ChaoticRNN(beta=2.4, particles=1000, steps=100),
             plan={"state": "TP"}, iterations=1_000_000)
stamps = []
lab.graph.observe(lambda ch: stamps.append([time.time() * 1000, ch["new"]]), "selected")
lab"""
NB_READ = """print("STAMPS=" + json.dumps(stamps)); stamps.clear()
print("RUNNING=%s ITER=%d THREADS=%d" % (lab.running, len(lab.rows), torch.get_num_threads()))"""

CLICK_STAMPER = """() => {
    window.__plClicks = [];
    document.addEventListener('click', ev => {
        const g = ev.target && ev.target.closest && ev.target.closest('g.pl-node');
        if (g) window.__plClicks.push([Date.now(), g.getAttribute('data-node-id')]);
    }, true);
}"""


def node(page, node_id):
    return page.locator(f'[data-testid="graph-node"][data-node-id="{node_id}"]')


def read_kernel(page):
    out = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    page.evaluate(
        "() => document.querySelectorAll('.jp-Notebook .jp-Cell')[1]"
        ".querySelectorAll('.jp-OutputArea-output').forEach(o => o.remove())"
    )
    run_notebook_cell(page, 1)
    out.filter(has_text="RUNNING=").first.wait_for(timeout=60_000)
    text = "\n".join(out.all_inner_texts())
    stamps = json.loads(text.split("STAMPS=", 1)[1].splitlines()[0])
    info = dict(p.split("=", 1) for p in ("RUNNING=" + text.split("RUNNING=", 1)[1]).split())
    return stamps, info


def click_series(page, clicks: int, gap_s: float) -> tuple[list[float], dict]:
    """Click alternately state/beta; return the latencies (ms) matched by order and id."""
    page.evaluate("() => { window.__plClicks = []; }")
    targets = ["param:beta", "site:state"]
    for i in range(clicks):
        node(page, targets[i % 2]).click()
        page.wait_for_timeout(gap_s * 1000)
    clicked = page.evaluate("() => window.__plClicks")
    stamps, info = read_kernel(page)
    by_order = []
    j = 0
    for t_click, nid in clicked:
        while j < len(stamps) and stamps[j][1] != nid:
            j += 1
        if j < len(stamps):
            by_order.append(stamps[j][0] - t_click)
            j += 1
    return by_order, info


def summary(lat: list[float]) -> dict:
    return {
        "n": len(lat),
        "median_ms": statistics.median(lat) if lat else None,
        "min_ms": min(lat) if lat else None,
        "max_ms": max(lat) if lat else None,
        "samples_ms": [round(x, 1) for x in lat],
        "meets_target": bool(lat) and statistics.median(lat) < TARGET_MS,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--gap", type=float, default=0.5, help="seconds between clicks")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    base, root = scratch_notebook("pl-click-", "click.ipynb", NB_BUILD, NB_READ)
    result = {
        "benchmark": "graph-node click -> kernel 'selected' change, Lab run in progress",
        "target_ms": TARGET_MS,
        "config": {
            "program": "ChaoticRNN(beta=2.4, particles=1000, steps=100)",
            "plan": {"state": "TP"},
            "clicks": args.clicks,
            "gap_s": args.gap,
            "statistic": "median",
            "clock": "page Date.now() at the click (capture phase) vs kernel "
            "time.time() in a traitlets observer; same machine",
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "chromium": CHROMIUM,
        },
    }
    try:
        with jupyter_lab_server(root, base) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            result["machine"]["chromium_version"] = browser.version
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(60_000)
            open_notebook_page(page, server, "click.ipynb")
            run_notebook_cell(page, 0)
            node(page, "site:state").wait_for(timeout=120_000)
            page.evaluate(CLICK_STAMPER)

            # Idle reference first (nothing running).
            idle, info = click_series(page, args.clicks, args.gap)
            result["idle"] = summary(idle)
            print(f"idle:   median {result['idle']['median_ms']:.1f} ms over {len(idle)} clicks")

            # During a long run started with the Run button.
            page.locator(".pl-lab .pl-run").click()
            page.wait_for_function("() => !document.querySelector('.pl-lab .pl-stop').disabled")
            page.wait_for_timeout(1500)
            running, info = click_series(page, args.clicks, args.gap)
            result["during_run"] = summary(running)
            result["during_run"]["kernel_info"] = info
            print(
                f"during run: median {result['during_run']['median_ms']:.1f} ms over "
                f"{len(running)} clicks (target < {TARGET_MS:.0f} ms); run still going: "
                f"{info.get('RUNNING')}, iterations done {info.get('ITER')}"
            )
            page.locator(".pl-lab .pl-stop").click()
            page.wait_for_function(
                "() => !document.querySelector('.pl-lab .pl-run').disabled", timeout=30_000
            )
            browser.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
