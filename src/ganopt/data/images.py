"""Helpers shared by the image data sets: uint8 storage, float batches, messages.

Images are kept (in memory or in decoded batches) as uint8 and turned into float only one batch
at a time: CIFAR-10 takes 150 MB as uint8 and 600 MB as float32.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

FETCH_HINT = (
    "Run once with data.download=true on a machine with internet, or copy the files there, "
    "or point data.root=<dir> at the folder that holds them."
)


def to_float(images: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1] (0 -> -1 and 255 -> 1 exactly)."""
    return images.float().div_(127.5).sub_(1.0)


def resize_bytes(images: Tensor, resolution: int, chunk: int = 4096) -> Tensor:
    """Resize uint8 images (N, C, H, W) to ``resolution`` squared, in chunks to bound memory.

    Bilinear with antialiasing, like ``torchvision.transforms.Resize`` on PIL images, rounded
    back to uint8 so the resized set stays as small as the original.
    """
    if images.shape[-2:] == (resolution, resolution):
        return images
    out = torch.empty((*images.shape[:2], resolution, resolution), dtype=torch.uint8)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(resolution, resolution), mode="bilinear", antialias=True)
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def shown(path: Path) -> str:
    """A path as the user wrote it, plus its absolute form when that differs."""
    absolute = path.absolute()
    return str(path) if absolute == path else f"{path} ({absolute})"
