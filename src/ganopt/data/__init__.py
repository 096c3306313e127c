"""Datamodules. Small data sets live in memory as tensors and are served as endless,
deterministic batch streams (no DataLoader workers, exact resume)."""

from ganopt.data.base import BatchStream, InMemoryDataModule
from ganopt.data.digits import DigitsDataModule
from ganopt.data.mixtures import MixtureDataModule, grid_means, ring_means

__all__ = [
    "BatchStream",
    "DigitsDataModule",
    "InMemoryDataModule",
    "MixtureDataModule",
    "grid_means",
    "ring_means",
]
