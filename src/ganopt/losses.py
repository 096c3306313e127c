"""Adversarial losses as small pure functions of discriminator logits.

Each loss is a pair: ``d(real_logits, fake_logits)`` for the discriminator and
``g(fake_logits)`` for the generator; both are minimised. Hydra builds an
``AdversarialLoss`` from the two functions, so a new loss is a YAML file plus two functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor


def nonsaturating_d(real: Tensor, fake: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))) (Goodfellow et al. 2014), via softplus for stability."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g(fake: Tensor) -> Tensor:
    """-log D(G(z)): the non-saturating generator loss that every practical GAN uses."""
    return F.softplus(-fake).mean()


def minimax_g(fake: Tensor) -> Tensor:
    """log(1 - D(G(z))): the original saturating generator loss (vanishing gradients early on)."""
    return -F.softplus(fake).mean()


@dataclass(frozen=True)
class AdversarialLoss:
    """The two halves of a GAN objective, one per player."""

    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]
