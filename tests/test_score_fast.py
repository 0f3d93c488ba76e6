"""The score-function part's fast routes give what the reference gives.

:class:`~proppo_lab.propagators.parts.ScoreFunctionReference` is the formula
as written (log-density of the detached sample times the advantage, through
autograd); :class:`~proppo_lab.propagators.score_fast.ScoreFunction` computes
the same terms by written-out Normal cotangents, one advantage per loss and a
stacked delivery for a run of nodes. On the same noise (same seed: both parts
sit in a composite that draws alike) the two estimates must agree to float
tolerance, for every baseline, Normal and not, alone (LR) and mixed (TP).
"""

import pytest
import torch
from torch import nn
from torch.distributions import Laplace, Normal

import proppo_lab as pl
from proppo_lab.propagators import ScoreFunctionReference, score_fast

PARTICLES, STEPS = 40, 6


def _program(family, shared_scale: bool):
    """A rollout whose nodes have losses between them; the scale is one tensor
    broadcast to every node (``shared_scale``) or computed per node and particle."""
    torch.manual_seed(0)
    net = nn.Linear(3, 3)
    log_scale = torch.full((3,), -0.5, requires_grad=True)

    def program(pm):
        pm.param("net", net)
        pm.param("log_scale", log_scale)
        shared = log_scale.exp()
        x = torch.full((PARTICLES, 3), 0.5)
        for t in range(STEPS):
            loc = torch.tanh(net(x))
            scale = shared if shared_scale else 0.3 + torch.sigmoid(net(x) + log_scale)
            x = pm.sample("x", family(loc, scale))
            if t % 2 == 1:  # a loss between nodes: the nodes before it see another cost
                pm.loss("cost", (x**2).sum(-1))
        pm.loss("cost", (x - 1).abs().sum(-1))

    return program, [*net.parameters(), log_scale]


def _estimates(program, params, plan, iterations=3):
    """The gradient of each of ``iterations`` estimates (seeds 0, 1, ...) under one
    manager, so that a baseline's state (ema) carries across them."""
    pm = pl.PropagationManager({"x": plan})
    out = []
    for seed in range(iterations):
        for p in params:
            p.grad = None
        torch.manual_seed(seed)
        program(pm)
        pm.backward()
        out.append([p.grad.clone() for p in params])
    return out


def _composite(part_class, baseline, mix):
    if mix == "LR":
        return pl.Composite([part_class(baseline)], draw="sample")
    return pl.Composite([pl.Pathwise(), part_class(baseline)], mix="inverse_variance")


@pytest.mark.parametrize("baseline", ["none", "loo", "ema"])
@pytest.mark.parametrize(
    "family, shared_scale, mix",
    [
        (Normal, True, "LR"),
        (Normal, False, "LR"),
        (Normal, True, "TP"),
        (Laplace, False, "LR"),
        (Laplace, True, "TP"),
    ],
    ids=["normal-shared", "normal-per-node", "normal-shared-tp", "laplace", "laplace-tp"],
)
def test_fast_score_function_matches_the_reference(
    family, shared_scale, mix, baseline, clean_registry, monkeypatch
):
    program, params = _program(family, shared_scale)
    stacked = []  # the nodes the stacked route delivered
    real = score_fast._score_terms_stacked

    def spy(items, bp):
        stacked.extend(node for node, *_ in items)
        real(items, bp)

    monkeypatch.setattr(score_fast, "_score_terms_stacked", spy)
    pl.register("ScoreReference", doc="the reference score function")(
        lambda: _composite(ScoreFunctionReference, baseline, mix)
    )
    pl.register("ScoreFast", doc="the fast score function")(
        lambda: _composite(pl.ScoreFunction, baseline, mix)
    )
    reference = _estimates(program, params, "ScoreReference")
    assert not stacked  # the reference never takes a fast route
    fast = _estimates(program, params, "ScoreFast")

    # the stacked route served every node exactly where it applies: Normal, alone, stateless
    stacks = family is Normal and mix == "LR" and baseline != "ema"
    assert len(stacked) == (3 * STEPS if stacks else 0)
    for ref, got in zip(reference, fast):
        assert any(g.abs().max() > 0 for g in ref)  # a real gradient, not zeros on both sides
        for r, g in zip(ref, got):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)
