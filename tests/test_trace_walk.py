"""The autograd walk between nodes that graph capture draws its edges from."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.systems import ChaoticRNN
from proppo_lab.trace import walk


def parents(pm, node):
    """Parents of ``node`` on the manager's live tape."""
    return walk.parents(node, walk.owners(pm.tape), pm.params)


@pytest.mark.parametrize("spec,record", [("RP", False), ("LR", True), ("TP", False), ("GS", True)])
def test_parents_before_backward(spec, record):
    system = ChaoticRNN(particles=10, steps=4)
    pm = pl.PropagationManager({"state": spec})
    pm.record_edges = record
    system(pm)
    tape = pm.tape
    states = [n for n in tape if n.site == "state"]
    loss = [n for n in tape if n.kind == "loss"][0]
    nodes, params = parents(pm, states[0])
    assert nodes == [] and params == ["beta"]
    for prev, node in zip(states, states[1:]):
        nodes, params = parents(pm, node)
        assert nodes == [prev], (node, nodes)
        assert params == ["beta"]
    nodes, params = parents(pm, loss)
    assert nodes == [states[-1]] and params == []
    pm.backward()


def test_parents_on_chain_and_forward_nodes():
    mu = torch.tensor(0.5, requires_grad=True)
    a = torch.tensor(1.5, requires_grad=True)

    def program(pm):
        m, aa = pm.param("mu", mu), pm.param("a", a)
        x1 = pm.sample("x1", Normal(m.expand(8), 1.0))
        f = pm.forward("f", aa * x1)
        x2 = pm.sample("x2", Normal(f + x1, 0.5))
        pm.loss("cost", x2**2)

    pm = pl.PropagationManager(default="LR")
    pm.record_edges = True
    program(pm)
    x1, f, x2, cost = pm.tape
    assert parents(pm, x1) == ([], ["mu"])
    assert parents(pm, f) == ([x1], ["a"])
    assert parents(pm, x2) == ([x1, f], [])
    assert parents(pm, cost) == ([x2], [])
    pm.backward()


def test_ops_between_stop_at_other_nodes():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        x = pm.sample("x", Normal(pm.param("mu", mu).expand(8), 1.0))
        f = pm.forward("f", torch.tanh(x * 2.0))
        pm.loss("cost", f**2)

    pm = pl.PropagationManager(default="RP")
    program(pm)
    x, f, cost = pm.tape
    owners = walk.owners(pm.tape)
    assert walk.ops_between(f, owners) == ["MulBackward0", "TanhBackward0"]
    assert walk.ops_between(x, owners) == ["ExpandBackward0"]
    pm.discard()
