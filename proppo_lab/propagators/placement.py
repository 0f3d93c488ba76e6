"""Where to keep hidden states under a memory budget: Gruslys et al.'s dynamic programme.

Backpropagating through a chain of ``t`` steps needs, at step i, the state
that entered step i. Keeping all ``t`` states costs memory; keeping only the
first and recomputing the others from it costs ``t(t-1)/2`` extra forward
steps. Gruslys, Munos, Danihelka, Lanctot & Graves (2016, "Memory-efficient
backpropagation through time", BPTT-HSM) find the cheapest schedule for any
budget in between with one recursion. Given the first state and ``m`` more
slots:

* run ``y`` steps forward from the first state and keep the state reached
  (one slot);
* backpropagate through the last ``t - y`` steps with ``m - 1`` slots (their
  first state is the one just kept);
* drop it, and backpropagate through the first ``y`` steps with ``m`` slots.

So ``C(t, m) = min_y  y + C(t - y, m - 1) + C(y, m)``, with ``C(t, 0) =
t(t-1)/2`` (recompute each state from the first) and ``C(t, m) = t - 1`` once
``m >= t - 1`` (keep every state). :func:`split` returns the best ``y`` (or
None where keeping nothing more is cheapest); :class:`~.checkpoint.Checkpoint`
applies it both when it stores states on the way forward and, lazily, when a
missing state has to be recomputed on the way back: the recursion above is
exactly "from the nearest kept state, keep the state ``split`` says, repeat".
"""

from __future__ import annotations

import numpy as np

#: the largest table computed so far: (costs C[length, slots], best splits Y, 0 = none)
_TABLE: tuple[np.ndarray, np.ndarray] = (np.zeros((2, 1), np.int64), np.zeros((2, 1), np.int64))


def _table(t: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """C and Y for lengths 0..t and slots 0..m; one table serves every smaller
    question, so it is computed again only when a longer chain or more slots come."""
    global _TABLE
    if _TABLE[0].shape[0] > t and _TABLE[0].shape[1] > m:
        return _TABLE
    t, m = max(t, _TABLE[0].shape[0] - 1), max(m, _TABLE[0].shape[1] - 1)
    lengths = np.arange(t + 1, dtype=np.int64)
    cost = np.empty((t + 1, m + 1), dtype=np.int64)
    best = np.zeros((t + 1, m + 1), dtype=np.int64)
    cost[:, 0] = np.maximum(lengths * (lengths - 1) // 2, 0)
    for slots in range(1, m + 1):  # slot by slot, numpy over the split y
        cost[:, slots] = cost[:, 0]
        for length in range(2, t + 1):
            y = np.arange(1, length)
            total = y + cost[length - y, slots - 1] + cost[y, slots]
            i = int(np.argmin(total))
            if total[i] < cost[length, slots]:
                cost[length, slots], best[length, slots] = total[i], y[i]
    _TABLE = (cost, best)
    return _TABLE


def split(length: int, slots: int) -> int | None:
    """How many steps past the first kept state to keep the next one, for a chain of
    ``length`` steps with ``slots`` free; None: keep nothing more (recompute from the first)."""
    if length < 2 or slots < 1:
        return None
    if slots >= length - 1:  # room for every state: keep the next one
        return 1
    _, best = _table(length, slots)
    y = int(best[length, slots])
    return y or None


def cost(length: int, slots: int) -> int:
    """Forward steps recomputed by the best schedule (the paper's C(t, m))."""
    if length < 2:
        return 0
    if slots >= length - 1:
        return length - 1
    return int(_table(length, slots)[0][length, slots])


def stored_on_the_way(length: int, slots: int) -> list[int]:
    """Positions (0 = the first state, always kept) that the best schedule keeps
    while running forward once: the first state, then the splits of the right parts."""
    kept, at = [0], 0
    while slots > 0:
        y = split(length - at, slots)
        if y is None:
            break
        at += y
        kept.append(at)
        slots -= 1
    return kept


__all__ = ["cost", "split", "stored_on_the_way"]
