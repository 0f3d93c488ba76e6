"""The engine on a GPU: same estimators, same answers, and no host sync in backward.

Skipped cleanly (not passed) when CUDA is unavailable.
"""

from __future__ import annotations

import pytest
import torch
from conftest import assert_within_se, collect

import proppo_lab as pl
from proppo_lab.systems import BernoulliToy, ChaoticRNN, GaussianChain, GaussianToy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available"),
]

CUDA = torch.device("cuda")


@pytest.mark.parametrize(
    "spec",
    ["RP", "LR", {"propagator": "LR", "options": {"baseline": "ema"}}, "TP"],
    ids=["RP", "LR", "LR-ema", "TP"],
)
@pytest.mark.parametrize("make", [GaussianToy, GaussianChain], ids=["toy", "chain"])
def test_estimators_unbiased_on_gpu(make, spec):
    system = make(particles=1000, device=CUDA)
    torch.manual_seed(0)
    pm = pl.PropagationManager(default=spec, sites=system.sites)
    g = collect(pm, system, 150)
    truth = system.analytic_gradient()
    for k in truth:
        assert system.params[k].grad.device.type == "cuda"
        assert_within_se(g[k], truth[k].cpu(), what=f"{spec} on GPU d/d{k}")


def test_lr_on_bernoulli_on_gpu():
    system = BernoulliToy(particles=1000, device=CUDA)
    torch.manual_seed(1)
    g = collect(pl.PropagationManager(default="LR"), system, 150)
    assert_within_se(g["theta"], system.analytic_gradient()["theta"].cpu(), what="LR Bernoulli GPU")


def test_rp_on_gpu_equals_plain_autograd_on_gpu():
    system = ChaoticRNN(beta=2.4, particles=500, steps=50, device=CUDA, dtype=torch.float64)
    torch.manual_seed(2)
    g = pl.PropagationManager({"state": "RP"}).estimate(system)["beta"]
    torch.manual_seed(2)
    noise = torch.stack([torch.randn(500, 2, device=CUDA, dtype=torch.float64) for _ in range(50)])
    beta = system.params["beta"]
    beta.grad = None
    system.plain(noise).backward()
    torch.testing.assert_close(g, beta.grad, rtol=1e-10, atol=0.0)


@pytest.mark.parametrize("spec", ["RP", "LR", "TP"])
def test_backward_does_not_sync_with_the_host(spec):
    system = ChaoticRNN(beta=2.4, particles=1000, steps=30, device=CUDA)
    pm = pl.PropagationManager({"state": spec}, sites=system.sites, check_finite=False)
    for _ in range(2):  # the second iteration has baseline/weight state from the first
        for p in system.params.values():
            p.grad = None
        system(pm)  # the forward pass may sync
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            pm.backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert torch.isfinite(system.params["beta"].grad).item()
