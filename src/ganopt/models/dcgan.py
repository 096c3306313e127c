"""DCGAN (Radford et al. 2016) for square images of 32 or 64 pixels (any power of two >= 8).

One config serves every resolution: the number of stride-2 stages follows the data, so 64-pixel
training is ``model=dcgan data.resolution=64`` (no separate dcgan64 config).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import Tensor, nn

from ganopt.errors import ConfigError
from ganopt.models.common import apply_spectral_norm, check_image_shape


def _check_resolution(shape: Sequence[int]) -> int:
    _, height, width = check_image_shape(shape, "dcgan")
    if height != width or height < 8 or height & (height - 1):
        raise ConfigError(
            f"model=dcgan needs square images whose side is a power of two >= 8, got {height}x"
            f"{width}; set data.resolution to 32 or 64."
        )
    return int(math.log2(height)) - 2  # number of stride-2 stages between 4x4 and the image


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights as in the DCGAN paper; BatchNorm scales around 1."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        shape: Sequence[int],
        latent_dim: int = 100,
        width: int = 64,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim
        stages = _check_resolution(shape)
        channels = [width * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 4w, 2w, w
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for fan_in, fan_out in itertools.pairwise(channels):
            layers += [
                nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(fan_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(channels[-1], shape[0], 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(len(z), self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    def __init__(self, shape: Sequence[int], width: int = 64, spectral_norm: bool = False) -> None:
        super().__init__()
        stages = _check_resolution(shape)
        channels = [width * 2**i for i in range(stages)]  # e.g. w, 2w, 4w
        layers: list[nn.Module] = [
            nn.Conv2d(shape[0], channels[0], 4, 2, 1),
            nn.LeakyReLU(0.2, True),
        ]
        for fan_in, fan_out in itertools.pairwise(channels):
            layers += [
                nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(fan_out),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(channels[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        if spectral_norm:  # SN-DCGAN; the BatchNorm layers stay, as in this D without SN
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()
