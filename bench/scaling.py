"""How cost grows: ms per iteration of plain autograd, RP, LR and TP on the
chaotic RNN over particles x steps, and whether growth is linear.

For each (particles, steps) cell the variants run interleaved (as in
``overhead.py``) and the median is kept. Cells whose particles x steps exceed
``--max-work`` are skipped (and listed as skipped in the JSON), so the grid
fits in a few minutes on two cores. The check: the slope of log(ms) against
log(particles x steps) over the cells, per variant, must not exceed 1 (plus
a tolerance): no super-linear term. At small sizes a fixed per-step cost
dominates, so slopes below 1 are expected there.

Writes ``bench/results/scaling.json`` (``scaling-cuda.json`` on a GPU) and a
log-log plotly figure under ``docs/`` (PNG via kaleido or Chromium, else HTML).
Never asserts on time.

    python bench/scaling.py [--device cpu] [--threads 1] [--max-work 1e6]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from overhead import machine, make_variants, measure, write_result  # noqa: E402

from proppo_lab.core import registry  # noqa: E402
from proppo_lab.systems import ChaoticRNN  # noqa: E402

VARIANTS = ("plain", "RP", "LR", "TP")
PARTICLES = (100, 1000, 10_000, 100_000)
STEPS = (10, 100, 1000)
SLOPE_TOLERANCE = 0.1


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x)."""
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None


def figure(cells: list[dict], path: Path) -> Path:
    import plotly.graph_objects as go

    fig = go.Figure()
    colours = {"plain": "#7f7f7f", **{n: registry.get(n).colour for n in VARIANTS[1:]}}
    symbols = {10: "circle", 100: "square", 1000: "diamond"}
    for name in VARIANTS:
        for steps in STEPS:
            row = sorted((c for c in cells if c["steps"] == steps), key=lambda c: c["particles"])
            if not row:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[c["particles"] * steps for c in row],
                    y=[c["ms"][name] for c in row],
                    mode="lines+markers",
                    name=f"{name}, {steps} steps",
                    line={"color": colours[name]},
                    marker={"symbol": symbols.get(steps, "circle"), "size": 8},
                )
            )
    fig.update_layout(
        title="Chaotic RNN: ms per iteration against particles x steps",
        xaxis={"type": "log", "title": "particles x steps"},
        yaxis={"type": "log", "title": "ms per iteration (median)"},
        template="plotly_white",
        width=900,
        height=560,
    )
    return export(fig, path)


def export(fig, path: Path) -> Path:
    """A PNG for the README: kaleido when installed, else the Chromium the browser
    tests use, screenshotting a self-contained page; else the page itself."""
    try:
        import kaleido  # noqa: F401

        out = path.with_suffix(".png")
        fig.write_image(str(out))
        return out
    except ImportError:
        pass
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        out = path.with_suffix(".png")
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "figure.html"
            fig.write_html(str(page), include_plotlyjs=True, config={"staticPlot": True})
            width, height = fig.layout.width, fig.layout.height
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--window-size={width + 20},{height + 20}",
                    f"--screenshot={out}",
                    "--virtual-time-budget=5000",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        return out
    out = path.with_suffix(".html")
    fig.write_html(str(out), include_plotlyjs="cdn")  # plotly.js is 3.5 MB: not in the repo
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=5, help="measured rounds per cell")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--max-work", type=float, default=1e6, help="skip particles x steps above")
    parser.add_argument("--out", default=None)
    parser.add_argument("--figure", default=str(HERE.parent / "docs" / "scaling"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    suffix = "-cuda" if device.type == "cuda" else ""
    out = Path(args.out or HERE / "results" / f"scaling{suffix}.json")

    cells, skipped = [], []
    print(f"{'particles':>9} {'steps':>6} " + " ".join(f"{v:>9}" for v in VARIANTS) + "  (ms)")
    for steps in STEPS:
        for particles in PARTICLES:
            if particles * steps > args.max_work:
                skipped.append({"particles": particles, "steps": steps})
                continue
            torch.manual_seed(0)
            system = ChaoticRNN(particles=particles, steps=steps, device=device)
            variants = {k: v for k, v in make_variants(system, device).items() if k in VARIANTS}
            times = measure(variants, args.iterations, args.warmup, device)
            ms = {k: statistics.median(v) for k, v in times.items()}
            cells.append({"particles": particles, "steps": steps, "ms": ms})
            print(f"{particles:>9} {steps:>6} " + " ".join(f"{ms[v]:9.2f}" for v in VARIANTS))

    slopes = {
        name: {
            "in_work": slope([(c["particles"] * c["steps"], c["ms"][name]) for c in cells]),
            "in_particles_at_100_steps": slope(
                [(c["particles"], c["ms"][name]) for c in cells if c["steps"] == STEPS[1]]
            ),
            "in_steps_at_1000_particles": slope(
                [(c["steps"], c["ms"][name]) for c in cells if c["particles"] == 1000]
            ),
        }
        for name in VARIANTS
    }
    linear = {
        name: all(s is None or s <= 1 + SLOPE_TOLERANCE for s in fits.values())
        for name, fits in slopes.items()
    }
    print("\nlog-log slopes (<= 1 + tolerance: no super-linear growth)")
    for name, fits in slopes.items():
        text = ", ".join(f"{k} {v:.2f}" for k, v in fits.items() if v is not None)
        print(f"{name:>6}: {text}  {'linear' if linear[name] else 'SUPER-LINEAR'}")
    if skipped:
        print("skipped (particles x steps > --max-work):", skipped)

    figure_path = figure(cells, Path(args.figure + suffix))
    result = {
        "benchmark": "cost growth with particles x steps (ChaoticRNN)",
        "config": {
            "iterations": args.iterations,
            "warmup": args.warmup,
            "max_work": args.max_work,
            "statistic": "median",
            "interleaved": True,
        },
        "cells": cells,
        "skipped": skipped,
        "slopes": slopes,
        "slope_tolerance": SLOPE_TOLERANCE,
        "linear": linear,
        "figure": os.path.relpath(figure_path, HERE.parent),
        "machine": machine(device),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_result(out, result)
    print(f"and {figure_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
