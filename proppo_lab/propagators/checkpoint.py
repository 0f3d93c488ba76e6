"""Checkpointing: function nodes whose graph keeps no activations until it needs them.

Under Backprop a function node leaves everything its backward map needs in
autograd's graph (a tanh cell keeps its input and its output, an MLP every
layer's activations). :class:`Checkpoint` runs the function with gradients on
but under ``torch.autograd.graph.saved_tensors_hooks``: each tensor autograd
would save is replaced by a ticket (node, index) and dropped. The graph itself
stays, so the node does not cut it: the whole backward is still the engine's
one batched autograd call, with no per-node flush (a node that read its own
gradient cost a separate autograd call, ~0.1-0.2 ms per node, more than the
recomputation on a small cell). When autograd reaches the node and asks for a
ticket, the run recomputes the node's saved tensors (*capturing* them: running
the functions again with gradients on, keeping what autograd saves) and hands
each out once; the recomputation's own graph is dropped at once.

**Runs.** A recurrent program feeds each step's output to the next step
(``h = pm.forward("cell", cell, h, x_t)``). Consecutive Checkpoint nodes of one
site whose input *is* the previous node's output form a run, and the run owns
the states between its steps: a state it does not keep is dropped once the next
step has read it (unless the program holds it elsewhere, e.g. in a loss). A
node's tickets are served by recomputing from the nearest kept state:

* ``every=k``: every k-th state is kept; the first ticket of a segment (autograd
  goes backwards, so it is the segment's last node) captures the whole segment
  from its kept state, and the others are served from that. One recomputation
  per step, Gruslys et al.'s 4 forward-costs against backprop's 3, and the
  memory of the kept states plus one segment's activations;
* ``budget=m``: at most ``m`` states held at once beyond the run's first,
  placed by Gruslys et al.'s dynamic programme (:mod:`.placement`) for the
  run's length, read from the previous iteration (the first iteration, whose
  length is unknown, keeps every ``every``-th state): states are recomputed
  under ``no_grad`` as the programme says, and each node is captured alone.

The function must be deterministic (dropout would draw other masks when it
runs again); a recomputation that saves other tensors than the first run is an
error naming the node. Gradients equal backprop's to float rounding.
"""

from __future__ import annotations

import bisect
import functools
import itertools

import torch

from ..core.errors import PropagationError
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from . import placement


class _Run:
    """One chain of a site in one iteration. Position k is node k; state k is its
    chained input (node k-1's output), state 0 stands for node 0's own inputs.

    Tickets are consecutive integers (a C-level counter: no Python call per saved
    tensor on the way forward); node k's are ``first[k] .. first[k] + count[k] - 1``.
    The run holds only detached tensors (never a node or a graph), and autograd
    holds the run through the tickets' hooks: it lives as long as the graph does.
    """

    def __init__(self, propagator: Checkpoint, node, keep: set[int] | None):
        self.site, self.iteration, self.budget = node.site, node.iteration, propagator.budget
        self.keep, self.every = keep, propagator.every
        self.functions: list = []
        #: detached, requiring grad as the originals did (so that autograd saves the
        #: same tensors when they run again); a dropped state is None
        self.inputs: list[list[torch.Tensor | None]] = []
        self.slot: list[int | None] = []  # which input of node k is node k-1's output
        self.chain_grad: list[bool] = []  # whether that input required grad
        self.instances: list[int] = []
        self.first: list[int] = []  # node k's first ticket
        self.count: list[int] = []  # how many tensors node k saved
        self.alive: list[int] = []  # positions >= 1 whose state is held, ascending
        self.states: dict[int, torch.Tensor] = {}  # states recomputed on the way back
        self.captured: dict[int, torch.Tensor] = {}  # ticket -> saved tensor, not handed out
        self._tickets = itertools.count()
        self._pack = functools.partial(next, self._tickets)  # next(counter, tensor)

    def __len__(self) -> int:
        return len(self.functions)

    def run(self, node, slot: int | None) -> tuple[int, torch.Tensor]:
        """Add ``node`` at the end of the run and compute its value, dropping what
        autograd saves: (its position, its value)."""
        self.functions.append(node.function)
        self.inputs.append([t.detach().requires_grad_(t.requires_grad) for t in node.inputs])
        self.slot.append(slot)
        self.chain_grad.append(slot is not None and node.inputs[slot].requires_grad)
        self.instances.append(node.instance)
        before = next(self._tickets)  # not a ticket: marks where node k's begin
        with torch.autograd.graph.saved_tensors_hooks(self._pack, self.unpack):
            out = node.evaluate()
        self.first.append(before + 1)
        self.count.append(next(self._tickets) - before - 1)
        return len(self.functions) - 1, out

    def kept(self, k: int) -> bool:
        return k in self.keep if self.keep is not None else k % self.every == 0

    def unpack(self, ticket: int) -> torch.Tensor:
        t = self.captured.pop(ticket, None)  # handed out once: autograd frees it after use
        if t is None:  # not recomputed yet, or handed out already
            self._recompute(bisect.bisect_right(self.first, ticket) - 1)
            t = self.captured.pop(ticket)
        return t

    # -- recomputation ----------------------------------------------------------------
    def _state(self, k: int) -> torch.Tensor | None:
        if k in self.states:
            return self.states[k]
        return self.inputs[k][self.slot[k]] if k else None

    def _step(self, j: int, x: torch.Tensor | None) -> torch.Tensor:
        """Node j's function on state ``x`` (its other inputs as recorded): state j + 1."""
        inputs = self.inputs[j]
        if j:
            inputs = list(inputs)
            inputs[self.slot[j]] = x.detach().requires_grad_(self.chain_grad[j])
        try:
            return self.functions[j](*inputs)
        except Exception as err:
            raise self._error(
                j, f"running the function again on the way back failed: {err}"
            ) from err

    def _error(self, j: int, message: str) -> PropagationError:
        """An error at node j (raised inside autograd, it reaches the program as it is)."""
        return PropagationError(
            message,
            site=self.site,
            instance=self.instances[j],
            propagator="Checkpoint",
            phase="backward",
            iteration=self.iteration,
        )

    def _recompute(self, k: int) -> None:
        """Capture node k's saved tensors from the nearest state held before it (and
        those of the nodes in between, which autograd reaches next)."""
        while self.alive and self.alive[-1] > k:  # autograd is past them: let them go
            self.states.pop(self.alive.pop(), None)
        past = self.first[k] + self.count[k]
        for ticket in [t for t in self.captured if t >= past]:
            del self.captured[ticket]
        at = self.alive[-1] if self.alive else 0
        x = self._state(at)
        if self.budget:  # keep, within the budget, the states the schedule says
            free = self.budget - len(self.alive)
            with torch.no_grad():
                while at < k:
                    y = placement.split(k - at + 1, free)
                    target = k if y is None else min(at + y, k)
                    for j in range(at, target):
                        x = self._step(j, x)
                    at = target
                    if at < k:
                        self.states[at] = x
                        self.alive.append(at)
                        free -= 1
        self._capture(at, k, x)

    def _capture(self, at: int, k: int, x: torch.Tensor | None) -> None:
        """Run nodes ``at..k`` from state ``x`` with gradients on, keeping what autograd
        saves (``list.append`` as the hook: no Python call per tensor); the run's own
        graph is dropped at once."""
        saved: list[torch.Tensor] = []
        try:
            with (
                torch.enable_grad(),
                torch.autograd.graph.saved_tensors_hooks(saved.append, _unused),
            ):
                for j in range(at, k + 1):
                    before = len(saved)
                    x = self._step(j, x)
                    if len(saved) - before != self.count[j]:
                        raise self._error(
                            j,
                            "the function saved other tensors when run again: Checkpoint "
                            "needs a deterministic function (no dropout, no data-dependent "
                            "branches)",
                        )
            tickets = (
                range(self.first[j], self.first[j] + self.count[j]) for j in range(at, k + 1)
            )
            self.captured.update(
                zip(itertools.chain.from_iterable(tickets), [t.detach() for t in saved])
            )
        finally:
            saved.clear()  # they hold the throwaway graph, which holds this list's hook


def _unused(_):
    raise AssertionError("a captured tensor is handed out by its ticket, not by this graph")


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
            "most states a run holds at once, placed by the dynamic programme (0: off)",
            min=0,
        ),
    },
    _builtin=True,
)
class Checkpoint(Propagator):
    """Memory-efficient backpropagation (Gruslys et al. 2016): the node's graph
    keeps none of the activations its backward needs; when the backward pass
    reaches the node, they are recomputed from its inputs. A run of such nodes
    (each fed the previous one's output, as in a recurrent loop) keeps only
    some of its states, every k-th or as many as a memory budget allows, placed
    by the paper's dynamic programme, and recomputes the others from the
    nearest kept one. Same gradient as backprop, less memory, more time."""

    def __init__(self, every: int = 1, budget: int = 0):
        self.every, self.budget = every, budget
        self._open: dict[str, tuple[_Run, object]] = {}  # each site's run and its last node
        self._lengths: dict[str, int] = {}  # each site's run length last iteration

    def forward(self, node, fp):
        if node.function is None:
            raise ValueError(
                "Checkpoint serves function nodes: pm.forward(site, fn, *inputs), "
                "not pm.forward(site, value)"
            )
        run, last, slot = self._join(node)
        k, out = run.run(node, slot)
        if k:
            if fp.manager.record_edges or run.kept(k):
                run.alive.append(k)
            else:  # drop state k: the graph does not hold it, so it goes unless the program does
                run.inputs[k][slot] = None
                inputs = list(node.inputs)
                inputs[slot] = None
                node.inputs = tuple(inputs)
                last.output = None
        self._open[node.site] = (run, node)
        # a view gives the node an autograd identity of its own (for drawing edges)
        return fp.watch(node, out.view_as(out)) if out.requires_grad else out

    def _join(self, node) -> tuple[_Run, object, int | None]:
        """The run ``node`` continues (its input is the last node's output) or a new
        one, with that last node and the input slot the chain enters by."""
        run, last = self._open.get(node.site, (None, None))
        if run is not None and run.iteration == node.iteration:
            for slot, t in enumerate(node.inputs):
                if t is last.output:
                    return run, last, slot
        elif run is not None:  # the last iteration's: its length places this one's budget
            self._lengths[node.site] = len(run)
        length = self._lengths.get(node.site)
        keep = None
        if self.budget and length:
            keep = set(placement.stored_on_the_way(length, self.budget))
        return _Run(self, node, keep), None, None


__all__ = ["Checkpoint"]
