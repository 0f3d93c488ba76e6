"""The program and plans that test_sharded runs on one process and on a gloo group.

Run as a script it is one rank: ``python sharded_case.py RANK WORLD PORT OUT``
joins a gloo group on localhost, runs every plan on its share of the particles
and saves the estimates (and TP's weights) to OUT.

Why the noise is patched: "the same particles" must hold between one process
and two shards, which draw from different seeds. Here every draw takes the
global particles' noise from a generator seeded by the draw's position in the
iteration and keeps this rank's rows, so the union of the shards' draws is
exactly the single process's draws; everything else is the library's own code.
"""

from __future__ import annotations

import itertools
import sys

import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab import trace
from proppo_lab.propagators import normal

PARTICLES = 12  # over all ranks
STEPS = 3
PLANS = {
    "RP": {"z": "RP"},
    "LR": {"z": "LR"},
    "LR-ema": {"z": {"propagator": "LR", "options": {"baseline": "ema"}}},
    "TP": {"z": "TP"},
    "TP-probes": {"z": {"propagator": "TP", "options": {"directions": 3}}},
    "GS": {"z": "GS"},
}
ITERATIONS = 2  # the ema baseline carries state from the first to the second


class SharedNoise:
    """Patches Normal draws so that rank r of ``world`` gets rows r*n..(r+1)*n of the
    global noise (see the module docstring)."""

    def __init__(self, rank: int, world: int):
        self.rank, self.world = rank, world
        self.calls = itertools.count()

    def noise(self, shape, dtype) -> torch.Tensor:
        n = shape[0]
        g = torch.Generator().manual_seed(1000 + next(self.calls))
        full = torch.randn((n * self.world, *shape[1:]), generator=g, dtype=dtype)
        return full[self.rank * n : (self.rank + 1) * n]

    def install(self) -> None:
        case = self

        def rsample(dist, sample_shape=()):
            return dist.loc + dist.scale * case.noise(dist.loc.shape, dist.loc.dtype)

        def node_rsample(node, keep_noise=True, grad=True):
            loc, scale = node.dist.loc, node.dist.scale
            if not grad:
                loc, scale = loc.detach(), scale.detach()
            eps = case.noise(loc.shape, loc.dtype)
            if keep_noise:
                node.saved["eps"] = eps
            return loc + eps * scale

        Normal.rsample = rsample
        normal.rsample = node_rsample


def parameters() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return {
        "w": (0.8 * torch.randn(2, 2, generator=g, dtype=torch.float64)).requires_grad_(),
        "b": (0.3 * torch.randn(2, generator=g, dtype=torch.float64)).requires_grad_(),
        "log_scale": torch.tensor([-0.5], dtype=torch.float64, requires_grad=True),
    }


def program(params, particles: int):
    def run(pm):
        for name, p in params.items():
            pm.param(name, p)
        x = torch.ones(particles, 2, dtype=torch.float64)
        for _ in range(STEPS):
            z = pm.sample("z", Normal(x @ params["w"] + params["b"], params["log_scale"].exp()))
            x = torch.tanh(z)
        pm.loss("cost", ((x - 0.5) ** 2).sum(1))

    return run


class Weights(pl.Observer):
    """TP's mixing weights, as noted at each node."""

    def __init__(self):
        self.seen: list[dict[str, float]] = []

    def message_sent(self, message, target):
        if message.kind == "weights":
            self.seen.append({k: float(v) for k, v in message.content.items()})


def estimates(make_manager, rank: int, world: int) -> dict:
    """Every plan's estimates over ITERATIONS, and TP's weights, on this rank's particles."""
    noise = SharedNoise(rank, world)
    noise.install()
    out = {}
    for name, plan in PLANS.items():
        params = parameters()
        pm = make_manager(plan)
        weights, recorder = Weights(), trace.Recorder()
        pm.observe(weights)
        recorder.attach(pm)
        grads = []
        for i in range(ITERATIONS):
            pl.seed(i)  # only TP's probes draw from the seeded generator here
            noise.calls = itertools.count(100 * i)
            grads.append(pm.estimate(program(params, PARTICLES // world)))
        out[name] = {
            "grads": grads,
            "weights": weights.seen,
            "records": [p["nodes"] for p in recorder.history],
        }
    return out


def _rank_main(rank: int, world: int, port: int, path: str) -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        out = estimates(lambda plan: pl.ShardedManager(plan=plan, default="RP"), rank, world)
        pm = pl.ShardedManager(default="RP")
        pm.observe(Weights())
        uneven = PARTICLES // world + rank  # rank 1 holds one more: refused on every rank
        try:
            pm.estimate(program(parameters(), uneven))
        except pl.PropagationError as err:
            out["uneven"] = {"site": err.site, "message": str(err)}
        pm = pl.ShardedManager(default="RP")
        pm.estimate(program(parameters(), PARTICLES // world))
        out["particles"] = pm.particles
        out["seed"] = torch.randn(1).item()  # seeded above: differs between ranks
        torch.save(out, path)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _rank_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
