"""SNGAN's residual G and D for 32-pixel images (Miyato et al. 2018; Gulrajani et al. 2017).

The CIFAR-10 architecture of both papers, as in the SNGAN reference code: G maps z through a
linear layer to 4x4 features and three up-sampling residual blocks (BatchNorm, ReLU, nearest
upsampling) to 32x32; D is an "optimized" first block (conv before the first ReLU, 32 -> 16),
one down-sampling block (16 -> 8) and two plain blocks, then ReLU, a global *sum* pool and a
linear head. Spectral norm is on for D by default (SNGAN); Xavier-uniform init with gain √2
inside residual branches and 1 on shortcuts and the linear/output layers, as in that code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from ganopt.models.common import apply_spectral_norm, check_image_shape

RESOLUTION = 32


def _conv(fan_in: int, fan_out: int, kernel: int, gain: float) -> nn.Conv2d:
    conv = nn.Conv2d(fan_in, fan_out, kernel, padding=kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # bias=True: a tensor
    return conv


def _linear(fan_in: int, fan_out: int) -> nn.Linear:
    linear = nn.Linear(fan_in, fan_out)
    nn.init.xavier_uniform_(linear.weight, 1.0)
    nn.init.zeros_(linear.bias)
    return linear


class GBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv, plus an up-sampled 1x1-conv shortcut."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(fan_in),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv(fan_in, fan_out, 3, math.sqrt(2)),
            nn.BatchNorm2d(fan_out),
            nn.ReLU(),
            _conv(fan_out, fan_out, 3, math.sqrt(2)),
        )
        self.shortcut = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(fan_in, fan_out, 1, 1.0)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)


class DBlock(nn.Module):
    """ReLU-conv-ReLU-conv(-avgpool), with a 1x1-conv shortcut when the shape changes.

    ``first``: SNGAN's optimized block on the image itself, with no ReLU before the first conv
    and the pooling before the shortcut's conv (cheaper, same function class).
    """

    def __init__(self, fan_in: int, fan_out: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        pool = [nn.AvgPool2d(2)] if downsample else []
        self.residual = nn.Sequential(
            *([] if first else [nn.ReLU()]),  # not in place: x also feeds the shortcut
            _conv(fan_in, fan_out, 3, math.sqrt(2)),
            nn.ReLU(),
            _conv(fan_out, fan_out, 3, math.sqrt(2)),
            *pool,
        )
        self.shortcut: nn.Module
        if first:
            self.shortcut = nn.Sequential(*pool, _conv(fan_in, fan_out, 1, 1.0))
        elif downsample or fan_in != fan_out:
            self.shortcut = nn.Sequential(_conv(fan_in, fan_out, 1, 1.0), *pool)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)


class ResNetGenerator(nn.Module):
    def __init__(
        self,
        shape: Sequence[int],
        latent_dim: int = 128,
        width: int = 256,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        channels, _, _ = check_image_shape(shape, "resnet", [RESOLUTION])
        self.shape, self.latent_dim, self.width = tuple(shape), latent_dim, width
        self.input = _linear(latent_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*[GBlock(width, width) for _ in range(3)])  # 4 -> 32
        self.output = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), _conv(width, channels, 3, 1.0), nn.Tanh()
        )
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor) -> Tensor:
        h = self.input(z).view(len(z), self.width, 4, 4)
        return self.output(self.blocks(h))


class ResNetDiscriminator(nn.Module):
    def __init__(self, shape: Sequence[int], width: int = 128, spectral_norm: bool = True) -> None:
        super().__init__()
        channels, _, _ = check_image_shape(shape, "resnet", [RESOLUTION])
        self.blocks = nn.Sequential(
            DBlock(channels, width, downsample=True, first=True),  # 32 -> 16
            DBlock(width, width, downsample=True),  # 16 -> 8
            DBlock(width, width, downsample=False),
            DBlock(width, width, downsample=False),
            nn.ReLU(),
        )
        self.head = _linear(width, 1)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        features = self.blocks(x).sum(dim=(2, 3))  # global sum pooling, as in SNGAN
        return self.head(features).squeeze(1)
