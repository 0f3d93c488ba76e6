"""Inverse-variance mixing: how total propagation weighs a composite's parts.

At a node, each part (pathwise, score function) gives a cotangent ``v`` at
the node's inputs ``D``. Its per-particle contribution to the named
parameters along a direction ``u`` is ``(J_i u) . v_i`` with ``J_i = dD_i /
dtheta`` (see :mod:`proppo_lab.core.per_particle`); the parts are weighed by
the inverse of the variance of these contributions across particles.

Why the Jacobian products are computed in batches: ``J u`` at a node depends
only on the forward graph between the node's inputs and the parameters
(earlier nodes' outputs are cut), not on anything downstream. So the products
of a run of nodes come from one pair of autograd calls, made when the first
of them is reached on the way back, and each node's weights then cost
elementwise work. A run is bounded (:data:`CHUNK_NODES` nodes,
:data:`CHUNK_ELEMENTS` stored numbers) so the products never hold more memory
than a slice of the forward graph does.

With at most ``directions`` named parameter elements the directions are the
basis vectors and the weights are exact. Beyond that they are Gaussian probes,
drawn afresh for each node, so each node keeps its own pair of calls: probes
shared by a run of nodes make their weights' errors alike, which measurably
hurts training (tutorial 4's cart-pole stops learning).

Why not forward-mode tangents carried through the program (one dual
parameter, the tangent of each node's inputs read off): with this torch an op
between a dual and a plain tensor runs Python reference kernels for the zero
tangent, and the chaotic RNN's forward pass then costs more than this whole
double-backward path (``bench/forward_ad.py`` measures it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..core import particles, per_particle
from ..core.node import Node
from ..core.passes import BackwardPass
from ..core.scratch import MixingMemo

if TYPE_CHECKING:
    from .parts import Composite, Terms

#: at most this many nodes share one batch of Jacobian products
CHUNK_NODES = 16
#: and at most this many numbers (directions x input elements) are held for them
CHUNK_ELEMENTS = 1 << 20
_MISSING = object()


def mixing_weights(prop: Composite, node: Node, bp: BackwardPass, terms: list[Terms]) -> list:
    """The weight of each part's terms at ``node``: recomputed every ``prop.every``
    instances of the site, reused in between; noted as "weights" for observers."""
    live = [i for i, (tensors, _) in enumerate(terms) if tensors]
    if len(live) < 2:  # nothing to weigh: the one live part takes it all
        return [1.0] * len(terms)
    memo = bp.scratch.mixing.get((id(prop), node.site))
    if memo is not None and memo.left > 0 and len(memo.weights) == len(terms):
        memo.left -= 1
        weights = memo.weights
    else:
        variances = _variances(prop, node, bp, terms)
        inverse = 1.0 / variances.clamp_min(torch.finfo(variances.dtype).tiny)
        mixed = torch.nan_to_num(inverse / inverse.sum(), nan=0.0)
        weights = [0.0] * len(terms)
        for k, i in enumerate(live):
            weights[i] = mixed[k]
        bp.scratch.mixing[(id(prop), node.site)] = MixingMemo(weights, prop.every - 1)
    if not bp.quiet:
        bp.note(node, "weights", {p.name: w for p, w in zip(prop.parts, weights)})
    return weights


def _variances(prop, node, bp, terms) -> torch.Tensor:
    """The variance of each live part's per-particle contributions: (live parts,)."""
    inputs = _inputs(node)
    live = [(tensors, grads) for tensors, grads in terms if tensors]
    if not inputs:
        return torch.zeros(len(live), device=node.output.device)  # stays on the node's device
    cotangents = [_at_inputs(tensors, grads, inputs) for tensors, grads in live]
    found = _jacobian_products(prop, node, bp, inputs)
    # particles sharing this node's draw (upstream of a coupled node) are one sample
    grouped = node.coupling.sums if node.coupling is not None else None
    if found is None:  # no named parameter in this segment: weigh on the inputs themselves
        rows = [
            torch.cat([v.reshape(v.shape[0], -1) for v in vs if v is not None], 1)
            for vs in cotangents
        ]
        exact = True
    else:
        jus, exact = found
        if grouped is None and len(jus) == 1 and all(vs[0] is not None for vs in cotangents):
            # the common case (one input, every part has a cotangent there): all parts at once
            ju = jus[0]
            k, n = ju.shape[0], ju.shape[1]
            vs = torch.stack([vs[0] for vs in cotangents]).reshape(1, len(live), n, -1)
            contributions = (ju.reshape(k, 1, n, -1) * vs).sum(-1)  # (K, parts, N)
            var = particles.var(contributions, -1)
            return var.sum(0) if exact else var.mean(0)
        rows = [per_particle.project(jus, vs) for vs in cotangents]
    if grouped is not None:
        rows = [grouped(r) for r in rows]
    return torch.stack([per_particle.trace_variance(r, exact) for r in rows])


def _jacobian_products(prop, node, bp, inputs):
    """``(J u per input, exact)`` for ``node``, from its run's batch (computed when
    the run's first node asks); None when the inputs use no named parameter."""
    cache = bp.scratch.jacobians.setdefault(id(prop), {})
    found = cache.pop(node.index, _MISSING)
    if found is not _MISSING:
        return found
    params = [p for p in bp.manager.params.values() if p.requires_grad]
    elements = sum(p.numel() for p in params)
    # Gaussian probes must be drawn afresh at each node: probes shared by a run
    # make its nodes' weights err alike, and TP then trains badly (tutorial 4)
    run = [node] if elements > prop.directions else _run(prop, node, bp.manager.tape, elements)
    flat = [x for n in run for x in _inputs(n)]
    found = per_particle.parameter_directions(flat, params, prop.directions)
    at = 0
    for n in run:
        count = len(_inputs(n))
        cache[n.index] = None if found is None else (found[0][at : at + count], found[1])
        at += count
    return cache.pop(node.index)


def _inputs(node: Node) -> list[torch.Tensor]:
    return [t for t in node.inputs if t.requires_grad]


def _run(prop, node, tape, param_elements: int) -> list[Node]:
    """``node`` and the nodes before it that ``prop`` will weigh next on the way back
    (every ``every``-th instance of a site), within the chunk bounds. Nodes are
    matched by the propagator serving them (``prop`` itself, or one wrapping it
    such as GR)."""
    directions = max(1, min(prop.directions, param_elements))
    run, held, seen = [], 0, {}
    for n in reversed(tape[: node.index + 1]):
        if n.propagator is not node.propagator:
            continue
        k = seen[n.site] = seen.get(n.site, -1) + 1
        inputs = _inputs(n)
        if k % prop.every or not inputs:
            continue
        held += directions * sum(x.numel() for x in inputs)
        if run and (len(run) >= CHUNK_NODES or held > CHUNK_ELEMENTS):
            break
        run.append(n)
    return run


def _at_inputs(tensors, grads, inputs):
    """The terms' cotangents at the node's inputs (one per input; None if unused).

    Terms already placed at the inputs (the written-out Normal paths) are used
    as they are; others are pulled back with one autograd call.
    """
    if all(any(t is x for x in inputs) for t in tensors):
        out = [None] * len(inputs)
        for t, g in zip(tensors, grads):
            i = next(i for i, x in enumerate(inputs) if x is t)
            out[i] = g if out[i] is None else out[i] + g
        return out
    return list(torch.autograd.grad(tensors, inputs, grads, retain_graph=True, allow_unused=True))
