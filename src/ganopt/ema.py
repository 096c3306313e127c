"""An exponential moving average of the generator, the network GAN papers sample from.

Only the parameters are averaged. BatchNorm running statistics belong to the weights they were
measured with, so the trained network's statistics do not fit the averaged weights (copied over,
they doubled a DCGAN's ``eval/fcd`` on digits: 20.9 instead of 12.0). Before the averaged network
generates in eval mode, its BatchNorm statistics are therefore re-estimated on its own outputs
("standing statistics", Brock et al. 2019) from fixed latent codes, once per update: a pure
function of the averaged weights, so evaluation, resume and ``scripts/eval.py`` agree exactly.
Other buffers (spectral norm's power-iteration vectors) are copied. Before ``start`` generator
steps the average is a plain copy (warm-up).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganopt.errors import ConfigError
from ganopt.models import latent_dim


class EMA(nn.Module):
    def __init__(
        self,
        network: nn.Module,
        decay: float = 0.999,
        start: int = 0,
        calibration_batches: int = 8,
        calibration_batch_size: int = 256,
    ) -> None:
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
        self.calibration_batches = calibration_batches
        self.calibration_batch_size = calibration_batch_size
        self.calibrated = False  # BatchNorm statistics fit the current weights
        self.register_load_state_dict_post_hook(EMA._loaded)

    @property
    def latent_dim(self) -> int:
        return latent_dim(self.network)

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        """Move towards ``source`` after generator step ``step``."""
        averaged: list[Tensor] = list(self.network.parameters())
        current: list[Tensor] = list(source.parameters())
        if step <= self.start:
            torch._foreach_copy_(averaged, current)
        else:
            torch._foreach_lerp_(averaged, current, 1.0 - self.decay)
        for mine, theirs in zip(self.network.buffers(), source.buffers(), strict=True):
            mine.copy_(theirs)
        self.calibrated = False

    def calibrate(self) -> None:
        """Re-estimate the BatchNorm statistics for the averaged weights."""
        standing_statistics(
            self.network, self.latent_dim, self.calibration_batches, self.calibration_batch_size
        )
        self.calibrated = True

    def _loaded(self, _incompatible_keys: object) -> None:
        self.calibrated = False  # a checkpoint may hold statistics copied before calibration

    def forward(self, z: Tensor) -> Tensor:
        if not self.training and not self.calibrated:
            self.calibrate()
        return self.network(z)


@torch.no_grad()
def standing_statistics(
    network: nn.Module, latent_dim: int, batches: int = 8, batch_size: int = 256
) -> None:
    """Re-estimate a generator's BatchNorm statistics for its current weights: the cumulative
    mean over ``batches`` train-mode batches of seeded latent codes (drawn on the CPU, so every
    device sees the same codes; the global RNG is not touched). A pure function of the weights."""
    norms = [m for m in network.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return
    codes = torch.Generator().manual_seed(0)
    device = next(network.parameters()).device
    modes = [(m, m.training, m.momentum) for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batches
        norm.train()
    try:
        for _ in range(batches):
            network(torch.randn(batch_size, latent_dim, generator=codes).to(device))
    finally:
        for norm, training, momentum in modes:
            norm.train(training)
            norm.momentum = momentum
