"""MNIST, Fashion-MNIST and CIFAR-10: small enough to hold in memory as one uint8 tensor.

They keep TensorDataModule's index-addressed batches (exact resume, no workers); only the batch
being served is converted to float in [-1, 1]. Nothing is downloaded unless ``download=True``:
offline, a missing data set is a ConfigError that says which files belong where.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision import datasets

from ganopt.data.base import TensorDataModule
from ganopt.data.images import FETCH_HINT, resize_bytes, shown, to_float
from ganopt.errors import ConfigError, one_line

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "all")


class ByteImageDataModule(TensorDataModule):
    """A torchvision image set held as uint8 (N, C, R, R); batches are float in [-1, 1].

    ``data`` is therefore uint8 (0..255); ``make_batch`` (what training sees) is float. The
    ``shape`` is known from the config alone, so models are built without touching the disk.
    Subclasses say where the files are (``folder``, ``expected``), how to fetch them with
    torchvision (``fetch``) and how to read them (``read``).
    """

    name: str
    channels: int

    def __init__(
        self,
        root: str,
        batch_size: int = 64,
        resolution: int = 32,
        split: str = "train",
        download: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, seed)
        if split not in SPLITS:
            raise ConfigError(f"data.split={split!r} is not one of {', '.join(SPLITS)}.")
        if resolution < 1:
            raise ConfigError(f"data.resolution must be a positive integer, got {resolution}.")
        self.root, self.resolution = Path(root), resolution
        self.split, self.download = split, download
        self.shape = (self.channels, resolution, resolution)

    # ---- what subclasses define -------------------------------------------------------------
    @property
    def folder(self) -> Path:
        """Where the files this data set is read from live."""
        raise NotImplementedError

    def expected(self) -> list[str]:
        """File names (in ``folder``) the loader needs."""
        raise NotImplementedError

    def fetch(self) -> None:
        """Download into ``root`` with torchvision (which checks the archives' MD5 sums)."""
        raise NotImplementedError

    def read(self) -> tuple[Tensor, Tensor]:
        """uint8 images (N, C, H, W) of ``split`` and their int64 labels (N,)."""
        raise NotImplementedError

    # ---- loading ----------------------------------------------------------------------------
    def missing(self) -> list[str]:
        return [name for name in self.expected() if not (self.folder / name).is_file()]

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node before setup: DDP ranks do not race.
        if self.download and self.missing():
            self._download()

    def setup(self, stage: str | None = None) -> None:
        _ = self.data  # load (and report missing files) before training starts

    def _download(self) -> None:
        log.info("Downloading %s into %s", self.name, self.root.absolute())
        try:
            self.fetch()
        except Exception as error:  # URLError, RuntimeError (bad MD5, HTTP), OSError, ...
            raise ConfigError(
                f"Downloading {self.name} into {shown(self.root)} failed: {one_line(error)}. "
                f"Check the internet connection, or copy the files "
                f"({', '.join(self.expected())}) into {shown(self.folder)} yourself."
            ) from error

    def load(self) -> tuple[Tensor, Tensor]:
        if self.download and self.missing():
            self._download()
        if missing := self.missing():
            absent = "all of them" if missing == self.expected() else ", ".join(missing)
            raise ConfigError(
                f"{self.name} not found under {shown(self.folder)} (expected "
                f"{', '.join(self.expected())}; missing: {absent}). {FETCH_HINT}"
            )
        images, labels = self.read()
        return resize_bytes(images, self.resolution), labels

    def make_batch(self, index: int) -> Tensor:
        return to_float(super().make_batch(index))

    def unreadable(self, error: Exception) -> ConfigError:
        return ConfigError(
            f"{self.name} files under {shown(self.folder)} could not be read ({error}). They may "
            f"be truncated or from another data set: delete them and run once with "
            f"data.download=true, or copy intact files there."
        )


class MNISTDataModule(ByteImageDataModule):
    """MNIST (LeCun et al. 1998): 60,000 + 10,000 grayscale 28x28 digits, read by torchvision
    from the unpacked IDX files in ``<root>/MNIST/raw``."""

    name, channels = "MNIST", 1
    torchvision_class: type[datasets.MNIST] = datasets.MNIST

    @property
    def folder(self) -> Path:
        return self.root / self.torchvision_class.__name__ / "raw"

    def expected(self) -> list[str]:
        # torchvision's own check wants all four files, whichever split is read.
        return [Path(name).stem for name, _ in self.torchvision_class.resources]

    def missing(self) -> list[str]:
        processed = self.root / self.torchvision_class.__name__ / "processed"
        if all((processed / name).is_file() for name in ("training.pt", "test.pt")):
            return []  # the legacy layout of torchvision < 0.9, which torchvision still reads
        return super().missing()

    def fetch(self) -> None:
        self.torchvision_class(str(self.root), train=True, download=True)

    def read(self) -> tuple[Tensor, Tensor]:
        parts = [("train", True), ("test", False)]
        images, labels = [], []
        for split, train in parts:
            if self.split in (split, "all"):
                try:
                    loaded = self.torchvision_class(str(self.root), train=train, download=False)
                except Exception as error:  # a wrong magic number, a truncated file, ...
                    raise self.unreadable(error) from error
                images.append(loaded.data.unsqueeze(1))
                labels.append(loaded.targets.long())
        return torch.cat(images), torch.cat(labels)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Xiao et al. 2017): MNIST's format and size, ten kinds of clothing;
    files in ``<root>/FashionMNIST/raw``."""

    name = "Fashion-MNIST"
    torchvision_class = datasets.FashionMNIST


class CIFAR10DataModule(ByteImageDataModule):
    """CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 colour 32x32 images of ten classes.

    Read directly from the python batches in ``<root>/cifar-10-batches-py`` (a dict per file
    with ``data`` (N, 3072) uint8 and ``labels``). torchvision's CIFAR10 class would also verify
    every file's MD5 sum on each load; here that check happens once, when ``download=True``
    fetches the archive through torchvision, and a damaged file is reported by name instead.
    """

    name, channels = "CIFAR-10", 3

    @property
    def folder(self) -> Path:
        return self.root / datasets.CIFAR10.base_folder

    def files(self) -> list[str]:
        train = [name for name, _ in datasets.CIFAR10.train_list]
        test = [name for name, _ in datasets.CIFAR10.test_list]
        return {"train": train, "test": test, "all": train + test}[self.split]

    def expected(self) -> list[str]:
        return self.files()

    def fetch(self) -> None:
        datasets.CIFAR10(str(self.root), train=True, download=True)

    def read(self) -> tuple[Tensor, Tensor]:
        images, labels = [], []
        for name in self.files():
            path = self.folder / name
            try:
                with path.open("rb") as file:
                    batch = pickle.load(file, encoding="latin1")
                data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                targets = np.asarray(batch["labels"], dtype=np.int64)
                if len(targets) != len(data):
                    raise ValueError(f"{len(data)} images but {len(targets)} labels")
            except Exception as error:  # unpickling errors, missing keys, wrong sizes
                raise ConfigError(
                    f"CIFAR-10 file {shown(path)} could not be read ({type(error).__name__}: "
                    f"{error}). Delete it and run once with data.download=true, or copy an intact "
                    f"copy there."
                ) from error
            images.append(torch.from_numpy(data))
            labels.append(torch.from_numpy(targets))
        return torch.cat(images), torch.cat(labels)
