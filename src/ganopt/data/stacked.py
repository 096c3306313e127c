"""Stacked digits: three random examples of a labelled one-channel data set as the R, G and B
channels of one image (Stacked MNIST: Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
An image's mode is the triple of its digits' labels, so ten classes make 1,000 modes: a
mode-collapse benchmark at image scale."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from ganopt.data.base import InMemoryDataModule, TensorDataModule
from ganopt.data.images import to_float
from ganopt.data.order import generator_for
from ganopt.errors import ConfigError


@contextmanager
def base_keys() -> Iterator[None]:
    """The base data set's messages name its keys, which are one level down here."""
    try:
        yield
    except ConfigError as error:
        raise ConfigError(str(error).replace("data.", "data.base.")) from None


class StackedDataModule(InMemoryDataModule):
    """Batch ``i`` stacks ``3 x batch_size`` examples of ``base`` drawn with a generator seeded
    by (seed, i): an endless stream of fresh triples, deterministic, so resume is exact."""

    def __init__(self, base: TensorDataModule, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        channels, *size = base.shape
        if channels != 1:
            raise ConfigError(
                f"data.base has {channels} channels per image; stacking takes a one-channel "
                "data set (digits, mnist, fashion_mnist) and makes its three channels."
            )
        self.base = base
        self.shape = (3, *size)

    def prepare_data(self) -> None:
        with base_keys():
            self.base.prepare_data()  # MNIST: its files are there, or a clear message

    def setup(self, stage: str) -> None:
        with base_keys():
            self.base.setup(stage)

    def triples(self, index: int) -> Tensor:
        """The base examples (rows) stacked in batch ``index``: (batch_size, 3)."""
        size, generator = (self.batch_size, 3), generator_for(self.seed, index)
        return torch.randint(len(self.base.data), size, generator=generator)

    def make_batch(self, index: int) -> Tensor:
        images = self.base.data[self.triples(index)].flatten(
            1, 2
        )  # (B, 3, 1, H, W) -> (B, 3, H, W)
        return images if images.is_floating_point() else to_float(images)

    def modes_of(self, labels: Tensor) -> Tensor:
        """Each image's mode from its channels' labels (B, 3): 100·r + 10·g + b for digits."""
        n = self.n_classes
        return labels[:, 0] * n * n + labels[:, 1] * n + labels[:, 2]

    @property
    def n_classes(self) -> int:
        labels = self.base.labels
        if labels is None:
            raise ConfigError("data.base has no labels: stacking needs a labelled data set.")
        return int(labels.max()) + 1
