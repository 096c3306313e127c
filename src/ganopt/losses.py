"""Adversarial losses as small pure functions of discriminator logits.

Each loss is a pair: ``d(real_logits, fake_logits)`` for the discriminator and
``g(fake_logits)`` for the generator; both are minimised. Hydra builds an
``AdversarialLoss`` from the two functions, so a new loss is a YAML file plus two functions.
Regularizers (gradient penalties, weight clipping) live in :mod:`ganopt.regularizers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    """relu(1 - D(x)) + relu(1 + D(G(z))): a margin, so confident logits stop pushing D."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    """-D(G(z)): the hinge generator loss (the same as the Wasserstein one)."""
    return -fake.mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    """D(G(z)) - D(x): the critic estimates a Wasserstein-1 distance, which needs D to be
    1-Lipschitz (weight clipping, a gradient penalty or spectral norm)."""
    return fake.mean() - real.mean()


def wasserstein_g(fake: Tensor) -> Tensor:
    """-D(G(z)): the generator lowers the critic's distance estimate."""
    return -fake.mean()


def least_squares_d(real: Tensor, fake: Tensor) -> Tensor:
    """½(D(x) - 1)² + ½D(G(z))²: LSGAN with targets a=0 (fake), b=1 (real)."""
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def least_squares_g(fake: Tensor) -> Tensor:
    """½(D(G(z)) - 1)²: LSGAN with c=1, the generator wants fakes scored as real."""
    return 0.5 * (fake - 1.0).pow(2).mean()


def plain_callable(fn: Any) -> Any:
    """The function behind Hydra's ``_partial_: true`` object.

    Hydra 1.3.8 returns a ``functools.partial`` subclass that re-validates its target policy on
    every call (a JSON digest of the policy, then the checks): ~0.4 ms a call, twice per training
    step, several times the cost of the loss itself on a small model. The target was authorised
    when the config was instantiated, so the loss keeps the function itself (or a plain partial).
    """
    if isinstance(fn, functools.partial) and type(fn) is not functools.partial:
        return (
            functools.partial(fn.func, *fn.args, **fn.keywords)
            if fn.args or fn.keywords
            else fn.func
        )
    return fn


@dataclass(frozen=True)
class AdversarialLoss:
    """The two halves of a GAN objective, one per player."""

    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]

    def __post_init__(self) -> None:
        object.__setattr__(self, "discriminator", plain_callable(self.discriminator))
        object.__setattr__(self, "generator", plain_callable(self.generator))
