"""A sigmoid belief net with one layer of binary latents, fitted as a small discrete VAE.

The data are *bars and stripes*: side x side binary images in which every row is
all on or all off (a stripe pattern) or every column is (a bar pattern), made in
code (2^(side+1) - 2 distinct images; 30 for side 4). The model is

    prior     z_k ~ Bernoulli(sigmoid(prior_k)),            k = 1..latents
    decoder   x_j ~ Bernoulli(sigmoid(W_dec z + b_dec)_j),  j = 1..side^2
    encoder   q(z | x) = prod_k Bernoulli(sigmoid(W_enc x + b_enc)_k)

and the objective is the negative ELBO, averaged over the images,

    E_{q(z|x)}[ log q(z|x) - log p(x|z) - log p(z) ].

Every particle draws one latent vector per image (the sample site ``z``, shape
(particles, images, latents)) and pays the mean over the images of the bracket
above (the loss site ``neg_elbo``). A particle carries no data of its own, so
coupled propagators (ARM, DisARM) need nothing from the program. The
expectation factorises over the images, so for a few latents it is computed
exactly by summing over every latent vector (:meth:`SigmoidBeliefNet.objective`):
ground truth for tests, and a clean training curve for tutorial 5.

Log-probabilities are written as ``-BCE with logits``, which also accepts the
relaxed (non-binary) values a Gumbel-softmax propagator passes to the program.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli

from .base import System


def bars_and_stripes(side: int = 4) -> torch.Tensor:
    """Every side x side image whose rows (or columns) are each all on or all off,
    without repeats: (2^(side+1) - 2, side^2), float 0/1."""
    rows = torch.tensor(list(itertools.product((0.0, 1.0), repeat=side)))  # (2^side, side)
    stripes = rows[:, :, None].expand(-1, side, side)  # row r all equal to rows[., r]
    bars = stripes.transpose(1, 2)
    images = torch.cat([stripes, bars]).reshape(-1, side * side)
    return torch.unique(images, dim=0)


def _log_bernoulli(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(logits)), elementwise; x may be relaxed to [0, 1]."""
    logits, x = torch.broadcast_tensors(logits, x)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")


class SigmoidBeliefNet(System):
    """A discrete VAE on bars and stripes (see the module docstring).

    ``latents``: binary latent units. ``side``: image size. ``images``: use the
    first this many images of the dataset (all by default; fewer make a small case
    that Enumerate can serve: it evaluates at most 64 outcomes per particle, i.e.
    images x latents <= 6). ``seed`` fixes the initial weights.
    """

    sites = ("z", "neg_elbo")

    def __init__(
        self, latents=8, side=4, images=None, particles=100, seed=0, init_scale=0.1, device=None
    ):
        data = bars_and_stripes(side)
        self.data = data[: images or len(data)].to(device)
        self.latents, self.side, self.particles, self.seed = latents, side, particles, seed
        self.images, self.init_scale = images, init_scale
        pixels = side * side
        g = torch.Generator().manual_seed(seed)

        def weights(*shape):
            return (init_scale * torch.randn(*shape, generator=g)).to(device).requires_grad_()

        super().__init__(
            {
                "prior": torch.zeros(latents, device=device, requires_grad=True),
                "W_enc": weights(latents, pixels),
                "b_enc": torch.zeros(latents, device=device, requires_grad=True),
                "W_dec": weights(pixels, latents),
                "b_dec": torch.zeros(pixels, device=device, requires_grad=True),
            }
        )

    def encoder_logits(self, p) -> torch.Tensor:
        """(images, latents): the logits of q(z | x) for each image."""
        return self.data @ p["W_enc"].T + p["b_enc"]

    def bracket(self, p, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) - log p(x|z) - log p(z) per image: (..., images, latents) -> (..., images)."""
        log_q = _log_bernoulli(self.encoder_logits(p), z).sum(-1)
        log_prior = _log_bernoulli(p["prior"], z).sum(-1)
        log_lik = _log_bernoulli(z @ p["W_dec"].T + p["b_dec"], self.data).sum(-1)
        return log_q - log_lik - log_prior

    def __call__(self, pm):
        p = {name: pm.param(name, value) for name, value in self.params.items()}
        logits = self.encoder_logits(p)
        z = pm.sample("z", Bernoulli(logits=logits.expand(self.particles, *logits.shape)))
        pm.loss("neg_elbo", self.bracket(p, z).mean(-1))

    def objective(self) -> torch.Tensor:
        """The exact negative ELBO (mean over images), by summing over all 2^latents
        latent vectors of each image: differentiable in the parameters."""
        if self.latents > 16:
            raise ValueError(f"objective() sums over 2^latents vectors; {self.latents} is too many")
        p = self.params
        z = torch.tensor(list(itertools.product((0.0, 1.0), repeat=self.latents)))
        z = z.to(self.data.device)[:, None, :].expand(-1, len(self.data), -1)  # (2^K, images, K)
        q = _log_bernoulli(self.encoder_logits(p), z).sum(-1).exp()  # (2^K, images)
        return (q * self.bracket(p, z)).sum(0).mean()

    def analytic_gradient(self):
        names = list(self.params)
        grads = torch.autograd.grad(self.objective(), [self.params[k] for k in names])
        return dict(zip(names, grads))
