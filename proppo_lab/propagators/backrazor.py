"""Back Razor: a linear layer that keeps a sparse copy of its input for the weight gradient.

A linear layer ``y = x W^T + b`` needs its input ``x`` on the way back only
for the weight's gradient ``dW = g^T x``; the input's gradient ``g W`` and the
bias's ``sum g`` need the incoming gradient ``g`` alone. Jiang, Chen, Wang &
Wang (NeurIPS 2022, "Back Razor") keep only the largest entries of ``x`` for
``dW`` and report up to 97 % sparsity without loss of accuracy when
fine-tuning. The input's gradient stays exact, so the error never compounds
through the layers below: it is confined to each layer's own weight gradient.

A ReLU just before the layer (``nn.Sequential(nn.ReLU(), nn.Linear(...))``)
is served too: its own backward needs only the sign of its input, kept as one
bit per entry, so no dense copy of the activation survives the forward pass.
The kept entries are stored as their values plus a bit mask (one bit per
entry), so at sparsity ``s`` the saved input costs ``(1 - s) + 1/32`` of the
dense float32 copy.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register

_BITS = 2 ** torch.arange(8, dtype=torch.uint8)


def _pack(mask: torch.Tensor) -> torch.Tensor:
    """A bool tensor as a uint8 bit mask (8 entries per byte)."""
    flat = mask.reshape(-1)
    pad = (-flat.numel()) % 8
    flat = torch.cat([flat, flat.new_zeros(pad)]) if pad else flat
    return (flat.view(-1, 8).to(torch.uint8) * _BITS.to(flat.device)).sum(1, dtype=torch.uint8)


def _unpack(bits: torch.Tensor, numel: int) -> torch.Tensor:
    return ((bits.unsqueeze(1) & _BITS.to(bits.device)) != 0).reshape(-1)[:numel]


def sparsified(x: torch.Tensor, sparsity: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``1 - sparsity`` largest-magnitude entries of ``x``: (values, bit mask)."""
    flat = x.reshape(-1)
    keep = max(1, round(flat.numel() * (1 - sparsity)))
    top = flat.abs().topk(keep, sorted=False).indices
    mask = torch.zeros_like(flat, dtype=torch.bool).index_fill_(0, top, True)
    return flat[mask], _pack(mask)


def restored(values: torch.Tensor, bits: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The dense tensor with zeros where entries were dropped."""
    numel = shape.numel()
    out = values.new_zeros(numel)
    out[_unpack(bits, numel)] = values
    return out.reshape(shape)


class _RazorLinear(torch.autograd.Function):
    """``F.linear`` (after a ReLU when ``relu``) whose backward uses a sparsified
    input for the weight gradient and, for the ReLU, a one-bit mask."""

    @staticmethod
    def forward(ctx, x, weight, bias, sparsity, relu):
        kept = torch.relu(x) if relu else x
        if sparsity > 0:
            values, bits = sparsified(kept.detach(), sparsity)
            saved = [values, bits]
        else:
            saved = [kept if relu else x]
        mask = _pack(x > 0) if relu else torch.empty(0, dtype=torch.uint8)
        ctx.save_for_backward(weight, mask, *saved)
        ctx.shape, ctx.sparsity, ctx.relu, ctx.has_bias = x.shape, sparsity, relu, bias is not None
        return torch.nn.functional.linear(kept, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        weight, mask, *saved = ctx.saved_tensors
        x = restored(*saved, ctx.shape) if ctx.sparsity > 0 else saved[0]
        g2, x2 = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad @ weight
            if ctx.relu:
                grad_x = grad_x * _unpack(mask, ctx.shape.numel()).reshape(ctx.shape)
        if ctx.needs_input_grad[1]:
            grad_w = g2.t() @ x2
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b, None, None


def _layer(function) -> tuple[nn.Linear, bool] | None:
    """The linear layer a BackRazor node runs, and whether a ReLU comes first."""
    if isinstance(function, nn.Linear):
        return function, False
    if (
        isinstance(function, nn.Sequential)
        and len(function) == 2
        and isinstance(function[0], nn.ReLU)
        and isinstance(function[1], nn.Linear)
    ):
        return function[1], True
    return None


@register(
    "BackRazor",
    display="Back Razor",
    colour="#b15928",
    kinds=("forward",),
    options={
        "sparsity": Option(
            "float", 0.9, "fraction of the input's entries dropped for dW", min=0.0, max=0.999
        )
    },
    _builtin=True,
)
class BackRazor(Propagator):
    """Back Razor (Jiang et al. 2022) for linear layers (pm.forward(site, linear, x),
    or a ReLU then a linear layer as nn.Sequential): the layer keeps only the
    largest entries of its input (a top-k by magnitude, stored with a bit mask)
    for its weight gradient, and a ReLU keeps a one-bit mask. The gradient sent
    to the input is exact; the weight's is approximate. Sparsity 0 is backprop;
    at 90 % the saved input is about 13 % of its dense size."""

    def __init__(self, sparsity: float = 0.9):
        self.sparsity = sparsity

    def forward(self, node, fp):
        found = _layer(node.function)
        if found is None or len(node.inputs) != 1:
            got = node.function_name or "a plain value"
            raise ValueError(
                "BackRazor serves linear layers, pm.forward(site, nn.Linear(...), x), or "
                f"nn.Sequential(nn.ReLU(), nn.Linear(...)); got {got}"
            )
        layer, relu = found
        y = _RazorLinear.apply(node.inputs[0], layer.weight, layer.bias, self.sparsity, relu)
        return fp.watch(node, y)


__all__ = ["BackRazor", "restored", "sparsified"]
