"""In-memory datamodules served as endless, index-addressed batch streams.

Batch ``i`` depends only on ``(seed, i)``. That makes a resumed run see exactly the batches the
uninterrupted run would have seen (the stream restarts at the number of batches the module has
trained on), avoids per-sample indexing and collation (a DataLoader over a TensorDataset costs
more than a small GAN step), and gives every DDP rank its own disjoint share of batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor

from ganopt.data.order import EpochOrder
from ganopt.errors import ConfigError


def examples(batch: Any) -> Tensor:
    """The real examples in a batch from any DataLoader: the batch itself (a tensor), the first
    item of an ``(x, y)`` tuple or list (torchvision's convention), or a dict's first
    floating-point tensor (``{"image": x, "label": y}``)."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    if isinstance(batch, Mapping):
        for value in batch.values():
            if isinstance(value, Tensor) and value.is_floating_point():
                return value
    raise ConfigError(
        f"the datamodule's train_dataloader() yields batches of type {type(batch).__name__}, "
        "in which ganopt finds no examples: it takes a tensor, an (x, y) tuple or list, or a "
        "dict holding a floating-point tensor (e.g. {'image': x, 'label': y}), with examples "
        "in [-1, 1]."
    )


def real_examples(datamodule: L.LightningDataModule, n: int) -> Tensor:
    """``n`` real examples as floats: the datamodule's own ``real_samples(n)`` (ganopt's), or the
    first batches of any datamodule's ``train_dataloader()``, drawn without touching the
    global RNG (a shuffling DataLoader draws from it)."""
    own = getattr(datamodule, "real_samples", None)
    if callable(own):
        return own(n)
    found: list[Tensor] = []
    with torch.random.fork_rng(devices=[]):
        for batch in datamodule.train_dataloader():
            found.append(examples(batch).float())
            if sum(map(len, found)) >= n:
                break
    return torch.cat(found)[:n]


def data_shape(datamodule: L.LightningDataModule) -> tuple[int, ...]:
    """The shape of one example, which the networks are built for: the datamodule's ``shape``
    when it says it, else that of its first batch (after ``prepare_data`` and ``setup``)."""
    shape = getattr(datamodule, "shape", None)
    if shape is not None:
        return tuple(shape)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return tuple(real_examples(datamodule, 1).shape[1:])


class BatchStream:
    """Yields ``make_batch(i)`` for i = start·world + rank, then every ``world``-th index."""

    def __init__(
        self, make_batch: Callable[[int], Tensor], start: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        self.make_batch, self.start, self.rank, self.world = make_batch, start, rank, world

    def __iter__(self) -> Iterator[Tensor]:
        index = self.start * self.world + self.rank
        while True:
            yield self.make_batch(index)
            index += self.world


class InMemoryDataModule(L.LightningDataModule):
    """Base class: subclasses define ``shape`` and ``make_batch(index)``."""

    shape: tuple[int, ...]

    def __init__(self, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.batch_size, self.seed = batch_size, seed
        self.position = 0  # batches trained on: where the stream resumes (saved in checkpoints)

    def make_batch(self, index: int) -> Tensor:
        raise NotImplementedError

    def train_dataloader(self) -> Iterable[Tensor]:
        return self.batch_stream()

    def batch_stream(self) -> BatchStream:
        """Batches from the stream position on, this rank's share of them."""
        rank, world = (
            (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        )
        return BatchStream(self.make_batch, self.position, rank, world)

    # ---- the stream position, in the checkpoint (Lightning saves a datamodule's state) --------
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.training:  # not evaluation's batch
            self.position += 1  # counted when training takes the batch, not when prefetched
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.position = int(state_dict["position"])

    def real_samples(self, n: int) -> Tensor:
        """``n`` real examples as floats, the first batches of the stream: a metric's reference."""
        batches, index, count = [], 0, 0
        while count < n:
            batches.append(self.make_batch(index))
            count, index = count + len(batches[-1]), index + 1
        return torch.cat(batches)[:n]


class TensorDataModule(InMemoryDataModule):
    """A fixed tensor of examples (and labels, when it has them), reshuffled every epoch with a
    seeded permutation."""

    def __init__(self, batch_size: int, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        self._data: Tensor | None = None
        self._labels: Tensor | None = None
        self._order: EpochOrder | None = None

    def load(self) -> tuple[Tensor, Tensor | None]:
        """Every training example as one tensor (N, *shape), float in [-1, 1] or uint8 pixels
        (converted a batch at a time), and the class labels (N,) or None."""
        raise NotImplementedError

    @property
    def data(self) -> Tensor:
        if self._data is None:
            self._data, self._labels = self.load()
            if len(self._data) < self.batch_size:
                raise ConfigError(
                    f"data.batch_size={self.batch_size} is larger than the data set "
                    f"({len(self._data)} examples); choose data.batch_size <= {len(self._data)}."
                )
        return self._data

    @property
    def labels(self) -> Tensor | None:
        """Class labels of ``data`` when the data set has them (used by classifier metrics)."""
        _ = self.data
        return self._labels

    def make_batch(self, index: int) -> Tensor:
        if self._order is None:
            self._order = EpochOrder(len(self.data), self.batch_size, self.seed)
        return self.data[self._order.rows(index)]
