"""Coupled particles: a node's particles drawn in groups that an estimator reads together.

Some estimators do not draw their node's particles independently: ARM and
DisARM draw antithetic pairs, enumeration gives one particle per outcome, a
measure-valued derivative one particle per coordinate and sign, and evolution
strategies antithetic perturbations. Such a propagator declares a
:class:`Coupling` for its node (``Propagator.coupling``); on the way back it
reads each group's costs-to-go (``BackwardPass.group_costs``).

Layout: the N particles form ``N // size`` groups of ``size`` *consecutive*
particles; particle i is member ``i % size`` of group ``i // size``.

What the engine does with a coupling, so that every estimator stays unbiased:

* **Members share what lies upstream.** A group's estimator compares its
  members' costs, so they must differ only in this node's value. Every sample
  node recorded before the coupled node in the iteration therefore takes one
  value per group (``Coupling.shared``), and baselines and TP's variances of
  those nodes treat the group as one particle (``Coupling.means``/``sums``).
  ``parts.draw`` draws so; a propagator that draws by itself
  (``node.dist.rsample()``) has its value shared by the manager after its
  forward returns (:meth:`Grouping.settle`): gradients reach the group's first
  member's draw through autograd. A draw that carries no gradient path while
  its distribution's parameters need one (a score-function estimator of the
  propagator's own) cannot be shared that way and is refused, naming both nodes.
  Data the program makes differ per particle itself (a batch, its own
  ``torch.randn``) must be repeated group-wise (``pm.coupling.repeat(x)``).
* **Members may carry weights.** A member that is an outcome weighted by its
  probability (enumeration) or an evaluation point that is not a draw at all
  (MVD's perturbed copies) sets per-particle weights (``ForwardPass.weigh``):
  later losses, later nodes' score terms and the cost-to-go sent upstream are
  weighted by them, so the objective is still the mean of real draws.
* **The particle count must split into groups**; otherwise a
  :class:`~.errors.PropagationError` names the node.

The manager's :class:`Grouping` holds all of this for an iteration. The
grouping of an iteration is fixed by its first coupled node. Since the
nodes upstream of it were drawn before it showed itself, the manager learns
the grouping and asks for the iteration to run again (``pm.estimate`` does so
by itself, through ``pm.record``); later iterations draw in groups from the start. One coupled node
per particle path: a second coupled node downstream of the first would see
members that already differ, so a second coupled node in one iteration is
refused (nested groups are future work).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .errors import PropagationError

if TYPE_CHECKING:
    from .node import Node


@dataclass(frozen=True)
class Coupling:
    """How a node's particles are grouped.

    ``size``: particles per group. ``kind``: how members differ, for people
    and UIs ("antithetic", "outcomes", "coordinates", "perturbations").
    """

    size: int
    kind: str = "group"

    def __post_init__(self):
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"a coupling's group size must be a positive int, got {self.size!r}")

    def groups(self, particles: int, who: str = "this propagator") -> int:
        """How many groups ``particles`` make; a ValueError naming ``who`` when they don't split."""
        if particles % self.size:
            raise ValueError(
                f"{who} draws particles in {self.kind} groups of {self.size}: {particles} "
                f"particles cannot be split into such groups; use a multiple of {self.size}"
            )
        return particles // self.size

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (groups, size, ...)."""
        return x.reshape(x.shape[0] // self.size, self.size, *x.shape[1:])

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        """(groups, size, ...) -> (N, ...)."""
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        """Every member takes its group's first member's value (gradients flow to that one)."""
        g = self.split(x)
        return self.merge(g[:, :1].expand_as(g))

    def repeat(self, x: torch.Tensor) -> torch.Tensor:
        """(groups, ...) -> (N, ...): one row per group repeated for its members (data)."""
        return x.repeat_interleave(self.size, dim=0)

    def means(self, x: torch.Tensor) -> torch.Tensor:
        """Per-group means along dim 0: (N, ...) -> (groups, ...)."""
        return self.split(x).mean(1)

    def sums(self, x: torch.Tensor) -> torch.Tensor:
        """Per-group sums along dim 0: (N, ...) -> (groups, ...)."""
        return self.split(x).sum(1)


class RegroupError(PropagationError):
    """The iteration met its coupled node after drawing upstream nodes one per particle.

    The manager now knows the grouping; running the iteration again draws them
    in groups. ``PropagationManager.estimate`` does that by itself.
    """


class Grouping:
    """The grouping of one iteration's particles, owned by the manager.

    It decides, node by node, in which groups a node draws (:meth:`assign`,
    before the node's propagator runs) and makes a sample node's value shared
    within its groups when its propagator did not (:meth:`settle`, after). It
    keeps the weights a coupled node sets, and what the next iteration draws in.
    """

    def __init__(self):
        self._current: Coupling | None = None  # this iteration's grouping (None: independent)
        self._current_by = ""  # the coupled node that asked for it, for messages
        self._next: Coupling | None = None  # learned: the grouping for the next iteration
        self._next_by = ""
        self._read = False  # did the program ask for this iteration's grouping?
        self._coupled: Node | None = None  # this iteration's coupled node, once reached
        self._drawn = False  # a sample node was drawn this iteration before a coupled one
        #: particle weights (N,) set by the coupled node (:meth:`weigh`); None: all 1
        self.weight: torch.Tensor | None = None

    @property
    def coupling(self) -> Coupling | None:
        """This iteration's grouping, as the program sees it (``pm.coupling``);
        reading it before the coupled node commits the iteration to it."""
        self._read = True
        return self._current

    @property
    def coupled_node(self) -> Node | None:
        """This iteration's coupled node, once the program reached it."""
        return self._coupled

    def assign(self, node: Node, iteration: int) -> None:
        """Tell a new node how its particles are grouped and weighted (before its
        propagator's forward runs). A RegroupError when nodes upstream were drawn
        before this iteration's grouping was known; a ValueError for a second
        coupled node."""
        node.weight = self.weight
        if node.kind == "loss":
            return
        if not node.propagator.coupled:
            if self._coupled is None:
                node.coupling = self._current  # upstream of any coupled node: draw in groups
                self._drawn = self._drawn or node.kind == "sample"
            return
        coupling = node.propagator.coupling(node)
        if node.dist is not None:
            coupling.groups(
                node.dist.batch_shape[0] if node.dist.batch_shape else 1, node.propagator.name
            )
        first = self._coupled
        if first is not None:
            raise ValueError(
                f"a second coupled node in one iteration (the first is {first.label}"
                f", {first.propagator_name}); its group members would already "
                "differ upstream. Serve one of them with another propagator"
            )
        if coupling != self._current:
            self._next, self._next_by = coupling, _describe(node)
            # a draw, or data the program grouped by the old answer, already differ in a group
            if self._drawn or self._read:
                raise RegroupError.at(
                    node,
                    f"nodes upstream were drawn (or pm.coupling read) before this node's "
                    f"{coupling.kind} groups of {coupling.size} were known; run the iteration "
                    "again, they will be drawn in groups (pm.estimate does this by itself)",
                    phase="forward",
                    iteration=iteration,
                )
            self._current, self._current_by = coupling, self._next_by
        self._coupled = node
        node.coupling = coupling

    def settle(self, node: Node, value: torch.Tensor) -> torch.Tensor:
        """A sample node's value as the program receives it: one value per group
        upstream of the coupled node, whoever drew it (after its propagator's forward).

        A value whose members already agree is returned as it is (``parts.draw``
        draws so). Otherwise each member takes its group's first member's value;
        gradients reach that member's draw through autograd, so a propagator that
        drew with ``node.dist.rsample()`` stays right. A draw with no gradient path
        while the distribution's parameters need one is refused: its propagator
        computes the gradient from its own draws, which the members would not share.
        """
        coupling = node.coupling
        if (
            coupling is None
            or node.kind != "sample"
            or node.propagator.coupled
            or not isinstance(value, torch.Tensor)
        ):
            return value
        coupling.groups(value.shape[0], f"the coupled node {self._current_by}")
        groups = coupling.split(value)
        if torch.equal(groups, groups[:, :1].expand_as(groups)):
            return value
        if not value.requires_grad and _needs_grad(node.dist):
            raise ValueError(
                f"its propagator drew one value per particle, but the coupled node "
                f"{self._current_by} downstream needs one per group of {coupling.size} "
                "(members may differ only at the coupled node), and the value carries no "
                "gradient path through which the manager could share it; draw it with "
                "proppo_lab.propagators.parts.draw, which draws one value per group"
            )
        return coupling.shared(value)

    def weigh(self, weights: torch.Tensor) -> None:
        """Weigh the particles from here on (set by the coupled node, :mod:`.passes`)."""
        self.weight = weights

    def learn(self) -> None:
        """After a finished backward pass: the next iteration draws in this one's grouping."""
        coupled = self._coupled
        self._next = coupled.coupling if coupled is not None else None
        self._next_by = _describe(coupled) if coupled is not None else ""

    def end_iteration(self) -> None:
        self._current, self._current_by = self._next, self._next_by
        self._read, self._coupled, self._drawn, self.weight = False, None, False, None


def _describe(node: Node) -> str:
    return f"{node.label} ({node.propagator_name})"


def _needs_grad(dist) -> bool:
    """Whether a distribution's parameters need a gradient (its tensors' flags)."""
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in vars(dist).values())
