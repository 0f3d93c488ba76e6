"""TP's batched Jacobian products give what the per-node algorithm gave.

TP used to compute, at every node on the way back, the node's Jacobian
products ``J u`` with two autograd calls of its own. It now computes those of
a run of nodes together where the weights are exact
(:mod:`proppo_lab.propagators.mixing`). The per-node algorithm is kept here as
the reference: on the same noise (and the same probes), both must give the
same weights at every node and the same estimate.
"""

import pytest
import torch
from torch import nn
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.core import per_particle
from proppo_lab.propagators import mixing
from proppo_lab.systems import ChaoticRNN


class ReferenceTP(pl.Composite):
    """TP as it was: per node, ``parameter_directions`` on the node's own inputs
    (two autograd calls), then inverse-variance weights, one term per part."""

    def __init__(self, directions: int):
        super().__init__(
            [pl.Pathwise(), pl.ScoreFunction()], mix="inverse_variance", directions=directions
        )
        self.weights_seen: list[list[float]] = []

    def backward(self, node, bp):
        terms = [part.terms(node, bp) for part in self.parts]
        inputs = [t for t in node.inputs if t.requires_grad]
        params = [p for p in bp.manager.params.values() if p.requires_grad]
        jus, exact = per_particle.parameter_directions(inputs, params, self.directions)
        variances = []
        for tensors, grads in terms:
            vs = [None] * len(inputs)
            for t, g in zip(tensors, grads):
                i = next(i for i, x in enumerate(inputs) if x is t)
                vs[i] = g if vs[i] is None else vs[i] + g
            variances.append(per_particle.trace_variance(per_particle.project(jus, vs), exact))
        inverse = [1.0 / v.clamp_min(torch.finfo(v.dtype).tiny) for v in variances]
        weights = [torch.nan_to_num(i / sum(inverse), nan=0.0) for i in inverse]
        self.weights_seen.append([float(w) for w in weights])
        for w, (tensors, grads) in zip(weights, terms):
            bp.backprop(node, tensors, [w * g for g in grads])


class Weights:
    """Observer: the TP weights noted at each node, in the order of the backward pass."""

    def __init__(self):
        self.seen: list[list[float]] = []

    def message_sent(self, message, target):
        if message.kind == "weights":
            self.seen.append([float(message.content[k]) for k in ("Pathwise", "ScoreFunction")])


def _policy_system(particles=60, steps=6, hidden=16):
    """A stochastic rollout through an MLP with > 64 parameter elements."""
    torch.manual_seed(0)
    policy = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))
    assert sum(p.numel() for p in policy.parameters()) > 64

    def program(pm):
        pm.param("policy", policy)
        s = torch.full((particles, 2), 0.3)
        for _ in range(steps):
            s = pm.sample("state", Normal(0.9 * s + 0.3 * policy(s), 0.2))
        pm.loss("cost", (s**2).sum(-1))

    return program, list(policy.parameters())


def _rnn_system():
    system = ChaoticRNN(beta=2.4, particles=200, steps=10)
    return system, [system.params["beta"]]


def _run(program, params, propagator, seed, observer=None, probe_seed=None):
    """One estimate; with ``probe_seed`` the RNG is reseeded just before the backward
    pass so that the batched path draws the probes the reference is given."""
    for p in params:
        p.grad = None
    pm = pl.PropagationManager({"state": propagator})
    if observer is not None:
        pm.observe(observer)
    torch.manual_seed(seed)
    program(pm)
    if probe_seed is not None:
        torch.manual_seed(probe_seed)
    pm.backward()
    return [p.grad.clone() for p in params]


CASES = {
    # name: (system, directions, probes?); the RNN's beta is one element (exact),
    # the MLP has 82: exact with directions raised (batched), Gaussian probes with 8
    # (drawn afresh at each node)
    "scalar": (_rnn_system, 64, False),
    "module_exact": (_policy_system, 128, False),
    "module_probes": (_policy_system, 8, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_batched_tp_matches_the_per_node_reference(case, clean_registry):
    make, directions, probes = CASES[case]
    program, params = make()
    # with probes both draw them afresh at each node, in the same order: reseed alike
    probe_seed = 11 if probes else None
    spec = {"propagator": "TP", "options": {"directions": directions}}

    reference = ReferenceTP(directions)
    pl.register("TPReference", doc="TP, one node at a time")(lambda: reference)
    ref_grads = _run(program, params, "TPReference", seed=5, probe_seed=probe_seed)
    watched = Weights()
    fast_grads = _run(program, params, spec, seed=5, observer=watched, probe_seed=probe_seed)
    quiet_grads = _run(program, params, spec, seed=5, probe_seed=probe_seed)

    assert len(watched.seen) == len(reference.weights_seen) > 1
    torch.testing.assert_close(
        torch.tensor(watched.seen), torch.tensor(reference.weights_seen), rtol=1e-4, atol=1e-6
    )
    # the weights are not trivial: both parts carry weight somewhere
    assert any(0.01 < w[0] < 0.99 for w in watched.seen)
    for ref, fast, quiet in zip(ref_grads, fast_grads, quiet_grads):
        torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(quiet, fast)  # nobody watching: the same estimate


def test_runs_are_bounded_and_every_keeps_its_meaning(monkeypatch):
    """Runs of a few nodes (many batches per pass) give what one run gives, and
    ``every`` keeps its meaning: weights recomputed every k-th instance."""
    monkeypatch.setattr(mixing, "CHUNK_NODES", 3)
    system, params = _rnn_system()
    spec = {"propagator": "TP", "options": {"every": 4}}
    fast_watch = Weights()
    fast = _run(system, params, spec, seed=2, observer=fast_watch)

    monkeypatch.setattr(mixing, "CHUNK_NODES", 64)
    slow_watch = Weights()
    slow = _run(system, params, spec, seed=2, observer=slow_watch)
    torch.testing.assert_close(fast[0], slow[0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        torch.tensor(fast_watch.seen), torch.tensor(slow_watch.seen), rtol=1e-4, atol=1e-6
    )
    # 10 instances, every 4: weights recomputed at instances 9, 5, 1 and reused in between
    distinct = {tuple(w) for w in fast_watch.seen}
    assert len(fast_watch.seen) == 10 and len(distinct) == 3
