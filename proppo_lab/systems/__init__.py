"""Ready programs used by the tutorials, tests and benchmarks."""

from .base import System
from .cartpole import CartPole, Policy
from .chaotic_rnn import ChaoticRNN
from .toys import BernoulliToy, GaussianChain, GaussianToy

__all__ = [
    "BernoulliToy",
    "CartPole",
    "Policy",
    "ChaoticRNN",
    "GaussianChain",
    "GaussianToy",
    "System",
]
