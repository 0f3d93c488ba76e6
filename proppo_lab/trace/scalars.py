"""Many device scalars to host floats in one transfer: how tracing avoids a sync per value.

A backward pass on a GPU must not wait for the host, so observers keep norms
and weights as 0-d device tensors and convert them together at the end.
"""

from __future__ import annotations

import torch


def norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """2-norms of many tensors, one fused call per (device, dtype) where torch has it."""
    out: list = [None] * len(tensors)
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(tensors):
        t = t.detach()
        if not t.is_floating_point():
            t = t.float()
        tensors[i] = t
        groups.setdefault((t.device, t.dtype), []).append(i)
    for idx in groups.values():
        items = [tensors[i] for i in idx]
        try:
            norms = torch._foreach_norm(items)
        except (AttributeError, RuntimeError):
            norms = [torch.linalg.vector_norm(t) for t in items]
        for i, n in zip(idx, norms):
            out[i] = n
    return out


def to_floats(scalars: list) -> list[float]:
    """Floats from a mix of 0-d tensors and numbers: one stack and one transfer per
    (device, dtype), not one conversion per scalar."""
    out: list[float] = [0.0] * len(scalars)
    groups: dict[tuple, list[int]] = {}
    for i, v in enumerate(scalars):
        if isinstance(v, torch.Tensor):
            groups.setdefault((v.device, v.dtype), []).append(i)
        else:
            out[i] = float(v)
    for idx in groups.values():
        with torch.no_grad():
            stacked = torch.stack([scalars[i].reshape(()) for i in idx])
        for i, v in zip(idx, stacked.double().cpu().tolist()):
            out[i] = v
    return out
