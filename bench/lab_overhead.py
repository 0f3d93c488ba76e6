"""The Lab's cost per iteration: a live-plotting Lab run against the bare engine loop.

Same program (ChaoticRNN, beta 2.4, 1000 particles, 100 steps), same seeds,
plans {"state": "TP"} and {"state": "RP"}. Three variants, interleaved round
by round (order rotating) so that drift in machine load hits them alike:

* ``bare``: ``for i in range(N): pl.seed(i); pm.estimate(program)``
  - what a script does.
* ``instrumented``: the same loop with everything the Lab's run loop adds
  except the plots: ``pm.watch_grads``, a ``trace.Recorder`` attached, the
  loss meter, ``trace.GradientStats.update`` and the per-iteration row (so the
  overhead can be split into instrumentation and plotting).
* ``lab``: ``lab.run(N, wait=True)`` on a fresh ``pl.Lab`` (default
  ``refresh=0.2`` s: status, progress, the five plotly FigureWidgets and the
  graph's flow overlay are updated about five times a second, on the Lab's
  background thread). Timed from the call to the end of the run, so thread
  start and the final publish are included.

Outside a kernel, widgets have no front end: the Lab still builds and
serialises every widget update, but nothing travels over ZMQ to a browser.

``torch.set_num_threads(1)`` by default: small tensors (1000 x 2) time more
stably on one thread and the bare/Lab ratio is what matters here.
Never asserts on time; target: the Lab adds <= 10 % per iteration.

    python bench/lab_overhead.py [--iterations 40] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# torch.set_num_threads() applies to the calling thread only (OpenMP's thread
# count is per thread), and the Lab runs on its own thread: OMP_NUM_THREADS,
# set before torch is imported, makes every thread use the same count.
_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
os.environ["OMP_NUM_THREADS"] = _threads

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import proppo_lab as pl  # noqa: E402

OUT = ROOT / "bench" / "results" / "lab_overhead.json"
TARGET = 1.10


def system():
    return pl.systems.ChaoticRNN(beta=2.4, particles=1000, steps=100)


def bare(program, plan, n):
    pm = pl.PropagationManager(plan=plan, sites=program.sites)
    t0 = time.perf_counter()
    for i in range(n):
        pl.seed(i)  # as the Lab seeds each iteration
        pm.estimate(program)
    return (time.perf_counter() - t0) / n


def instrumented(program, plan, n):
    """The Lab's run session recording messages at every iteration, without plots
    (the Lab itself records only the iterations whose picture it shows)."""
    lab = pl.Lab(program, plan=plan, iterations=n)  # built outside the timed region
    session = lab._session("current", lab.plan, lab.default)
    session.record(True)
    rows = []
    t0 = time.perf_counter()
    for i in range(n):
        pl.seed(i)  # as the Lab seeds each iteration
        grads = session.pm.estimate(program)
        session.stats.update(grads)
        rows.append(
            {"label": "current", "iteration": i, "grads": grads, "loss": session.meter.take()}
        )
    elapsed = time.perf_counter() - t0
    session.close()
    return elapsed / n


def lab(program, plan, n):
    lab = pl.Lab(program, plan=plan, iterations=n)  # built outside the timed region
    t0 = time.perf_counter()
    lab.run(n, wait=True)
    elapsed = time.perf_counter() - t0
    assert lab.plots.points(lab.plots.variance) == n, "the Lab did not plot every iteration"
    return elapsed / n, lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=40, help="iterations per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    program = system()
    variants = {
        "bare": bare,
        "instrumented": instrumented,
        "lab": lambda p, plan, n: lab(p, plan, n)[0],
    }
    results = {}
    for name in ("TP", "RP"):
        plan = {"state": name}
        for fn in variants.values():  # warm-up: allocator, caches, lazy imports
            fn(program, plan, 3)
        times = {v: [] for v in variants}
        order = list(variants)
        for r in range(args.rounds):
            for v in order[r % len(order) :] + order[: r % len(order)]:
                times[v].append(variants[v](program, plan, args.iterations) * 1000)
        med = {v: statistics.median(t) for v, t in times.items()}
        results[name] = {
            "ms_per_iteration_median": med,
            "ms_per_iteration_all": times,
            "ratio_lab_vs_bare": med["lab"] / med["bare"],
            "ratio_instrumented_vs_bare": med["instrumented"] / med["bare"],
            "meets_target": med["lab"] / med["bare"] <= TARGET,
        }
        print(
            f"{name}: bare {med['bare']:.2f} ms/it, instrumented {med['instrumented']:.2f} "
            f"ms/it ({med['instrumented'] / med['bare']:.3f}x), lab {med['lab']:.2f} ms/it "
            f"({med['lab'] / med['bare']:.3f}x; target <= {TARGET:.2f}x)",
            flush=True,
        )
    out = {
        "benchmark": "Lab run with live plots vs the bare engine loop (ChaoticRNN)",
        "config": {
            "particles": 1000,
            "steps": 100,
            "beta": 2.4,
            "iterations_per_run": args.iterations,
            "rounds": args.rounds,
            "interleaved": True,
            "statistic": "median",
            "torch_num_threads": args.threads,
            "torch_num_threads_note": f"torch.set_num_threads({args.threads}) and "
            f"OMP_NUM_THREADS={args.threads} (the Lab's run thread does not inherit "
            "set_num_threads) for stable small-tensor timings",
            "lab_refresh_s": 0.2,
            "front_end": "none (no kernel): widget updates are built and serialised, not sent",
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
        },
        "target_ratio": TARGET,
        "results": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
