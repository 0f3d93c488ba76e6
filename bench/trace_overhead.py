"""Cost of tracing: message recording on vs off, and graph capture time.

Iteration time of ``pm.estimate`` on the chaotic RNN (1000 particles, 100
steps) under TP and RP plans, with a :class:`Recorder` (and optionally a
:class:`ForwardCheck`) attached vs nothing attached. The configurations are
interleaved iteration by iteration in a shuffled order (so drift of the machine
and after-effects of the previous configuration hit all alike)
and the median is reported. Also: the time to capture a graph of 1000 node
instances. Writes bench/results/trace_overhead.json. Prints; never asserts
(the target is <= 10 % overhead).

    python bench/trace_overhead.py [--iterations 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time

import torch

import proppo_lab as pl
from proppo_lab.systems import ChaoticRNN
from proppo_lab.trace import ForwardCheck, Recorder, capture

HERE = os.path.dirname(os.path.abspath(__file__))


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "trace_overhead.json"))
    args = ap.parse_args(argv)
    dev = args.device
    rnn = ChaoticRNN(beta=2.4, particles=args.particles, steps=args.steps, device=dev)
    graph = capture(rnn)

    configs = {}
    for plan in ("TP", "RP"):
        for mode in ("off", "recorder", "recorder+check"):
            pm = pl.PropagationManager(default=plan, sites=rnn.sites)
            if mode != "off":
                Recorder(graph).attach(pm)
            if mode == "recorder+check":
                ForwardCheck(pm)
            configs[(plan, mode)] = pm
    times = {k: [] for k in configs}
    for pm in configs.values():  # warm-up
        pm.estimate(rnn)
    order = list(configs)
    rng = random.Random(0)
    for i in range(args.iterations):
        rng.shuffle(order)  # no configuration always follows the same one
        for key in order:
            pm = configs[key]
            torch.manual_seed(i)
            sync(dev)
            t0 = time.perf_counter()
            pm.estimate(rnn)
            sync(dev)
            times[key].append(time.perf_counter() - t0)

    results = {}
    for plan in ("TP", "RP"):
        off = statistics.median(times[(plan, "off")])
        row = {"off_ms": 1000 * off}
        for mode in ("recorder", "recorder+check"):
            on = statistics.median(times[(plan, mode)])
            row[f"{mode}_ms"] = 1000 * on
            row[f"{mode}_overhead_pct"] = 100 * (on / off - 1)
        results[plan] = row
        print(
            f"{plan}: off {row['off_ms']:.1f} ms | recorder {row['recorder_ms']:.1f} ms "
            f"({row['recorder_overhead_pct']:+.1f} %) | recorder+check "
            f"{row['recorder+check_ms']:.1f} ms ({row['recorder+check_overhead_pct']:+.1f} %)"
        )

    # graph capture: 999 steps + the loss = 1000 node instances
    big = ChaoticRNN(beta=2.4, particles=args.particles, steps=999, device=dev)
    cap = {}
    for ops in (False, True):
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            g = capture(big, ops=ops)
            ts.append(time.perf_counter() - t0)
        cap["with_ops" if ops else "without_ops"] = 1000 * statistics.median(ts)
    assert len(g.instances) == 1000
    t0 = time.perf_counter()
    g.to_json(view="unrolled")
    cap["to_json_unrolled_ms"] = 1000 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    g.to_dot(view="unrolled")
    cap["to_dot_unrolled_ms"] = 1000 * (time.perf_counter() - t0)
    print(
        f"capture of 1000 node instances: {cap['without_ops']:.0f} ms "
        f"({cap['with_ops']:.0f} ms with op names); unrolled to_json "
        f"{cap['to_json_unrolled_ms']:.0f} ms, to_dot {cap['to_dot_unrolled_ms']:.0f} ms"
    )

    out = {
        "device": dev,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "particles": args.particles,
        "steps": args.steps,
        "iterations": args.iterations,
        "statistic": "median, interleaved, shuffled order",
        "load_average": os.getloadavg(),
        "target_overhead_pct": 10.0,
        "iteration_time": results,
        "capture_1000_instances_ms": cap,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
