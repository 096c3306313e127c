"""Folders of PNG/JPEG images: decoded once and held as uint8 pixels when they fit in
``memory_mb``, else decoded on demand by DataLoader workers.

Batches stay a function of ``(seed, index)`` alone, so resumed runs are exact even with
DataLoader workers: the file list is sorted, each epoch's order is a seeded permutation (as in
TensorDataModule), and each worker decodes whole batches at the indices dealt to it round-robin,
which the DataLoader hands back in index order. A file that cannot be decoded is reported by
name, as a ConfigError, also when a worker process finds it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from ganopt.data.base import InMemoryDataModule
from ganopt.data.images import shown, to_float
from ganopt.data.order import EpochOrder
from ganopt.errors import ConfigError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageTransform:
    """PIL image -> uint8 (channels, resolution, resolution): optionally center-crop ``crop``
    pixels first, resize the shorter side to ``resolution``, then center-crop the square."""

    resolution: int
    channels: int = 3
    crop: int | None = None

    def __call__(self, image: Image.Image) -> Tensor:
        image = image.convert("L" if self.channels == 1 else "RGB")
        if self.crop is not None:
            image = TF.center_crop(image, [self.crop])
        image = TF.resize(image, [self.resolution], InterpolationMode.BILINEAR, antialias=True)
        return TF.pil_to_tensor(TF.center_crop(image, [self.resolution]))


def decode_error(path: str) -> Exception | None:
    """The error decoding the image at ``path`` raises, or None when it decodes."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as error:
        return error
    return None


def unreadable(path: str, error: Exception) -> ConfigError:
    reason = str(error) or type(error).__name__
    return ConfigError(f"Cannot read image {path}: {reason}. Remove or replace the file.")


class ImageFiles(Dataset[Tensor]):
    """Item i is file i, opened and transformed when asked for."""

    def __init__(self, paths: list[str], transform: Callable[[Image.Image], Tensor]) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return self.transform(image)
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, ...
            raise unreadable(path, error) from error


class FileBatches:
    """Batch ``index`` as float images in [-1, 1]; picklable, so workers compute batches too."""

    def __init__(self, files: ImageFiles, batch_size: int, seed: int) -> None:
        self.files, self.order = files, EpochOrder(len(files), batch_size, seed)

    def __call__(self, index: int) -> Tensor:
        return to_float(torch.stack([self.files[int(row)] for row in self.order.rows(index)]))


class PixelBatches:
    """Batch ``index`` from pixels decoded once: the same rows and floats as FileBatches."""

    def __init__(self, pixels: Tensor, batch_size: int, seed: int) -> None:
        self.pixels, self.order = pixels, EpochOrder(len(pixels), batch_size, seed)

    def __call__(self, index: int) -> Tensor:
        return to_float(self.pixels[self.order.rows(index)])


@dataclass
class Unreadable:
    """A worker's ConfigError, carried back as data so the message arrives without a traceback."""

    message: str


class IndexedBatches(IterableDataset):
    """The batches of a BatchStream (indices start·world + rank + k·world), dealt round-robin to
    the DataLoader's workers: worker w of W makes the k with k % W == w."""

    def __init__(self, make_batch: FileBatches, start: int, rank: int, world: int) -> None:
        self.make_batch, self.start, self.rank, self.world = make_batch, start, rank, world

    def __iter__(self) -> Iterator[Tensor | Unreadable]:
        info = get_worker_info()
        k, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        while True:
            index = (self.start + k) * self.world + self.rank
            try:
                batch = self.make_batch(index)
            except ConfigError as error:
                yield Unreadable(str(error))
                return
            yield batch
            k += workers


class BatchLoader(DataLoader):
    """A DataLoader over IndexedBatches that raises a worker's ConfigError as a ConfigError."""

    def __iter__(self) -> Iterator[Tensor]:  # type: ignore[override]
        for batch in super().__iter__():
            if isinstance(batch, Unreadable):
                raise ConfigError(batch.message)
            yield batch


class ImageFolderDataModule(InMemoryDataModule):
    """Every PNG/JPEG file under ``root`` (any depth, sorted), resized and center-cropped.

    Labels come from the top-level subfolders when every image lies in one of them and there are
    at least two (``root/cat/*.png``, ``root/dog/*.jpg``); otherwise there are none. Files with
    other suffixes and hidden files are skipped (and counted in the log). With ``verify`` every
    file is decoded once before training (``num_workers`` threads), so a non-image or a file
    whose body is damaged is reported by name before the first step.

    When the decoded images fit in ``memory_mb`` (uint8, channels x resolution^2 bytes each) they
    are decoded once, by ``num_workers`` threads, and batches are cut from memory with no worker
    processes (as fast as the in-memory data sets); larger folders are decoded every batch.
    """

    def __init__(
        self,
        root: str,
        batch_size: int = 64,
        resolution: int = 64,
        channels: int = 3,
        crop: int | None = None,
        num_workers: int = 2,
        verify: bool = True,
        memory_mb: float = 2048,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, seed)
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 3 (RGB) or 1 (grayscale), got {channels}.")
        if resolution < 1 or (crop is not None and crop < 1) or num_workers < 0:
            raise ConfigError(
                f"data.resolution and data.crop must be positive and data.num_workers >= 0, got "
                f"resolution={resolution}, crop={crop}, num_workers={num_workers}."
            )
        self.root, self.num_workers, self.verify = Path(root), num_workers, verify
        self.memory_mb = memory_mb
        self.transform = ImageTransform(resolution, channels, crop)
        self.shape = (channels, resolution, resolution)
        self.classes: list[str] = []
        self._files: ImageFiles  # set with the batches, on first use
        self._batches: FileBatches | PixelBatches | None = None
        self._labels: Tensor | None = None

    # ---- finding the files --------------------------------------------------------------------
    def scan(self) -> tuple[list[str], Tensor | None, list[str]]:
        """Image paths (sorted), their class labels or None, and the class names."""
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise ConfigError(
                f"data.root={shown(self.root)} {what}. Point data.root at a folder of PNG/JPEG "
                f"images (optionally one subfolder per class), e.g. python scripts/train.py "
                f"data=image_folder data.root=/path/to/images"
            )
        paths: list[str] = []
        skipped: list[str] = []
        for folder, subfolders, names in os.walk(self.root, followlinks=True):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                (paths if name.lower().endswith(IMAGE_SUFFIXES) else skipped).append(path)
        if skipped:
            log.info(
                "Skipped %d files under %s that are not PNG/JPEG, e.g. %s",
                len(skipped),
                self.root,
                ", ".join(skipped[:3]),
            )
        if not paths:
            others = f" (only {len(skipped)} other files, e.g. {skipped[0]})" if skipped else ""
            raise ConfigError(
                f"data.root={shown(self.root)} holds no PNG/JPEG images in any subfolder{others}. "
                f"Point data.root at a folder of .png/.jpg/.jpeg files."
            )
        parts = [Path(p).relative_to(self.root).parts for p in paths]
        classes = sorted({p[0] for p in parts if len(p) > 1})
        if len(classes) < 2 or any(len(p) == 1 for p in parts):
            return paths, None, []
        index = {name: i for i, name in enumerate(classes)}
        return paths, torch.tensor([index[p[0]] for p in parts]), classes

    def check_images(self, paths: list[str]) -> None:
        """Decode every file once, in parallel, so a damaged body is named before training (a
        valid header alone does not make an image)."""
        with ThreadPoolExecutor(max_workers=max(1, self.num_workers)) as pool:
            for path, error in zip(paths, pool.map(decode_error, paths), strict=True):
                if error is not None:
                    raise unreadable(path, error) from error

    def fits_in_memory(self, n_images: int) -> bool:
        return n_images * math.prod(self.shape) <= self.memory_mb * 2**20

    def decode_all(self, files: ImageFiles) -> Tensor:
        """Every image as one uint8 tensor, decoded by ``num_workers`` threads (PIL and the
        resize release the GIL)."""
        with ThreadPoolExecutor(max_workers=max(1, self.num_workers)) as pool:
            return torch.stack(list(pool.map(files.__getitem__, range(len(files)))))

    @property
    def batches(self) -> FileBatches | PixelBatches:
        if self._batches is None:
            paths, self._labels, self.classes = self.scan()
            if len(paths) < self.batch_size:
                self.check_images(paths)  # a damaged file first: the count advice needs it read
                raise ConfigError(
                    f"data.batch_size={self.batch_size} is larger than the data set "
                    f"({len(paths)} images under {self.root}); choose data.batch_size <= "
                    f"{len(paths)}."
                )
            files = ImageFiles(paths, self.transform)
            if self.fits_in_memory(len(paths)):  # decoding every file also verifies it
                pixels = self.decode_all(files)
                self._batches = PixelBatches(pixels, self.batch_size, self.seed)
            else:
                if self.verify:
                    self.check_images(paths)
                self._batches = FileBatches(files, self.batch_size, self.seed)
            self._files = files
            where = "in memory" if isinstance(self._batches, PixelBatches) else "decoded per batch"
            log.info(
                "%d images under %s, %d classes, %s",
                len(paths),
                self.root,
                len(self.classes),
                where,
            )
        return self._batches

    @property
    def files(self) -> ImageFiles:
        """The images as a map-style Dataset of uint8 tensors (e.g. for reference statistics)."""
        _ = self.batches
        return self._files

    @property
    def labels(self) -> Tensor | None:
        """Class labels of ``files`` (from subfolders) or None."""
        _ = self.batches
        return self._labels

    # ---- serving ------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        _ = self.batches  # scan (and report a bad root or file) before training starts

    def make_batch(self, index: int) -> Tensor:
        return self.batches(index)

    def train_dataloader(self) -> Iterable[Tensor]:
        stream = self.batch_stream()  # where to start, this rank's share
        if isinstance(self.batches, PixelBatches):
            return stream  # cut from memory in the training process, like digits
        return BatchLoader(
            IndexedBatches(self.batches, stream.start, stream.rank, stream.world),
            batch_size=None,  # the dataset yields whole batches
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
            # Starting an iterator draws a worker base seed: from this private generator, not
            # the global RNG, which the checkpoint restores and a resumed run must not disturb.
            generator=torch.Generator().manual_seed(self.seed),
        )
