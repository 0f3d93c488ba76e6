"""Why TP does not carry forward-mode tangents through the program (yet).

TP needs, at every node, the products ``J_t u`` of the node's inputs with
respect to the named parameters along each direction ``u``. Forward-mode AD
would give them for the cost of one extra forward pass: hand the program a
dual parameter (``torch.autograd.forward_ad.make_dual``) and read the tangent
of each node's inputs. It does not pay with this torch: an op between a dual
tensor and a plain one (``beta * s``, ``loc + scale * eps``, ``x * 0.001``)
gives the plain operand a zero tangent (a ZeroTensor), and on the CPU that
path runs through Python reference kernels, ~0.1-0.25 ms per op. The chaotic
RNN's forward pass, with the engine's cut at every node, then costs ~15-20x its
plain time, more than TP's whole batched double-backward path costs today.

This script measures it, so the decision can be revisited when torch changes:
``rollout`` (the RNN forward with a cut at every step, as the engine runs it)
plain and with a dual beta keeping each step's tangent, and one mixed op
alone (``dual * plain`` against ``plain * plain``). Writes
``bench/results/forward_ad.json``. Never asserts on time.

    python bench/forward_ad.py [--iterations 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.autograd.forward_ad as fwAD

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import write_result  # noqa: E402

from proppo_lab.systems import ChaoticRNN  # noqa: E402


def rollout(system: ChaoticRNN, dual: bool) -> None:
    """The RNN forward, cut at every step as the engine's nodes cut it; with
    ``dual``, beta carries tangent 1 and each step's loc tangent is kept."""
    beta = system.params["beta"]
    level = fwAD.enter_dual_level() if dual else None
    try:
        b = fwAD.make_dual(beta, torch.ones_like(beta)) if dual else beta
        s, kept = system.start.expand(system.particles, 2), []
        for _ in range(system.steps):
            loc = torch.sigmoid(b * s @ system.W)
            if dual:
                kept.append(fwAD.unpack_dual(loc).tangent)
            x = loc + system.scale * torch.randn(loc.shape)
            s = (fwAD.unpack_dual(x).primal if dual else x).detach().requires_grad_()
    finally:
        if dual:
            fwAD.exit_dual_level(level=level)


def timed(fn, iterations: int) -> list[float]:
    out = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - start))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "forward_ad.json"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    system = ChaoticRNN(beta=2.4, particles=1000, steps=100)
    s = torch.rand(1000, 2)
    beta = system.params["beta"]

    def mixed_op(dual: bool):
        with fwAD.dual_level():
            b = fwAD.make_dual(beta, torch.ones_like(beta)) if dual else beta
            for _ in range(100):
                b * s

    variants = {
        "rollout_plain": lambda: rollout(system, False),
        "rollout_dual": lambda: rollout(system, True),
        "100_ops_plain": lambda: mixed_op(False),
        "100_ops_dual_times_plain": lambda: mixed_op(True),
    }
    times = {k: [] for k in variants}
    for fn in variants.values():
        fn()  # warm
    for _ in range(args.iterations):  # interleaved: drift in load hits all alike
        for k, fn in variants.items():
            times[k] += timed(fn, 1)
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = {
        "rollout": median["rollout_dual"] / median["rollout_plain"],
        "op": median["100_ops_dual_times_plain"] / median["100_ops_plain"],
    }
    for k, v in median.items():
        print(f"{k:>26} {v:9.2f} ms")
    print(f"dual/plain: rollout {ratios['rollout']:.1f}x, one mixed op {ratios['op']:.1f}x")
    result = {
        "benchmark": "forward-mode tangents through the chaotic RNN (1000 x 100)",
        "ms": median,
        "ratio_dual_vs_plain": ratios,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_result(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
