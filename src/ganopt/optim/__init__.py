"""Optimizers torch lacks: optimistic, extragradient and Lookahead methods for games, and Muon
for every weight shape with the Split that gives the rest of a network to AdamW.

Each is a ``torch.optim.Optimizer`` whose ``state_dict()`` holds everything needed to resume
exactly. An optimizer that needs two gradients per update declares
``gradient_evaluations = 2`` (see :mod:`ganopt.updates`).
"""

from ganopt.optim.extragradient import ExtraAdam, ExtraSGD, PastExtraAdam
from ganopt.optim.lookahead import Lookahead
from ganopt.optim.muon import Muon, Split
from ganopt.optim.optimistic import OptimisticAdam, OptimisticSGD

__all__ = [
    "ExtraAdam",
    "ExtraSGD",
    "Lookahead",
    "Muon",
    "OptimisticAdam",
    "OptimisticSGD",
    "PastExtraAdam",
    "Split",
]
