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

from collections.abc import Sequence

import torch

from . import particles


def parameter_directions(
    inputs: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    directions: int = 64,
    probes: torch.Tensor | None = None,
):
    """``J u`` for each input and direction: list of (K, *input.shape), and whether exact.

    Without ``probes`` the directions cover the parameters these inputs use
    (basis vectors, or Gaussian probes beyond ``directions`` elements). With
    ``probes`` (K, total elements of ``params``) the same directions serve
    every call, so contributions from different segments add up.
    Returns None when the inputs do not depend on any of the parameters.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        return None
    ws = [torch.zeros_like(x, requires_grad=True) for x in inputs]
    jts = torch.autograd.grad(
        list(inputs), params, ws, create_graph=True, retain_graph=True, allow_unused=True
    )
    if all(j is None or not j.requires_grad for j in jts):
        return None
    if probes is None:
        used = [j.reshape(-1) for j in jts if j is not None and j.requires_grad]
        flat = used[0] if len(used) == 1 else torch.cat(used)
        size = flat.numel()
        if size <= directions:
            probes, exact = torch.eye(size, dtype=flat.dtype, device=flat.device), True
        else:
            # every rank of a sharded manager must project on the same directions
            probes = torch.randn(directions, size, dtype=flat.dtype, device=flat.device)
            probes, exact = particles.common(probes), False
    else:
        flat = torch.cat(
            [
                j.reshape(-1)
                if j is not None and j.requires_grad
                else torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
                for j, p in zip(jts, params)
            ]
        )
        exact = None  # the caller chose the directions
    if probes.shape[0] <= 4:  # a few plain calls beat vmap's fixed cost
        per = [
            torch.autograd.grad(flat, ws, u, retain_graph=True, allow_unused=True) for u in probes
        ]
        jus = [_by_direction([p[i] for p in per]) for i in range(len(ws))]
    else:
        jus = torch.autograd.grad(
            flat, ws, probes, retain_graph=True, allow_unused=True, is_grads_batched=True
        )
    jus = [
        torch.zeros((probes.shape[0], *x.shape), dtype=x.dtype, device=x.device)
        if ju is None
        else ju
        for ju, x in zip(jus, inputs)
    ]
    return jus, exact


def _by_direction(products: list[torch.Tensor | None]) -> torch.Tensor | None:
    """One input's products along each direction as (K, *input.shape)."""
    if products[0] is None:
        return None
    if len(products) == 1:  # a view: nothing is copied for a scalar parameter
        return products[0].unsqueeze(0)
    return torch.stack(products)


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
    var = particles.var(contributions, 0)
    return var.sum() if exact else var.mean()


class ParticleGradients:
    """Each particle's share of one gradient estimate, along fixed directions.

    ``values`` is (particles, K): particle i's gradient projected on each
    direction, scaled so that the mean over particles is the estimate's
    projection. With at most ``directions`` parameter elements the directions
    are the basis (``slices`` says which columns belong to which parameter);
    beyond that they are Gaussian probes and only the total spread is known.

    ``coupling``: the iteration's grouping, when a coupled node drew its
    particles in groups (:mod:`.coupling`). The members of a group are not
    independent draws (an antithetic pair, the outcomes of one enumeration), so
    a group is one sample: its share is its members' mean.
    """

    def __init__(self, values: torch.Tensor, slices: dict[str, slice] | None, coupling=None):
        self.values = values
        self.slices = slices
        self.coupling = coupling

    @property
    def exact(self) -> bool:
        return self.slices is not None

    @property
    def samples(self) -> int:
        """Independent samples the estimate averages: particles, or groups when coupled;
        ``spread() / samples`` predicts the estimate's variance."""
        n = self.values.shape[0]
        return n if self.coupling is None else n // self.coupling.size

    def spread(self) -> dict[str, torch.Tensor]:
        """Variance across samples (summed over elements) per parameter, or 'total'."""
        values = self.values if self.coupling is None else self.coupling.means(self.values)
        if self.slices is None:
            return {"total": trace_variance(values, exact=False)}
        return {
            name: trace_variance(values[:, cols], exact=True) for name, cols in self.slices.items()
        }


class ParticleAccumulator:
    """Adds up per-particle contributions of every gradient term of one backward pass.

    Every contribution to a parameter's gradient is handed to autograd as a
    term whose graph ends at the parameters or at other nodes' cut outputs, so
    summing each term's per-particle share gives the whole estimate,
    particle by particle, whatever the plan. Costs two autograd calls per term.
    """

    def __init__(self, params: dict[str, torch.Tensor], directions: int = 64):
        self.names = [k for k, p in params.items() if p.requires_grad]
        self.params = [params[k] for k in self.names]
        sizes = [p.numel() for p in self.params]
        total = sum(sizes)
        self.slices = None
        self.probes = None
        if total:
            ref = self.params[0]
            if total <= directions:
                self.probes = torch.eye(total, dtype=ref.dtype, device=ref.device)
                starts = [sum(sizes[:i]) for i in range(len(sizes))]
                self.slices = {k: slice(a, a + n) for k, a, n in zip(self.names, starts, sizes)}
            else:
                probes = torch.randn(directions, total, dtype=ref.dtype, device=ref.device)
                self.probes = particles.common(probes)
        self.values: torch.Tensor | None = None

    def add(self, tensor: torch.Tensor, grad: torch.Tensor) -> None:
        if self.probes is None or tensor.dim() == 0:
            return
        found = parameter_directions([tensor], self.params, probes=self.probes)
        if found is None:
            return
        part = project(found[0], [grad]) * particles.count(grad.shape[0])
        if self.values is None:
            self.values = part
        elif self.values.shape == part.shape:
            self.values = self.values + part

    def result(self, coupling=None) -> ParticleGradients | None:
        if self.values is None:
            return None
        return ParticleGradients(self.values, self.slices, coupling)
