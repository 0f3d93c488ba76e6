"""Truncated backpropagation through time as a plan: cut a site's backward path every
k instances.

A recurrent program ``h = pm.forward("h", cell, h, x)`` unrolled for T steps gives T
instances of the site "h". Under ``Truncate`` with ``k`` the instances k, 2k, 3k, ...
run their function on *detached* inputs: the gradient of later losses stops there,
exactly as truncated BPTT with segments of k steps. The cell's parameters still get
every step's gradient from inside its segment. Nothing in the program changes: full
BPTT (Backprop), truncated BPTT (Truncate) and truncated BPTT with synthetic
gradients (:class:`~.synthetic.SyntheticGradient` with ``every=k``, which cuts at the
same instances and sends a learned prediction across the cut) are three plans of one
program.
"""

from __future__ import annotations

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
    computed from detached inputs, so no gradient crosses them (segments of k steps);
    the others are plain Backprop. On a function node pm.forward(site, cell, h, x) the
    cell's parameters keep their gradient at the cut; on a plain value the cut instance
    passes its value on detached. Biased: dependencies longer than k steps are not
    learned (add synthetic gradients: SyntheticGradient with every=k)."""

    def __init__(self, k: int):
        self.k = k

    def forward(self, node, fp):
        if not cuts(node.instance, self.k):
            return passed_through(node, fp)
        inputs = [t.detach() for t in node.inputs]
        if node.function is None:
            return fp.detach(node, inputs[0], grad=False)
        return node.function(*inputs)


__all__ = ["Truncate", "cuts"]
