"""Seeded, index-addressed sampling: batch ``i`` depends only on ``(seed, i)``."""

from __future__ import annotations

import torch
from torch import Tensor


def generator_for(seed: int, index: int) -> torch.Generator:
    """A private RNG for one (seed, index) pair, independent of the global torch RNG."""
    return torch.Generator().manual_seed((seed << 32) + index)


class EpochOrder:
    """Rows of batch ``index``: a seeded permutation per epoch, the last partial batch dropped.

    Shared by in-memory tensors and by file-backed data sets; picklable, so DataLoader workers
    can compute it themselves.
    """

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self._cached: tuple[int, Tensor] | None = None

    def rows(self, index: int) -> Tensor:
        epoch, position = divmod(index, self.size // self.batch_size)
        if self._cached is None or self._cached[0] != epoch:
            order = torch.randperm(self.size, generator=generator_for(self.seed, epoch))
            self._cached = (epoch, order)
        return self._cached[1][position * self.batch_size : (position + 1) * self.batch_size]
