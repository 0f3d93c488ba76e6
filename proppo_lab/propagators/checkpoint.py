"""Checkpointing: function nodes that keep their inputs, not their activations.

Under Backprop a function node leaves everything its backward map needs in
autograd's graph (a tanh cell keeps its input and its output, an MLP every
layer's activations). :class:`Checkpoint` runs the function under
``torch.no_grad()`` instead, so nothing is saved for backward, and on the way
back runs it again with gradients on and hands the gradient that reached its
output through that fresh graph, which is dropped once delivered.

**Runs.** A recurrent program feeds each step's output to the next step
(``h = pm.forward("cell", cell, h, x_t)``). Consecutive Checkpoint nodes of one
site whose input *is* the previous node's output form a run, and the run owns
the states between its steps: a state it does not keep is dropped as soon as
the next step has read it (unless the program holds it elsewhere, e.g. in a
loss, which keeps it alive and is then served as usual). Which states to keep:

* ``every=k``: every k-th state. A kept state starts a *segment*, which is
  recomputed once, with gradients on, from that state when the backward pass
  reaches the segment's first node: by then every gradient that reaches the
  segment's outputs from elsewhere (a loss read in the middle, later nodes) has
  arrived, so one autograd call carries them all through the segment and into
  the kept state, the leaf the previous segment reads. One recomputation per
  step (Gruslys et al.'s 4 forward-costs against backprop's 3) and one autograd
  call per segment, for the memory of the kept states and of one segment's
  activations. (Recomputing under ``no_grad`` first and then once more per
  node with gradients on, as this module did, costs two recomputations per
  step and an autograd call per node.) With ``every=1`` each node is a segment
  of its own, so it pays an autograd call per node.
* ``budget=m``: at most ``m`` states held at once beyond the run's first,
  placed by Gruslys et al.'s dynamic programme (:mod:`.placement`) for the
  run's length, read from the previous iteration. The first iteration, whose
  length is unknown, holds the budget by thinning: it keeps every state until
  ``m`` are held, then drops every other one and keeps every second state from
  there on, and so on, the stride doubling each time ``m`` are held, so the
  kept states stay evenly spread over the steps run so far (``every`` is not
  used with a budget). Each node is its own segment; a missing state is
  recomputed under ``no_grad`` from the nearest held one, keeping on the way
  the states the schedule says within the slots the budget has left.

Where a recomputed state can be compared with the one the forward pass gave
(a state that was kept or that the program still holds), a difference is an
error naming the node: the function must be deterministic (dropout would
draw other masks when it runs again). Gradients equal backprop's to float rounding.

Why cut the graph rather than keep it and drop only what it saves
(``saved_tensors_hooks``, recomputing when autograd asks, as
``torch.utils.checkpoint`` does by default)? That keeps one autograd pass, but
the forward pass then builds a graph, the recomputation builds a second one
only to read what it saves, and Python is called for every saved tensor: on
``bench/memory.py``'s recurrent cell it measured about 1.6x backprop's time,
against about 1.4x for segments (forward without a graph, one graph per step).
"""

from __future__ import annotations

import weakref

import torch

from ..core.errors import PropagationError
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import placement


class _Run:
    """The nodes of one run in order and the states it holds. State k is node k's
    chained input (node k-1's output); state 0 stands for node 0's own inputs."""

    def __init__(self, first):
        self.nodes = [first]
        self.slot: list[int | None] = [None]  # which input of node k is node k-1's output
        self.alive: list[int] = []  # positions >= 1 whose state is held, ascending
        self.held: dict[int, torch.Tensor] = {}  # states recomputed on the way back
        self.chained: dict[int, torch.Tensor] = {}  # node k's output as its successor reran it
        self.keep: set[int] | None = None  # positions the budget keeps on the way forward
        self.stride = 1  # the budget's spacing of kept states while the length is unknown

    def state(self, k: int) -> torch.Tensor | None:
        if k in self.held:
            return self.held[k]
        return self.nodes[k].inputs[self.slot[k]] if k else None

    def close(self) -> None:
        """Break the run <-> node references so that its tensors go with the tape."""
        self.nodes, self.held, self.chained, self.alive = [], {}, {}, []


@register(
    "Checkpoint",
    display="Checkpoint",
    colour="#6a3d9a",
    kinds=("forward",),
    options={
        "every": Option(
            "int", 1, "keep every k-th state of a run (1: each node keeps its input)", min=1
        ),
        "budget": Option(
            "int",
            0,
            "most states a run holds at once (0: off; replaces every), placed by the "
            "dynamic programme for the last iteration's run length; the first iteration, "
            "whose length is unknown, keeps every state until this many are held, then "
            "every other one, doubling the stride each time",
            min=0,
        ),
    },
    _builtin=True,
)
class Checkpoint(Propagator):
    """Memory-efficient backpropagation (Gruslys et al. 2016): the node runs its
    function without recording a graph and keeps only its inputs; on the way
    back it runs the function again with gradients on. A run of such nodes
    (each fed the previous one's output, as in a recurrent loop) keeps only
    some of its states, every k-th or as many as a memory budget allows, placed
    by the paper's dynamic programme, and recomputes the others from the
    nearest kept one. Same gradient as backprop, less memory, more time."""

    reads_grad = True

    def __init__(self, every: int = 1, budget: int = 0):
        self.every, self.budget = every, budget
        self._open: dict[str, _Run] = {}  # the run each site is in, this iteration
        self._lengths: dict[str, int] = {}  # each site's run length last iteration

    # -- forward ------------------------------------------------------------------
    def forward(self, node, fp):
        if node.function is None:
            raise ValueError(
                "Checkpoint serves function nodes: pm.forward(site, fn, *inputs), "
                "not pm.forward(site, value)"
            )
        with torch.no_grad():
            out = node.evaluate()
        run, k = self._join(node)
        leaf = fp.detach(node, out, grad=True)
        node.saved.update(run=run, position=k)
        if k:
            if fp.manager.record_edges or self._keeps(run, k, node.site):
                run.alive.append(k)
            else:
                self._forget(run, k)
        return leaf

    def _join(self, node) -> tuple[_Run, int]:
        """The run ``node`` continues (its input is the last node's output) or a new one."""
        run = self._open.get(node.site)
        if run is not None and run.nodes and run.nodes[-1].iteration == node.iteration:
            last = run.nodes[-1].saved["leaf"]
            for slot, t in enumerate(node.inputs):
                if t is last:
                    run.nodes.append(node)
                    run.slot.append(slot)
                    return run, len(run.nodes) - 1
        elif run is not None:  # left over from a discarded iteration
            run.close()
        run = self._open[node.site] = _Run(node)
        return run, 0

    def _keeps(self, run: _Run, k: int, site: str) -> bool:
        """Whether the run keeps state k on the way forward."""
        if not self.budget:
            return k % self.every == 0
        length = self._lengths.get(site)
        if length:
            if run.keep is None:
                run.keep = set(placement.stored_on_the_way(length, self.budget))
            return k in run.keep
        # the length is unknown (first iteration): thin the kept states to make room
        if k % run.stride == 0 and len(run.alive) == self.budget:
            self._thin(run)
        return k % run.stride == 0

    def _thin(self, run: _Run) -> None:
        """The budget is full: double the stride and drop the held states off it
        (every other one, since they sit at multiples of the old stride)."""
        run.stride *= 2
        for k in run.alive:
            if k % run.stride:
                self._forget(run, k)
        run.alive = [k for k in run.alive if k % run.stride == 0]

    @staticmethod
    def _forget(run: _Run, k: int) -> None:
        """Drop state k (node k-1's output): the tape no longer holds it, so it is
        freed unless the program keeps it; node k-1 watches it through a weak reference."""
        node, prev = run.nodes[k], run.nodes[k - 1]
        inputs = list(node.inputs)
        inputs[run.slot[k]] = None
        node.inputs = tuple(inputs)
        prev.saved["leaf"] = weakref.ref(prev.saved["leaf"])
        prev.output = None

    # -- backward -----------------------------------------------------------------
    def backward(self, node, bp):
        run, k = node.saved["run"], node.saved["position"]
        if not run.nodes:  # the run was closed (an iteration discarded half-way)
            return
        if self.budget or k % self.every == 0:
            self._segment(run, k, bp)  # else: a later node of a segment, already served
        if k == 0:  # the run is done; the budget's placement reads its length next time
            self._lengths[node.site] = len(run.nodes)
            run.close()

    def _segment(self, run: _Run, k: int, bp) -> None:
        """Recompute nodes k.. up to the next state held (node k alone under a budget)
        with gradients on and send every gradient that reached their outputs through."""
        end = k if self.budget else len(run.nodes) - 1
        x = run.state(k)
        if k and x is None:
            x = self._recompute(run, k)
        if k and run.nodes[k].inputs[run.slot[k]] is None:  # dropped: node k-1 adds its grad
            x = run.chained[k - 1] = x.detach().requires_grad_()
        roots, grads = [], []
        with torch.enable_grad():
            for j in range(k, end + 1):
                x = _step(run, j, x)
                grad = _incoming(run, j, x, bp)
                if grad is not None:
                    roots.append(x)
                    grads.append(grad)
                if (j + 1) % self.every == 0:
                    break  # the next segment starts at state j + 1
        bp.backprop(run.nodes[k], roots, grads)
        run.held.pop(k, None)
        if run.alive and run.alive[-1] == k:
            run.alive.pop()

    def _recompute(self, run: _Run, k: int) -> torch.Tensor:
        """State k from the nearest state held before it, keeping on the way the
        states the schedule says (within the budget) for the steps still to come."""
        at = run.alive[-1] if run.alive else 0
        x = run.state(at)
        free = self.budget - len(run.alive)
        with torch.no_grad():
            while at < k:
                y = placement.split(k - at + 1, free)
                target = k if y is None else min(at + y, k)
                for j in range(at, target):
                    x = _step(run, j, x)
                at = target
                if at < k:
                    run.held[at] = x
                    run.alive.append(at)
                    free -= 1
        return x


def _step(run: _Run, j: int, x: torch.Tensor | None) -> torch.Tensor:
    """Node j's function on state ``x`` (its other inputs as recorded): state j + 1."""
    node = run.nodes[j]
    inputs = list(node.inputs)
    if j:
        inputs[run.slot[j]] = x
    try:
        return node.function(*inputs)
    except Exception as err:  # named at node j, not at the node whose backward ran it
        raise _error(node, f"running the function again on the way back failed: {err}") from err


def _error(node, message: str) -> PropagationError:
    return PropagationError.at(node, message, phase="backward", iteration=node.iteration)


def _agree(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to half the float's digits: reordered sums (GPU atomics) pass, dropout does not."""
    if torch.equal(a, b):
        return True
    if not a.is_floating_point():
        return False
    tol = torch.finfo(a.dtype).eps ** 0.5
    return torch.allclose(a, b, rtol=tol, atol=tol)


def _incoming(run: _Run, j: int, out: torch.Tensor, bp) -> torch.Tensor | None:
    """The gradient that reached node j's output ``out`` (recomputed) from outside
    the segment, checking ``out`` against the forward's value where that is still
    held; None when nothing reached it (the output was dropped and no one held it)."""
    node = run.nodes[j]
    leaf = node.saved["leaf"]
    if isinstance(leaf, weakref.ref):
        leaf = leaf()
    chained = run.chained.pop(j, None)  # what node j + 1 sent back, rerun from a copy
    if leaf is not None and not _agree(out.detach(), leaf):
        raise _error(
            node,
            "running the function again gave another value: Checkpoint needs a "
            "deterministic function (no dropout, no data-dependent randomness)",
        )
    if not bp.quiet:  # observers see the whole gradient at the output, as under Backprop
        out.register_hook(lambda g, node=node: bp.note(node, "grad", g))
    grad = None
    if leaf is not None and leaf.grad is not None:  # taken: a kept state's grad goes now
        grad, leaf.grad = leaf.grad, None
        bp.check(node, "incoming gradient", grad)
    if chained is not None and chained.grad is not None:
        grad = chained.grad if grad is None else grad + chained.grad
    return grad


__all__ = ["Checkpoint"]
