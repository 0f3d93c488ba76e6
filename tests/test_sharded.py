"""Particles sharded over two gloo processes give the single-process estimate.

Two CPU processes (tests/sharded_case.py, one per rank) hold half of the
particles each; the single-process reference runs in this process on the same
particles (the case's noise is shared by construction). RP, LR (leave-one-out
and ema baselines), TP (exact weights and Gaussian probes) and GS must agree to
float64 round-off, and TP's weights on each rank must be the global ones.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import proppo_lab as pl
from proppo_lab.core import particles
from proppo_lab.core.seeding import rank_seed

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import sharded_case  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Each rank's results, from two processes joined in a gloo group."""
    tmp = tmp_path_factory.mktemp("sharded")
    port, world = _free_port(), 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    env.setdefault("OMP_NUM_THREADS", "1")
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "sharded_case.py"), str(r), str(world), str(port)]
            + [str(tmp / f"rank{r}.pt")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(world)
    ]
    for r, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"rank {r} failed:\n{out}"
    return [torch.load(tmp / f"rank{r}.pt") for r in range(world)]


@pytest.fixture(scope="module")
def single():
    """The reference: one plain manager holding all the particles."""
    saved = torch.distributions.Normal.rsample, sharded_case.normal.rsample
    try:
        return sharded_case.estimates(
            lambda plan: pl.PropagationManager(plan=plan, default="RP"), rank=0, world=1
        )
    finally:
        torch.distributions.Normal.rsample = saved[0]
        sharded_case.normal.rsample = saved[1]


@pytest.mark.parametrize("plan", list(sharded_case.PLANS))
def test_sharded_estimate_equals_single_process(shards, single, plan):
    for rank, result in enumerate(shards):
        for i, (got, want) in enumerate(zip(result[plan]["grads"], single[plan]["grads"])):
            for name in want:
                assert want[name].abs().sum() > 0  # a gradient that can differ
                torch.testing.assert_close(
                    got[name],
                    want[name],
                    rtol=1e-9,
                    atol=1e-12,
                    msg=lambda m, name=name, i=i, rank=rank: (
                        f"{plan} rank {rank} iteration {i} '{name}': {m}"
                    ),
                )


@pytest.mark.parametrize("plan", ["TP", "TP-probes"])
def test_tp_weights_are_the_global_ones(shards, single, plan):
    want = single[plan]["weights"]
    assert len(want) == sharded_case.STEPS * sharded_case.ITERATIONS
    # the weights differ from node to node: a rank using its own particles' variances
    # would not reproduce them
    assert len({round(w["Pathwise"], 9) for w in want}) > 1
    for result in shards:
        got = result[plan]["weights"]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g == pytest.approx(w, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("plan", ["LR", "TP", "GS"])
def test_recorded_message_norms_are_over_all_particles(shards, single, plan):
    want = single[plan]["records"]
    assert any("baseline" in w for p in want for w in p.values())
    for result in shards:
        got = result[plan]["records"]
        assert len(got) == len(want) == sharded_case.ITERATIONS
        for g_pass, w_pass in zip(got, want):
            assert set(g_pass) == set(w_pass)
            for sid, w in w_pass.items():
                assert w["messages"], sid
                # the recorder takes norms in float32
                assert g_pass[sid]["messages"] == pytest.approx(w["messages"], rel=1e-6), sid
                if "baseline" in w:
                    assert g_pass[sid]["baseline"] == pytest.approx(w["baseline"], rel=1e-6)


def test_uneven_shards_are_refused_on_every_rank(shards):
    for result in shards:
        assert result["uneven"]["site"] == "cost"
        assert "same number of particles" in result["uneven"]["message"]


def test_ranks_draw_their_own_particles(shards):
    assert [r["particles"] for r in shards] == [sharded_case.PARTICLES] * 2
    assert shards[0]["seed"] != shards[1]["seed"]  # each rank its own stream
    assert rank_seed(5, 0) == 5  # a job of one rank draws what a plain process draws
    seeds = {rank_seed(v, r) for v in range(50) for r in range(8)}
    assert len(seeds) == 400


def test_without_shards_statistics_are_torch_reductions():
    x = torch.randn(7, 3, dtype=torch.float64)
    assert particles.current() is None
    assert particles.count(7) == 7
    torch.testing.assert_close(particles.var(x, 0), x.var(0))
    torch.testing.assert_close(particles.mean(x, 1), x.mean(1))
    torch.testing.assert_close(particles.total(x, 0, keepdim=True), x.sum(0, keepdim=True))
    assert particles.common(x) is x and particles.summed(x) is x
    torch.testing.assert_close(particles.var(x[:1], 0), torch.zeros(3, dtype=torch.float64))


@pytest.fixture
def gloo_of_one():
    """A gloo group of one rank in this process (destroyed after the test)."""
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        yield dist.group.WORLD
    finally:
        dist.destroy_process_group()


def test_lab_status_names_ranks_and_particles(gloo_of_one):
    from conftest import small_rnn

    lab = pl.Lab(small_rnn(), plan={"state": "TP"}, iterations=3, process_group=gloo_of_one)
    try:
        lab.run(3, wait=True)
        assert "1 rank, 64 particles" in lab.status.value
        assert isinstance(lab._sessions[0].pm, pl.ShardedManager)
    finally:
        lab.stop()
        lab.runner.join(10)
    plain = pl.Lab(small_rnn(), iterations=2)
    plain.run(2, wait=True)
    assert "rank" not in plain.status.value


def test_function_nodes_record_under_shards(gloo_of_one):
    """A sharded manager records function nodes as the plain one does."""
    layer = torch.nn.Linear(3, 1)
    x = torch.randn(8, 3)

    def program(pm):
        pm.param("layer", layer)
        pm.loss("cost", pm.forward("out", layer, x).squeeze(-1) ** 2)

    sharded = pl.ShardedManager(process_group=gloo_of_one).estimate(program)
    plain = pl.PropagationManager().estimate(program)
    assert set(sharded) == set(plain)
    for key in plain:
        torch.testing.assert_close(sharded[key], plain[key])
