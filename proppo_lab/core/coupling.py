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
  node recorded before the coupled node in the iteration therefore draws one
  value per group (``Coupling.shared``), and baselines and TP's variances of
  those nodes treat the group as one particle (``Coupling.means``/``sums``).
  Data the program makes differ per particle itself (a batch, its own
  ``torch.randn``) must be repeated group-wise (``pm.coupling.repeat(x)``).
* **Members may carry weights.** A member that is an outcome weighted by its
  probability (enumeration) or an evaluation point that is not a draw at all
  (MVD's perturbed copies) sets per-particle weights (``ForwardPass.weigh``):
  later losses, later nodes' score terms and the cost-to-go sent upstream are
  weighted by them, so the objective is still the mean of real draws.
* **The particle count must split into groups**; otherwise a
  :class:`~.errors.PropagationError` names the node.

The grouping of an iteration is fixed by its first coupled node. Since the
nodes upstream of it were drawn before it showed itself, the manager learns
the grouping and asks for the iteration to run again (``pm.estimate`` does so
by itself); later iterations draw in groups from the start. One coupled node
per particle path: a second coupled node downstream of the first would see
members that already differ, so a second coupled node in one iteration is
refused (nested groups are future work).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import PropagationError


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


def assign_group(manager, node) -> None:
    """Tell a new node how its particles are grouped and weighted; ``manager`` keeps
    the iteration's grouping (its first coupled node fixes it)."""
    node.weight = manager._weight
    if node.kind == "loss":
        return
    if not node.propagator.coupled:
        if manager._coupled_node is None:
            node.coupling = manager._coupling  # upstream of any coupled node: draw in groups
            manager._drawn = manager._drawn or node.kind == "sample"
        return
    coupling = node.propagator.coupling(node)
    if node.dist is not None:
        coupling.groups(
            node.dist.batch_shape[0] if node.dist.batch_shape else 1, node.propagator.name
        )
    first = manager._coupled_node
    if first is not None:
        raise ValueError(
            f"a second coupled node in one iteration (the first is {first.label}"
            f", {first.propagator_name}); its group members would already "
            "differ upstream. Serve one of them with another propagator"
        )
    if coupling != manager._coupling:
        manager._next_coupling = coupling
        # a draw, or data the program grouped by the old answer, already differ in a group
        if manager._drawn or manager._coupling_read:
            raise RegroupError.at(
                node,
                f"nodes upstream were drawn (or pm.coupling read) before this node's "
                f"{coupling.kind} groups of {coupling.size} were known; run the iteration "
                "again, they will be drawn in groups (pm.estimate does this by itself)",
                phase="forward",
                iteration=manager.iteration,
            )
        manager._coupling = coupling
    manager._coupled_node = node
    node.coupling = coupling
