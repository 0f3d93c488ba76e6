"""Scale-out: one estimate's particles over 1 and 2 processes, and a sweep's cells over 2 workers.

Part 1, sharded particles: the chaotic RNN (``--steps`` steps, beta 2.4) under
RP, LR and TP with 10^5 to 10^6 particles, ms per estimate (median over
``--iterations`` after one warm-up) on one process with a plain
PropagationManager and on two processes with a ShardedManager over gloo,
every process with one torch thread. The two-process run holds half of the
particles per rank; its time is the slowest rank's (ranks meet at a barrier
before each estimate). ``speedup`` is 1-process time / 2-process time.

Part 2, a 40-cell sweep (20 betas x RP/LR; 20 estimates of 500 particles x
50 steps each) serially in this process and on a 2-worker process pool.
``speedup`` is serial / pool, the workers' start-up included (a user waits
for it too); ``speedup once started`` leaves it out.

On a 2-core machine two processes can at most halve the time; a busy machine
shows less. Never asserts on time.

    python bench/scale_out.py [--particles 100000 300000 1000000] [--steps 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from overhead import machine, write_result  # noqa: E402

import proppo_lab as pl  # noqa: E402
from proppo_lab import trace  # noqa: E402
from proppo_lab.systems import ChaoticRNN  # noqa: E402

PLANS = ("RP", "LR", "TP")


def time_estimates(make_manager, plan: str, particles: int, steps: int, iterations: int, sync):
    """ms per estimate (median), one warm-up first; ``sync()`` before each (a barrier)."""
    system = ChaoticRNN(beta=2.4, particles=particles, steps=steps)
    pm = make_manager(plan)
    times = []
    for i in range(iterations + 1):
        pl.seed(i)
        sync()
        start = time.perf_counter()
        pm.estimate(system)
        sync()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[1:])


def one_process(particles: list[int], steps: int, iterations: int) -> dict:
    out = {}
    for plan in PLANS:
        for n in particles:
            out[f"{plan}/{n}"] = time_estimates(
                lambda p: pl.PropagationManager(default=p), plan, n, steps, iterations, lambda: None
            )
            print(f"  1 process   {plan} {n:>8} particles: {out[f'{plan}/{n}']:9.1f} ms")
    return out


def rank_main(rank: int, world: int, port: int, particles, steps, iterations, out) -> None:
    """One rank of the sharded run (this script started again with --rank)."""
    import json

    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    result = {}
    for plan in PLANS:
        for n in particles:
            result[f"{plan}/{n}"] = time_estimates(
                lambda p: pl.ShardedManager(default=p),
                plan,
                n // world,
                steps,
                iterations,
                dist.barrier,
            )
    dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(json.dumps(result))


def sharded(world: int, particles: list[int], steps: int, iterations: int) -> dict:
    import json

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        args = ["--steps", str(steps), "--iterations", str(iterations), "--particles"]
        args += [str(n) for n in particles]
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--rank", str(r), "--world", str(world)]
                + ["--port", str(port), "--rank-out", str(out), *args]
            )
            for r in range(world)
        ]
        if any(p.wait() for p in procs):
            raise RuntimeError("a rank failed")
        result = json.loads(out.read_text())
    for key, ms in result.items():
        print(f"  {world} processes {key.replace('/', ' '):>14} particles: {ms:9.1f} ms")
    return result


def sweep_cells(workers: int | None) -> tuple[float, float]:
    """Seconds for the 40-cell sweep, serially (None) or on ``workers`` processes, and
    of those the seconds the workers took to start (0 serially)."""
    betas = [1.0 + 0.1 * k for k in range(20)]
    kwargs = dict(
        over={"beta": betas},
        plans={"RP": "RP", "LR": "LR"},
        iterations=20,
        progress=False,
    )
    factory = _small_rnn
    start = time.perf_counter()
    if workers is None:
        trace.sweep(factory, **kwargs)
        return time.perf_counter() - start, 0.0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        list(pool.map(_small_rnn, [1.0] * workers))  # every worker started, torch imported
        started = time.perf_counter() - start
        trace.sweep(factory, executor=pool, **kwargs)
    return time.perf_counter() - start, started


def _small_rnn(beta: float) -> ChaoticRNN:
    torch.set_num_threads(1)
    return ChaoticRNN(beta=beta, particles=500, steps=50)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--particles", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rank-out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "results" / "scale_out.json"))
    args = parser.parse_args(argv)
    if args.rank is not None:
        rank_main(
            args.rank,
            args.world,
            args.port,
            args.particles,
            args.steps,
            args.iterations,
            args.rank_out,
        )
        return 0
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # for the processes started below
    print(f"chaotic RNN, {args.steps} steps, beta 2.4, 1 thread per process")
    single = one_process(args.particles, args.steps, args.iterations)
    double = sharded(2, args.particles, args.steps, args.iterations)
    particles = {
        key: {
            "1 process ms": single[key],
            "2 processes ms": double[key],
            "speedup": single[key] / double[key],
        }
        for key in single
    }
    (serial, _), (pooled, started) = sweep_cells(None), sweep_cells(2)
    print(
        f"  40-cell sweep: serial {serial:.1f} s, 2 workers {pooled:.1f} s "
        f"({serial / pooled:.2f}x; {started:.1f} s of it starting the workers)"
    )
    write_result(
        Path(args.out),
        {
            "machine": machine(torch.device("cpu")),
            "system": {"name": "ChaoticRNN", "beta": 2.4, "steps": args.steps},
            "iterations": args.iterations,
            "particles": particles,
            "sweep": {
                "cells": 40,
                "serial s": serial,
                "2 workers s": pooled,
                "of which starting the workers s": started,
                "speedup": serial / pooled,
                "speedup once started": serial / (pooled - started),
            },
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
