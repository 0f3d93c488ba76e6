"""Memory against time: backprop vs Checkpoint on a 1000-step recurrent program, and
backprop vs BackRazor at 90 % sparsity on an MLP.

The recurrent program is h_{t+1} = tanh(W2 tanh(W1 h_t) + x_t) with a wide inner
layer (the "internal state" that Gruslys et al. trade for recomputation), one
function node per step and a cost on the last state. Two memory figures per
variant, both the peak of one iteration above what was held before it:

* ``alloc_mib``: every allocation torch made (the CUDA allocator's peak on a GPU,
  the profiler's allocation events summed in time order on the CPU;
  ``bench/overhead.py``'s ``peak_memory_mib``), which counts the states a run holds;
* ``saved_mib``: what autograd held for backward (``trace.PeakMemory``).

Times are medians over interleaved rounds (order rotating, so that load drift
hits all variants alike), forward + backward. Never asserts: targets (Checkpoint
at least 80 % less memory at most 1.5x the time) are printed beside the ratios.

    python bench/memory.py [--steps 1000] [--rounds 7] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import proppo_lab as pl  # noqa: E402
from bench.overhead import machine, peak_memory_mib, sync, write_result  # noqa: E402
from proppo_lab.trace import PeakMemory  # noqa: E402

TARGETS = {"memory_saving": 0.80, "time_ratio": 1.5}


def _cell_step(cell, h, x):
    return torch.tanh(cell(h) + x)


def recurrent(steps: int, batch: int, width: int, inner: int, device):
    torch.manual_seed(0)
    cell = nn.Sequential(nn.Linear(width, inner), nn.Tanh(), nn.Linear(inner, width)).to(device)
    h0 = torch.randn(batch, width, device=device, requires_grad=True)
    xs = torch.randn(steps, batch, width, device=device)
    step = functools.partial(_cell_step, cell)

    def program(pm):
        pm.param("h0", h0)
        pm.param("cell", cell)
        h = h0
        for t in range(steps):
            h = pm.forward("cell", step, h, xs[t])
        pm.loss("end", (h**2).sum(-1))

    return program


def mlp(batch: int, width: int, device):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(width, width),
        *[nn.Sequential(nn.ReLU(), nn.Linear(width, width)) for _ in range(3)],
    ).to(device)
    x = torch.randn(batch, width, device=device)
    target = torch.randn(batch, width, device=device)

    def program(pm):
        pm.param("net", net)
        h = x
        for i, layer in enumerate(net):
            h = pm.forward(f"layer{i}", layer, h)
        pm.loss("mse", ((h - target) ** 2).mean(-1))

    return program, [f"layer{i}" for i in range(len(net))]


def runner(program, plan):
    pm = pl.PropagationManager(plan=plan)
    pm.estimate(program)  # a first iteration: the budget's placement learns the run length
    return lambda: pm.estimate(program)


def measure(variants: dict, rounds: int, device) -> dict[str, float]:
    """Median ms per iteration, interleaved rounds with rotating order."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for name in names:
        variants[name]()  # warm
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sync(device)
            start = time.perf_counter()
            variants[name]()
            sync(device)
            times[name].append((time.perf_counter() - start) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def memory(fn, device) -> dict[str, float]:
    meter = PeakMemory()
    with meter.measure(device):
        fn()
    return {"alloc_mib": peak_memory_mib(fn, device), "saved_mib": meter.latest["saved"] / 2**20}


def compare(variants: dict, baseline: str, rounds: int, device) -> dict:
    ms = measure(variants, rounds, device)
    mem = {k: memory(fn, device) for k, fn in variants.items()}
    out = {}
    for name in variants:
        out[name] = {"ms_per_iteration": ms[name], **mem[name]}
        if name != baseline:
            out[name]["time_ratio"] = ms[name] / ms[baseline]
            for key in ("alloc_mib", "saved_mib"):
                out[name][key.replace("_mib", "_saving")] = 1 - mem[name][key] / mem[baseline][key]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--inner", type=int, default=512)
    parser.add_argument("--mlp-batch", type=int, default=4096)
    parser.add_argument("--mlp-width", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results/memory.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    program = recurrent(args.steps, args.batch, args.width, args.inner, device)
    sqrt = max(1, round(args.steps**0.5))

    def checkpoint(**options):
        return runner(program, {"cell": {"propagator": "Checkpoint", "options": options}})

    rnn = compare(
        {
            "backprop": runner(program, {}),
            "checkpoint": checkpoint(),
            f"checkpoint_every{sqrt}": checkpoint(every=sqrt),
            f"checkpoint_budget{sqrt}": checkpoint(budget=sqrt),
        },
        "backprop",
        args.rounds,
        device,
    )
    net, sites = mlp(args.mlp_batch, args.mlp_width, device)
    razor = {s: {"propagator": "BackRazor", "options": {"sparsity": 0.9}} for s in sites}
    mlp_result = compare(
        {"backprop": runner(net, {}), "backrazor90": runner(net, razor)},
        "backprop",
        args.rounds,
        device,
    )
    result = {
        "benchmark": "memory vs time: Checkpoint (recurrent), BackRazor (MLP)",
        "config": vars(args) | {"out": str(args.out)},
        "targets": TARGETS,
        "recurrent": rnn,
        "mlp": mlp_result,
        "machine": machine(device),
    }
    for title, rows in (("recurrent", rnn), ("mlp", mlp_result)):
        print(f"\n{title}")
        for name, row in rows.items():
            extra = ""
            if "time_ratio" in row:
                extra = (
                    f" time x{row['time_ratio']:.2f}, alloc -{100 * row['alloc_saving']:.0f} %, "
                    f"saved -{100 * row['saved_saving']:.0f} %"
                )
            print(
                f"  {name:24s} {row['ms_per_iteration']:8.1f} ms  alloc "
                f"{row['alloc_mib']:7.1f} MiB  saved {row['saved_mib']:7.1f} MiB{extra}"
            )
    print(
        f"targets: at least {TARGETS['memory_saving']:.0%} less memory at most "
        f"{TARGETS['time_ratio']}x the time"
    )
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
