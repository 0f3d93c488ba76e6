"""Truncated backpropagation through time as a plan: cut a site's backward path every
k instances.

A recurrent program ``h = pm.forward("h", cell, h, x)`` unrolled for T steps gives T
instances of the site "h". Under ``Truncate`` with ``k`` the instances k, 2k, 3k, ...
run their function on a *detached state*: the input that is the previous instance's
output (:func:`~proppo_lab.core.node.chained_slot`). The gradient of later losses stops
there, exactly as truncated BPTT with segments of k steps; the step's other inputs
(``x``, say from a learned encoder) keep their gradient, and the cell's parameters get
every step's gradient from inside its segment. An instance whose inputs do not include
the previous one's output (no recurrent state to cut) runs on all of them detached, and
a plain value (``pm.forward("h", h)``) passes on detached. Nothing in the program changes: full
BPTT (Backprop), truncated BPTT (Truncate) and truncated BPTT with synthetic
gradients (:class:`~.synthetic.SyntheticGradient` with ``every=k``, which cuts at the
same instances and sends a learned prediction across the cut) are three plans of one
program.
"""

from __future__ import annotations

from ..core.node import chained_slot, previous_instance
from ..core.options import Option
from ..core.propagator import Propagator
from ..core.registry import register
from .builtin import passed_through


def cuts(instance: int, k: int) -> bool:
    """Whether a backward path is cut before ``instance``: at k, 2k, 3k, ...; never at 0
    (whatever comes before the first step, a learned initial state, keeps its gradient)."""
    return instance > 0 and instance % k == 0


@register(
    "Truncate",
    display="Truncate (truncated BPTT)",
    colour="#999933",
    kinds=("forward",),
    options={"k": Option("int", 4, "cut the backward path every k instances", min=1, max=100000)},
    _builtin=True,
)
class Truncate(Propagator):
    """Truncated backpropagation through time: instances k, 2k, 3k, ... of the site are
    computed from a detached state (the input that is the previous instance's output),
    so no gradient crosses them (segments of k steps); the others are plain Backprop.
    On a function node pm.forward(site, cell, x, h) the step's other inputs (x) and the
    cell's parameters keep their gradient at the cut; an instance not fed the previous
    one's output runs on all its inputs detached; a plain value passes on detached.
    Biased: dependencies longer than k steps are not learned (add synthetic gradients:
    SyntheticGradient with every=k)."""

    def __init__(self, k: int):
        self.k = k

    def forward(self, node, fp):
        if not cuts(node.instance, self.k):
            return passed_through(node, fp)
        if node.function is None:
            return fp.detach(node, node.inputs[0], grad=False)
        state = chained_slot(node, previous_instance(node))
        inputs = [
            t.detach() if state is None or i == state else t for i, t in enumerate(node.inputs)
        ]
        return passed_through(node, fp, inputs)


__all__ = ["Truncate", "cuts"]
