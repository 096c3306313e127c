"""Latent codes and samples of a trained generator: the same codes as training's evaluation
(a seeded CPU generator) on any device, interpolation paths between codes, grid sizes."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganopt.models import latent_dim


def latents(network: nn.Module, n: int, seed: int) -> Tensor:
    """``n`` latent codes from a seeded CPU generator: the same codes as the evaluation
    callback's (``GAN.noise`` with ``torch.Generator().manual_seed(seed)``) on any device."""
    codes = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim(network), generator=codes)


@torch.no_grad()
def generate(
    network: nn.Module, z: Tensor, device: str | torch.device = "cpu", batch_size: int = 1000
) -> Tensor:
    """``network(z)`` in eval mode, ``batch_size`` codes at a time, as float32 on the CPU.

    One batch when ``len(z) <= batch_size``, exactly as training's evaluation does; batches
    keep 50k-sample evaluations within GPU memory.
    """
    network = network.to(device).eval()
    parts = [network(part.to(device)).float().cpu() for part in z.split(batch_size)]
    return torch.cat(parts)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (White 2016) between rows of ``a`` and ``b`` at fractions ``t``:
    (rows, frames, dim). Keeps the norm typical of Gaussian latents, which a straight line
    through the low-norm middle does not; falls back to a line for (anti)parallel rows."""
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1.0, 1.0)
    omega = torch.acos(cos)[:, None, None]
    t = t[None, :, None]
    sin = torch.sin(omega)
    spherical = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / sin
    return torch.where(sin.abs() > 1e-6, spherical, lerp(a, b, t[0, :, 0]))


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Linear interpolation between rows of ``a`` and ``b``: (rows, frames, dim)."""
    return a[:, None] + t[None, :, None] * (b - a)[:, None]


INTERPOLATIONS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "slerp": slerp,
    "lerp": lerp,
}


def interpolation_latents(z: Tensor, frames: int, rows: int, mode: str = "slerp") -> Tensor:
    """(rows, frames, dim) codes: row i goes from ``z[2i]`` to ``z[2i + 1]`` in ``frames`` steps,
    both ends included."""
    t = torch.linspace(0.0, 1.0, frames)
    return INTERPOLATIONS[mode](z[0 : 2 * rows : 2], z[1 : 2 * rows : 2], t)


def grid_columns(n: int) -> int:
    """Columns of a near-square grid of ``n`` images (as many columns as rows, or one more)."""
    return math.ceil(math.sqrt(n))
