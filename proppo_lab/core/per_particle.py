"""Per-particle gradient contributions to the named parameters.

Total propagation weighs estimators by the variance, across particles, of
each one's contribution to the parameter gradient. Parameters are shared by
all particles, so autograd sums their contributions; to see them apart we use
the node's own inputs ``D`` (rows = particles) and forward-mode derivatives
``J_i u = dD_i/dtheta . u`` obtained by double backward
(``J u = d/dw <J^T w, u>``), vectorised over directions ``u``. A contribution
``v_i`` at ``D_i`` then contributes ``(J_i u) . v_i`` along ``u``.

With at most ``directions`` parameter elements the directions are the basis
vectors (exact per-particle gradients); beyond that they are Gaussian probes,
and the trace of the covariance is estimated without bias from the projections.
The user never expands a parameter by hand.
"""
from __future__ import annotations

from typing import Sequence

import torch


def parameter_directions(inputs: Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                         directions: int = 64):
    """``J u`` for each input and direction: list of (K, *input.shape), and whether exact.

    Returns None when the inputs do not depend on any of the parameters.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        return None
    ws = [torch.zeros_like(x, requires_grad=True) for x in inputs]
    jts = torch.autograd.grad(list(inputs), params, ws, create_graph=True, retain_graph=True,
                              allow_unused=True)
    used = [j.reshape(-1) for j in jts if j is not None and j.requires_grad]
    if not used:
        return None
    flat = torch.cat(used)
    size = flat.numel()
    if size <= directions:
        probes, exact = torch.eye(size, dtype=flat.dtype, device=flat.device), True
    else:
        probes, exact = torch.randn(directions, size, dtype=flat.dtype, device=flat.device), False
    if probes.shape[0] <= 4:  # a few plain calls beat vmap's fixed cost
        per = [torch.autograd.grad(flat, ws, u, retain_graph=True, allow_unused=True)
               for u in probes]
        jus = [None if per[0][i] is None else torch.stack([p[i] for p in per])
               for i in range(len(ws))]
    else:
        jus = torch.autograd.grad(flat, ws, probes, retain_graph=True, allow_unused=True,
                                  is_grads_batched=True)
    jus = [torch.zeros((probes.shape[0], *x.shape), dtype=x.dtype, device=x.device) if ju is None
           else ju for ju, x in zip(jus, inputs)]
    return jus, exact


def project(jus: Sequence[torch.Tensor], vs: Sequence[torch.Tensor | None]) -> torch.Tensor:
    """Per-particle contributions along each direction: (particles, K)."""
    total = None
    for ju, v in zip(jus, vs):
        if v is None:
            continue
        k, n = ju.shape[0], ju.shape[1]
        part = (ju.reshape(k, n, -1) * v.reshape(1, n, -1)).sum(-1).T
        total = part if total is None else total + part
    return total


def trace_variance(contributions: torch.Tensor, exact: bool) -> torch.Tensor:
    """Sum over parameter elements of the variance across particles.

    ``contributions`` is (particles, K). With Gaussian probes,
    E_u[Var(u . g)] = tr Cov(g), so the mean over probes estimates the trace.
    """
    var = contributions.var(0, unbiased=True) if contributions.shape[0] > 1 else \
        torch.zeros(contributions.shape[1], dtype=contributions.dtype, device=contributions.device)
    return var.sum() if exact else var.mean()
