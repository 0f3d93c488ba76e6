"""Synthetic gradients (Jaderberg et al. 2017, "decoupled neural interfaces") trained
online with BP(λ) (Pemberton & Costa): a learned prediction of the gradient a node
sends upstream replaces the gradient itself.

**What is sent.** At a node ``pm.forward(site, fn, *inputs)`` (or a plain value) the
propagator runs ``fn`` on *detached* inputs, so no gradient from downstream crosses
the node. Instead the recurrent state, the input that is the previous instance's
output (:func:`~proppo_lab.core.node.chained_slot`; at instance 0 the initial state,
in the place where instance 1 takes instance 0's output), receives a prediction
M(inputs), made by a small network from the inputs' values alone. It needs nothing
from downstream: in an asynchronous system upstream could use it at once. The step's
other inputs (an encoding of its observation) get the gradient that reached them
through the function, as under Backprop, and the function's own parameters keep
their true gradient. A site whose instances are not chained (a layer that runs once)
has no state: every input that needs a gradient gets a prediction (a decoupled
neural interface).

**How M learns.** The gradient that downstream sends to the detached inputs still
arrives in this engine, one backward pass later than the prediction would be used:
it is M's training target. Downstream may itself hold synthetic-gradient nodes, whose
predictions are part of what arrives: M then learns from later predictions
(*bootstrapping*, as TD learning does from later value estimates). ``lam`` mixes in
how wrong those later predictions were, as TD(λ) does: with δ' the next boundary's
target minus its prediction, the target here is ``arrived + lam * J^T δ'`` (J: the
Jacobian of the next boundary's inputs with respect to this node's inputs). λ = 0 is
pure bootstrapping, λ = 1 makes every target the true gradient (the recursion unrolls
to full backprop), and between the targets are λ-returns. Computed at the end of the
pass from the later node's error, this equals accumulating eligibility traces over the
pass (the forward and backward views of TD(λ) agree for updates made after the pass);
bootstrapping runs between instances of one site (a recurrent loop).

**Truncated BPTT + synthetic gradients.** With ``every=k`` only instances 0, k, 2k, ...
are decoupled; the others are plain Backprop. Truncate(k) cuts at k, 2k, ... and sends
nothing across; SyntheticGradient(every=k) cuts at the same places and sends M's
prediction across: two plans of one program. One option on one propagator, rather
than a plan that lists instances, because "every k steps" does not depend on how long
the program runs. (Instance 0 is decoupled too, so a layer that runs once, a site with
one instance, is a decoupled neural interface; a constant initial state needs no
gradient, so there nothing is sent.)

**Sobolev.** With ``sobolev=True`` M is the derivative of a learned critic of the
node's cost-to-go, trained on both (:func:`proppo_lab.losses.sobolev`), as Czarnecki
et al. (2017) trained synthetic gradients.

Units: M predicts a particle's own gradient (of its cost, not of the mean over
particles, which is 1/n of it), so its targets do not shrink with more particles.
"""

from __future__ import annotations

import torch

from .. import losses
from ..core.finite import require_finite
from ..core.node import chained_slot, previous_instance
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import learned
from .builtin import passed_through


def _rows(tensors: list[torch.Tensor], n: int, like: torch.Tensor) -> torch.Tensor:
    """Tensors as (n, features), detached, in ``like``'s dtype; a tensor without a
    particle dimension is shared by every row."""
    columns = []
    for t in tensors:
        t = t.detach()
        if t.dim() == 0 or t.shape[0] != n:
            t = t.reshape(1, -1).expand(n, -1)
        columns.append(t.reshape(n, -1).to(like.dtype))
    return torch.cat(columns, 1) if columns else like.new_zeros(n, 0)


def _split(flat: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    sizes = [t[0].numel() for t in like]
    return [g.reshape(t.shape) for g, t in zip(flat.split(sizes, 1), like)]


@register(
    "SyntheticGradient",
    display="Synthetic gradient (BP(λ))",
    colour="#661100",
    kinds=("forward",),
    options={
        "every": Option(
            "int", 1, "decouple instances 0, k, 2k, ... (the rest: Backprop)", min=1, max=100000
        ),
        "lam": Option(
            "float",
            0.0,
            "BP(λ): 0 bootstraps from later predictions, 1 the true gradient",
            min=0.0,
            max=1.0,
        ),
        "sobolev": Option("bool", False, "M is the derivative of a critic of the cost-to-go"),
        "hidden": Option("int", 64, "hidden units of the predictor", min=1, max=4096),
        "learning_rate": Option("float", 1e-2, "of the predictor's Adam steps", min=1e-6, max=1.0),
    },
    _builtin=True,
)
class SyntheticGradient(Propagator):
    """Synthetic gradients (Jaderberg et al. 2017) with BP(λ): the node runs its
    function on detached inputs and sends its recurrent state (the input that is the
    previous instance's output; every input where there is none) a learned prediction
    of its gradient, made from the inputs' values only; the other inputs get their
    true gradient. The predictor (a small network in the
    node's state) is trained after each pass on the gradient that did arrive,
    which bootstraps from later synthetic gradients (lam mixes in the true gradient:
    λ = 1 trains on it exactly). every=k decouples only instances 0, k, 2k, ...:
    truncated BPTT with synthetic gradients. Biased; its learned loss is a diagnostic."""

    reads_grad = True  # the gradient that arrived at the detached inputs is the target

    def __init__(self, every: int, lam: float, sobolev: bool, hidden: int, learning_rate: float):
        self.every = every
        self.lam = lam
        self.sobolev = sobolev
        self.hidden = hidden
        self.learning_rate = learning_rate

    def _decoupled(self, node) -> bool:
        return node.instance % self.every == 0

    def forward(self, node, fp):
        # which input is the recurrent state (None: an interface, all are decoupled);
        # instance 0 learns it from instance 1: its initial state sits in the same place
        node.saved["recurrent"] = None
        if node.instance == 1 or (node.instance and self._decoupled(node)):
            before = previous_instance(node)
            node.saved["recurrent"] = chained_slot(node, before)
            if node.instance == 1 and before is not None and before.propagator is self:
                before.saved["recurrent"] = node.saved["recurrent"]
        if not self._decoupled(node):
            return passed_through(node, fp)
        cut = [
            t.detach().requires_grad_(t.requires_grad and t.is_floating_point())
            for t in node.inputs
        ]
        node.saved["cut"] = cut
        with torch.enable_grad():
            out = node.evaluate(cut)
        return out if node.function is not None else out.view_as(out)

    def backward(self, node, bp):
        if not self._decoupled(node):
            return
        cut, inputs = node.saved["cut"], node.inputs
        recurrent = node.saved["recurrent"]  # None: an interface, every input is decoupled
        needed = [i for i, t in enumerate(cut) if t.requires_grad]
        through = [i for i in needed if recurrent is not None and i != recurrent]
        # the step's own inputs keep their true gradient: what reached them through the function
        bp.backprop(
            node,
            [inputs[i] for i in through if cut[i].grad is not None],
            [cut[i].grad for i in through if cut[i].grad is not None],
        )
        sent = [i for i in needed if i not in through]
        if not sent:  # a constant state (an RNN's zero state): nothing to predict
            return
        targets_to = [inputs[i] for i in sent]
        n = targets_to[0].shape[0]
        x = _rows(targets_to, n, targets_to[0])
        others = [t for i, t in enumerate(inputs) if i not in sent and t.is_floating_point()]
        context = _rows(others, n, x)
        state = bp.state(node)
        net, optimizer = self._predictor(state, x.shape[1], context.shape[1], x)
        prediction = self._predict(net, x, context, state).detach()
        bp.backprop(node, targets_to, [g / n for g in _split(prediction, targets_to)])

        arrived = [
            cut[i].grad if cut[i].grad is not None else torch.zeros_like(cut[i]) for i in sent
        ]
        target = _rows(arrived, n, x) * n
        errors = bp.scratch.synthetic_errors
        later = errors.pop(node.site, None)  # the next boundary's (inputs, error), if any
        if later is not None and self.lam > 0:
            corrections = torch.autograd.grad(
                later[0], [cut[i] for i in sent], later[1], retain_graph=True, allow_unused=True
            )
            fixes = [
                c if c is not None else torch.zeros_like(a) for c, a in zip(corrections, arrived)
            ]
            target = target + self.lam * _rows(fixes, n, x) * n
        # what the predictor is fitted to: a NaN here would poison it for good
        require_finite("the synthetic-gradient target (the gradient that reached the node)", target)
        errors[node.site] = (targets_to, [e / n for e in _split(target - prediction, targets_to)])

        if self.sobolev:  # in units of the cost's spread: its large mean is no target
            cost = bp.cost(node)
            mean, spread = learned.cost_scale(state, x)
            if cost is not None:
                mean, spread = learned.track_cost(state, cost, 0.9)
                cost = (cost - mean) / spread
            loss = losses.sobolev(
                lambda h, c: net(torch.cat([h, c], 1)), x, cost, target / spread, context
            )
        else:
            loss = ((net(torch.cat([x, context], 1)) - target) ** 2).sum(1).mean()
        learned.step(optimizer, loss)
        state["target"] = target.detach()  # the last training target (diagnostic, tests)
        learned.report(bp, node, state, loss)

    def _predictor(self, state: dict, width: int, context: int, like: torch.Tensor):
        outputs = 1 if self.sobolev else width
        return learned.kept(
            state,
            "predictor",
            (width, context, outputs, self.hidden),
            lambda: learned.mlp(width + context, self.hidden, zero=True, outputs=outputs),
            self.learning_rate,
            like,
        )

    def _predict(self, net, x: torch.Tensor, context: torch.Tensor, state: dict) -> torch.Tensor:
        """M(x): the predicted per-particle gradient, (n, width)."""
        if not self.sobolev:
            return net(torch.cat([x, context], 1))
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(net(torch.cat([x, context], 1)).sum(), x)
        return grad * learned.cost_scale(state, x)[1]  # the critic's units: the cost's spread


__all__ = ["SyntheticGradient"]
