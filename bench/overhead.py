"""Engine overhead: ms per iteration of RP, LR and TP through the engine against
plain-autograd reparameterised backprop of the same chaotic RNN.

Two plain baselines: ``plain`` is hand-fused (sigmoid(...) + noise * eps,
ChaoticRNN.plain), ``plain_dist`` is the same program as a PyTorch user writes
it with torch.distributions (Normal(...).rsample()), as the engine's program
does. The first ratio includes the cost of torch's distribution objects, the
second is the engine's own bookkeeping.

All variants run in one process on the same system (1000 particles, 100 steps,
beta 2.4 by default), interleaved round by round (order rotating) so that drift
in machine load hits them alike; each time is forward + backward with gradients
zeroed first, and the plain baseline draws its noise inside the timed region as
the engine does. Reports the median over the measured rounds after warm-up and
the ratio to plain. Never asserts on time: targets are printed next to the ratios.

Also the peak memory one iteration allocates, per variant (outside the timed
rounds): on a GPU ``torch.cuda.max_memory_allocated``; on the CPU the
profiler's allocation events summed in time order (torch's CPU allocator is
invisible to ``tracemalloc``). Target: TP within 1.5x of plain.

    python bench/overhead.py [--iterations 50] [--warmup 5] [--threads N] [--device cpu]
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import proppo_lab as pl  # noqa: E402
from proppo_lab.systems import ChaoticRNN  # noqa: E402

TARGETS = {"RP": 1.10, "LR": 1.3, "TP": 1.5}
MEMORY_TARGETS = {"TP": 1.5}


def make_variants(system: ChaoticRNN, device: torch.device):
    beta = system.params["beta"]
    shape = (system.steps, system.particles, 2)

    def plain():
        beta.grad = None
        noise = torch.randn(shape, device=device, dtype=beta.dtype)
        system.plain(noise).backward()

    def plain_dist():
        beta.grad = None
        s = system.start.expand(system.particles, 2)
        for _ in range(system.steps):
            s = torch.distributions.Normal(
                torch.sigmoid(beta * s @ system.W), system.scale, validate_args=False
            ).rsample()
        (0.5 * ((1 - s) ** 2).sum(-1)).mean().backward()

    variants = {"plain": plain, "plain_dist": plain_dist}
    plans = {
        "RP": "RP",
        "LR": "LR",
        "TP": "TP",
        # TP recomputing its weights every 10th step (the option trading accuracy of
        # the weights for speed)
        "TP_every10": {"propagator": "TP", "options": {"every": 10}},
    }
    for name, spec in plans.items():
        pm = pl.PropagationManager({"state": spec}, sites=system.sites)

        def run(pm=pm):
            beta.grad = None
            system(pm)
            pm.backward()

        variants[name] = run
    return variants


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(variants, iterations: int, warmup: int, device) -> dict[str, list[float]]:
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    sync(device)
    times = {name: [] for name in names}
    for i in range(iterations):
        order = names[i % len(names) :] + names[: i % len(names)]  # rotate: no fixed position
        for name in order:
            sync(device)
            start = time.perf_counter()
            variants[name]()
            sync(device)
            times[name].append(1000 * (time.perf_counter() - start))
    return times


def peak_memory_mib(fn, device) -> float:
    """Peak memory allocated while ``fn`` runs once, above what was held before (MiB)."""
    fn()  # warm: caches and lazily built state do not count
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    held = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        held += e.nbytes()  # negative for a release
        peak = max(peak, held)
    return peak / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=50, help="measured rounds (>= 50)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: leave torch's choice)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--particles", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--beta", type=float, default=2.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "overhead.json"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    system = ChaoticRNN(beta=args.beta, particles=args.particles, steps=args.steps, device=device)
    variants = make_variants(system, device)
    times = measure(variants, args.iterations, args.warmup, device)
    memory = {k: peak_memory_mib(fn, device) for k, fn in variants.items()}
    memory_ratios = {k: memory[k] / memory["plain"] for k in memory if k != "plain"}

    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = {k: median[k] / median["plain"] for k in median if k != "plain"}
    ratios_dist = {
        k: median[k] / median["plain_dist"] for k in median if k not in ("plain", "plain_dist")
    }
    print(
        f"chaotic RNN, {args.particles} particles, {args.steps} steps, beta {args.beta}, "
        f"{device}, {torch.get_num_threads()} threads; median of {args.iterations} "
        f"interleaved rounds after {args.warmup} warm-up\n"
    )
    print(
        f"{'variant':>10} {'ms/iter':>9} {'p10':>8} {'p90':>8} {'vs plain':>9} "
        f"{'vs dist':>8} {'target':>8} {'peak MiB':>9} {'vs plain':>9}"
    )
    for k, v in times.items():
        q = statistics.quantiles(v, n=10)
        ratio = f"{ratios[k]:.2f}x" if k in ratios else "1.00x"
        vs_dist = f"{ratios_dist[k]:.2f}x" if k in ratios_dist else ""
        target = f"<={TARGETS[k]:.2f}x" if k in TARGETS else ""
        flag = "" if k not in TARGETS or ratios[k] <= TARGETS[k] else "  (above target)"
        mem_ratio = f"{memory_ratios[k]:.2f}x" if k in memory_ratios else "1.00x"
        print(
            f"{k:>10} {median[k]:9.2f} {q[0]:8.2f} {q[-1]:8.2f} {ratio:>9} {vs_dist:>8} "
            f"{target:>8} {memory[k]:9.2f} {mem_ratio:>9}{flag}"
        )

    result = {
        "benchmark": "engine overhead vs plain autograd (ChaoticRNN)",
        "config": {
            "particles": args.particles,
            "steps": args.steps,
            "beta": args.beta,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "interleaved": True,
            "statistic": "median",
        },
        "ms_per_iteration": median,
        "ratio_vs_plain": ratios,
        "ratio_vs_plain_distributions": ratios_dist,
        "targets": TARGETS,
        "meets_target": {k: ratios[k] <= TARGETS[k] for k in TARGETS},
        "peak_memory_mib": memory,
        "memory_ratio_vs_plain": memory_ratios,
        "memory_targets": MEMORY_TARGETS,
        "meets_memory_target": {k: memory_ratios[k] <= MEMORY_TARGETS[k] for k in MEMORY_TARGETS},
        "p10_p90_ms": {
            k: [statistics.quantiles(v, n=10)[0], statistics.quantiles(v, n=10)[-1]]
            for k, v in times.items()
        },
        "machine": machine(device),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_result(Path(args.out), result)
    return 0


def machine(device: torch.device) -> dict:
    """Where a benchmark ran, for its JSON (figures only compare on one machine)."""
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or platform.machine()
        ),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_result(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    sys.exit(main())
