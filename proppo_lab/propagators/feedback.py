"""Feedback alignment (Lillicrap, Cownden, Tweed & Akerman 2016) for linear and affine
function nodes: the error goes back through a fixed random matrix instead of the
transposed forward weights.

A node ``pm.forward(site, layer, x)`` with ``layer`` an ``nn.Linear`` (or any module
with a ``weight`` of shape (out, in) computing ``x @ weight.T (+ bias)``) computes
y = x W^T + b. Backprop sends the input gradient g W (g: the gradient at y); feedback
alignment sends g B, with B a random (out, in) matrix drawn once and kept in the node's
state. The layer's own weight and bias gradients are backprop's, exactly: only what is
sent further upstream changes. Learning still works because the forward weights come
to *align* with B; the angle between g B and g W is the diagnostic
(``alignment_angle``, in degrees): 90° means unrelated, below 90° the update points
downhill.

B is drawn from ``seed`` and the site's name, so it is the same for every instance of a
site (a layer reused in a loop has one weight matrix, so it gets one feedback matrix)
and differs between sites; its entries are normal with standard deviation
``scale / sqrt(out)``, which keeps the sent gradient's size near backprop's for
weights of the usual initialisation.
"""

from __future__ import annotations

import math
import zlib

import torch

from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register


def angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The angle in degrees between two tensors taken as flat vectors (90 if one is 0)."""
    a, b = a.reshape(-1), b.reshape(-1)
    denominator = torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)
    if not bool(denominator > 0):
        return a.new_tensor(90.0)
    cosine = (a @ b / denominator).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(cosine))


def _weight(node) -> torch.Tensor:
    """The (out, in) weight of a linear node's module, or a targeted error."""
    layer = node.function
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or len(node.inputs) != 1:
        raise TypeError(
            "FeedbackAlignment serves linear function nodes, pm.forward(site, nn.Linear(...), x); "
            f"this node's function is {node.function_name or 'none (a plain value)'}"
        )
    if node.inputs[0].shape[-1] != weight.shape[1]:
        raise TypeError(
            f"FeedbackAlignment: the input has {node.inputs[0].shape[-1]} features, "
            f"the weight expects {weight.shape[1]}"
        )
    return weight


def feedback_matrix(site: str, shape: torch.Size, scale: float, seed: int, like: torch.Tensor):
    """The fixed random (out, in) matrix of ``site`` (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(site.encode()))
    b = torch.randn(tuple(shape), generator=generator, dtype=torch.float64)
    return (b * (scale / math.sqrt(shape[0]))).to(device=like.device, dtype=like.dtype)


@register(
    "FeedbackAlignment",
    display="Feedback alignment",
    colour="#88ccee",
    kinds=("forward",),
    options={
        "scale": Option("float", 1.0, "of the random feedback matrix B", min=1e-6, max=1e6),
        "seed": Option("int", 0, "draws B (with the site's name)", min=0, max=2**31 - 1),
    },
    _builtin=True,
)
class FeedbackAlignment(Propagator):
    """Feedback alignment (Lillicrap et al. 2016) for a linear function node
    pm.forward(site, nn.Linear(...), x): the layer's weight and bias get backprop's
    gradients, but the gradient sent to x goes through a fixed random matrix B (kept in
    the node's state) instead of the weights. Biased: it is not the gradient, yet the
    weights learn to align with B. Diagnostic: the angle between the gradient it sends
    upstream and backprop's (alignment_angle, degrees)."""

    reads_grad = True

    def __init__(self, scale: float, seed: int):
        self.scale = scale
        self.seed = seed

    def forward(self, node, fp):
        weight = _weight(node)
        x = node.inputs[0]
        with torch.enable_grad():  # the layer's own parameters keep their graph; x does not
            out = node.function(x.detach())
        node.saved["out"] = out
        state = fp.state(node)
        key = (weight.shape, self.scale, self.seed, x.dtype, x.device)
        if state.get("feedback_key") != key:  # drawn again, the same, on another device
            state["feedback"] = feedback_matrix(node.site, weight.shape, self.scale, self.seed, x)
            state["feedback_key"] = key
        return fp.detach(node, out, grad=True)

    def backward(self, node, bp):
        g = bp.grad(node)
        out, x = node.saved["out"], node.inputs[0]
        feedback = bp.state(node)["feedback"]
        sent = g @ feedback
        # the weight and bias gradients: backprop's, through the layer run on a detached x
        bp.backprop(node, [out, x], [g, sent])
        if not bp.quiet:
            bp.note(node, "alignment_angle", angle(sent, g @ node.function.weight.detach()))


__all__ = ["FeedbackAlignment", "angle", "feedback_matrix"]
