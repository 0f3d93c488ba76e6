"""Ready programs used by the tutorials, tests and benchmarks: toys with analytic gradients,
the chaotic RNN, cart-pole, a sigmoid belief net (a discrete VAE on bars and stripes), and
for learning signals Lillicrap's linear teacher–student task and a delayed-recall RNN."""

from .base import System
from .cartpole import CartPole, Policy
from .chaotic_rnn import ChaoticRNN
from .recall import DelayedRecall
from .sbn import SigmoidBeliefNet, bars_and_stripes
from .teacher import TeacherStudent
from .toys import BernoulliToy, GaussianChain, GaussianToy

__all__ = [
    "BernoulliToy",
    "CartPole",
    "Policy",
    "ChaoticRNN",
    "DelayedRecall",
    "GaussianChain",
    "GaussianToy",
    "SigmoidBeliefNet",
    "System",
    "TeacherStudent",
    "bars_and_stripes",
]
