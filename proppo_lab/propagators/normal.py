"""The Normal distribution written out by hand.

Most sample nodes are Normal. For exactly torch's ``Normal`` the engine draws
the noise itself (the same numbers ``rsample`` draws) and keeps it, so that
the pathwise and score-function cotangents at loc and scale are elementwise
in the noise: no log-density graph per node, nothing recomputed on the way
back, and a run of nodes is handled as one stacked computation.
"""

from __future__ import annotations

import torch
from torch.distributions import Normal

from ..core.node import Node


def is_normal(dist) -> bool:
    """Exactly torch's Normal: its score and pathwise derivatives are written out
    by hand, which spares an autograd graph per node."""
    return type(dist) is Normal


def rsample(node: Node, keep_noise: bool = True, grad: bool = True) -> torch.Tensor:
    """Normal.rsample (the same noise, drawn the same way, without its per-call
    shape logic). With ``keep_noise`` the noise ``eps`` is kept: the score and
    pathwise cotangents at loc and scale are then elementwise in it, with
    nothing to recompute on the way back. ``grad=False``: a plain sample, with
    no graph to loc and scale."""
    loc, scale = node.dist.loc, node.dist.scale
    if not grad:  # cheaper than a no_grad block, which costs more than this draw's add
        loc, scale = loc.detach(), scale.detach()
    # as torch's _standard_normal draws it (not torch.randn, which costs a third more
    # per call on the CPU): the same numbers, so plans share their noise
    eps = torch.empty(loc.shape, dtype=loc.dtype, device=loc.device).normal_()
    if keep_noise:
        node.saved["eps"] = eps
    return loc + eps * scale


def standard_noise(node: Node) -> torch.Tensor:
    """A Normal node's noise (x - loc) / scale, as drawn when it was kept."""
    eps = node.saved.get("eps")
    if eps is not None:
        return eps
    dist = node.dist
    return (node.saved["value"].detach() - dist.loc.detach()) / dist.scale.detach()


def score_cotangents(w, z, scale, want_loc: bool, want_scale: bool):
    """Cotangents at loc and scale of sum_i w_i log N(x_i; loc_i, scale_i) with
    x = loc + scale * z, for any leading dimensions: d/d loc = z / scale,
    d/d scale = (z^2 - 1) / scale. Only the wanted ones are computed (None otherwise)."""
    w = w.reshape(*w.shape, *[1] * (z.dim() - w.dim())) / scale
    return (w * z if want_loc else None), (w * (z * z - 1) if want_scale else None)
