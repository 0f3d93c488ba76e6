"""Running mean and variance of gradient estimates, kept on the device.

Why Welford: it is numerically stable (no catastrophic cancellation of
E[g^2] - E[g]^2 when the gradient is large and its spread small) and needs
O(1) memory. Every update is a handful of tensor ops on the gradient's own
device and the count is a Python int, so tracking statistics never forces a
host sync; floats are produced only when a result is read.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


class Welford:
    """Running mean / variance / SNR of a stream of same-shaped tensors."""

    def __init__(self):
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        x = x.detach()
        if not x.is_floating_point():
            x = x.float()
        if self.mean is None:
            self.n = 1
            self.mean = x.clone()
            self.m2 = torch.zeros_like(x)
            return
        self.n += 1
        delta = x - self.mean
        self.mean = self.mean + delta / self.n
        self.m2 = self.m2 + delta * (x - self.mean)

    def update_batch(self, xs: torch.Tensor) -> None:
        """Merge a batch (dim 0 indexes samples) with Chan et al.'s parallel rule."""
        xs = xs.detach()
        if not xs.is_floating_point():
            xs = xs.float()
        nb = xs.shape[0]
        if nb == 0:
            return
        mb = xs.mean(0)
        m2b = ((xs - mb) ** 2).sum(0)
        if self.mean is None:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta**2 * (self.n * nb / n)
        self.n = n

    @property
    def variance(self) -> torch.Tensor:
        """Unbiased sample variance (elementwise); NaN with fewer than 2 samples."""
        if self.mean is None:
            raise RuntimeError("no samples yet")
        if self.n < 2:
            return torch.full_like(self.m2, float("nan"))
        return self.m2 / (self.n - 1)

    @property
    def std_error(self) -> torch.Tensor:
        return (self.variance / self.n).sqrt()

    @property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio |mean| / std, elementwise."""
        return self.mean.abs() / self.variance.sqrt()


class GradientStats:
    """Per-parameter Welford statistics, plus the per-iteration record.

    ``update(grads)`` takes ``{name: gradient}`` (what ``pm.estimate`` returns)
    and also records, per parameter, the gradient and the running total
    variance (sum over elements) as device tensors. The gradient is kept, not
    copied: ``pm.estimate`` returns fresh tensors, so pass tensors that nobody
    changes in place afterwards. :meth:`history` turns the entries recorded
    since its last call into floats in one go and keeps them, so reading the
    record costs what was added since, not the length of the run.
    """

    def __init__(self):
        self.stats: dict[str, Welford] = {}
        self._new: dict[str, dict[str, list[torch.Tensor]]] = {}  # not yet read, on device
        self._read: dict[str, dict[str, list]] = {}  # already floats

    def update(self, grads: Mapping[str, torch.Tensor], particles=None) -> None:
        """Add one iteration. ``particles``: the manager's ``particle_gradients``
        (per-particle shares), whose spread is recorded per parameter."""
        if particles is not None:
            for name, value in particles.spread().items():
                self._new.setdefault(name, {}).setdefault("spread", []).append(value.detach())
        for name, g in grads.items():
            w = self.stats.setdefault(name, Welford())
            w.update(g)
            new = self._new.setdefault(name, {})
            new.setdefault("grad", []).append(g.detach())
            new.setdefault("variance", []).append(
                w.variance.sum() if w.n >= 2 else torch.full((), float("nan"), device=g.device)
            )

    @property
    def n(self) -> int:
        return max((w.n for w in self.stats.values()), default=0)

    def __getitem__(self, name: str) -> Welford:
        return self.stats[name]

    def history(self, start: int = 0) -> dict[str, dict[str, list]]:
        """``{param: {"grad": [per-iteration gradient as float or list],
        "variance": [running total variance], "spread"?: [per-iteration variance
        across particles]}}``; with Gaussian probes the spread is under "total".

        ``start``: leave out the first ``start`` iterations (a live plot asks
        only for the points it has not drawn yet).
        """
        for name, new in self._new.items():
            read = self._read.setdefault(name, {})
            for key, tensors in new.items():
                if not tensors:
                    continue
                values = torch.stack(tensors).cpu().double()
                if key == "grad":
                    floats = [g.item() if g.dim() == 0 else g.reshape(-1).tolist() for g in values]
                else:
                    floats = values.tolist()
                read.setdefault(key, []).extend(floats)
                tensors.clear()
        return {
            name: {key: values[start:] for key, values in read.items()}
            for name, read in self._read.items()
        }

    def summary(self, confidence: float = 0.95) -> dict[str, dict]:
        """Per parameter: mean, se, variance (total), its CI, snr, n (floats)."""
        from .intervals import variance_interval

        out = {}
        for name, w in self.stats.items():
            mean = w.mean.double().cpu()
            var = w.variance.double().cpu() if w.n >= 2 else None
            total = float(var.sum()) if var is not None else float("nan")
            lo, hi = variance_interval(total, w.n, confidence)
            se = (var / w.n).sqrt() if var is not None else None
            snr = (mean.abs() / var.sqrt()) if var is not None else None
            out[name] = {
                "n": w.n,
                "mean": mean.item() if mean.dim() == 0 else mean.reshape(-1).tolist(),
                "se": (se.item() if se.dim() == 0 else se.reshape(-1).tolist())
                if se is not None
                else float("nan"),
                "variance": total,
                "variance_ci": [lo, hi],
                "snr": (snr.item() if snr.dim() == 0 else snr.reshape(-1).tolist())
                if snr is not None
                else float("nan"),
            }
        return out
