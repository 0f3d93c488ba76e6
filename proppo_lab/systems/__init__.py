"""Ready programs used by the tutorials, tests and benchmarks."""
from .base import System
from .chaotic_rnn import ChaoticRNN
from .toys import BernoulliToy, GaussianChain, GaussianToy

__all__ = ["BernoulliToy", "ChaoticRNN", "GaussianChain", "GaussianToy", "System"]
