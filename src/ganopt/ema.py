"""An exponential moving average of the generator, the network GAN papers sample from.

Only the parameters are averaged; buffers (BatchNorm running statistics) are copied from the
trained network, because averaging them gives statistics that do not match the averaged weights
early in training. Before ``start`` generator steps the average is a plain copy (warm-up).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ganopt.errors import ConfigError


class EMA(nn.Module):
    def __init__(self, network: nn.Module, decay: float = 0.999, start: int = 0) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ConfigError(
                f"ema.decay={decay!r} is not allowed: it must lie strictly between 0 and 1 "
                "(e.g. ema.decay=0.999), or be null to turn the EMA generator off."
            )
        if start < 0:
            raise ConfigError(f"ema.start={start!r} is not allowed: use a step count >= 0.")
        self.network = copy.deepcopy(network).requires_grad_(False)
        self.decay, self.start = decay, start

    @property
    def latent_dim(self) -> int:
        return self.network.latent_dim

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        """Move towards ``source`` after generator step ``step``."""
        averaged, current = list(self.network.parameters()), list(source.parameters())
        if step <= self.start:
            torch._foreach_copy_(averaged, current)
        else:
            torch._foreach_lerp_(averaged, current, 1.0 - self.decay)
        for mine, theirs in zip(self.network.buffers(), source.buffers(), strict=True):
            mine.copy_(theirs)

    def forward(self, z: Tensor) -> Tensor:
        return self.network(z)
