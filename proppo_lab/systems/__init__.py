"""Ready programs used by the tutorials, tests and benchmarks: toys with analytic gradients,
the chaotic RNN, cart-pole, and a sigmoid belief net (a discrete VAE on bars and stripes)."""

from .base import System
from .cartpole import CartPole, Policy
from .chaotic_rnn import ChaoticRNN
from .sbn import SigmoidBeliefNet, bars_and_stripes
from .toys import BernoulliToy, GaussianChain, GaussianToy

__all__ = [
    "BernoulliToy",
    "CartPole",
    "Policy",
    "ChaoticRNN",
    "GaussianChain",
    "GaussianToy",
    "SigmoidBeliefNet",
    "System",
    "bars_and_stripes",
]
