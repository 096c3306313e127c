"""scikit-learn's bundled 8x8 handwritten digits: a real image data set that needs no download."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor

from ganopt.data.base import TensorDataModule


class DigitsDataModule(TensorDataModule):
    """1,797 grayscale digits scaled to [-1, 1] and resized to ``resolution`` x ``resolution``."""

    def __init__(self, batch_size: int = 64, resolution: int = 32, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        self.resolution = resolution
        self.shape = (1, resolution, resolution)

    def load(self) -> tuple[Tensor, Tensor]:
        digits = load_digits()
        images = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # in [0, 1]
        if self.resolution != images.shape[-1]:
            images = F.interpolate(images, size=self.resolution, mode="bilinear", antialias=False)
        return (images * 2 - 1).clamp(-1, 1), torch.from_numpy(digits.target).long()
