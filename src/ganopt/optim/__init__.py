"""Optimizers for games: optimistic, extragradient and Lookahead methods.

Each is a ``torch.optim.Optimizer`` whose ``state_dict()`` holds everything needed to resume
exactly. An optimizer that needs two gradients per update declares
``gradient_evaluations = 2`` (see :mod:`ganopt.updates`).
"""

from ganopt.optim.extragradient import ExtraAdam, ExtraSGD, PastExtraAdam
from ganopt.optim.lookahead import Lookahead
from ganopt.optim.optimistic import OptimisticAdam, OptimisticSGD

__all__ = [
    "ExtraAdam",
    "ExtraSGD",
    "Lookahead",
    "OptimisticAdam",
    "OptimisticSGD",
    "PastExtraAdam",
]
