"""What propagators remember for the rest of one backward pass.

A :class:`~.passes.BackwardPass` holds one :class:`PassScratch`; it is dropped
with the pass. Each field belongs to one kind of user, so that no two users can
collide on a key and a reader sees at once what is kept and by whom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class MixingMemo:
    """TP's mixing weights at one site, reused for the site's next ``left`` instances."""

    weights: list
    left: int


@dataclass
class PassScratch:
    """Per-pass memory of the propagators (see each field for its user)."""

    #: ScoreFunction: a stateless baseline's ``(baseline, advantage)`` per cost-to-go
    #: tensor, keyed by (baseline name, id(cost)); nodes before the same loss share it
    advantages: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(
        default_factory=dict
    )
    #: TP (mixing.mixing_weights): the weights per (id(propagator), site)
    mixing: dict[tuple[int, str], MixingMemo] = field(default_factory=dict)
    #: TP (mixing._jacobian_products): per id(propagator), a run's Jacobian
    #: products by node index, computed when the run's first node asks
    jacobians: dict[int, dict[int, Any]] = field(default_factory=dict)
    #: SyntheticGradient: per site, the (inputs, error) a later boundary leaves
    #: for the earlier one's lambda-correction
    synthetic_errors: dict[str, tuple[list, list]] = field(default_factory=dict)

    def advantage(self, baseline: str, cost: torch.Tensor):
        """The ``(baseline, advantage)`` kept for this very ``cost`` tensor, or None."""
        seen = self.advantages.get((baseline, id(cost)))
        if seen is None or seen[0] is not cost:
            return None
        return seen[1], seen[2]

    def keep_advantage(
        self, baseline: str, cost: torch.Tensor, b: torch.Tensor, w: torch.Tensor
    ) -> None:
        # holding the cost keeps its id from being reused within the pass
        self.advantages[(baseline, id(cost))] = (cost, b, w)
