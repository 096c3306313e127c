"""CelebA (Liu et al. 2015): 202,599 aligned 178x218 face photos, the classic 64x64 GAN set."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import Tensor
from torchvision import datasets

from ganopt.data.image_folder import IMAGE_SUFFIXES, ImageFolderDataModule
from ganopt.data.images import shown
from ganopt.errors import ConfigError, one_line

log = logging.getLogger(__name__)

SPLITS = {"train": "0", "valid": "1", "test": "2", "all": None}  # list_eval_partition.txt codes
PARTITION = "list_eval_partition.txt"


class CelebADataModule(ImageFolderDataModule):
    """The aligned-and-cropped CelebA images in ``<root>/celeba/img_align_celeba``.

    By default each photo's shorter side is resized to ``resolution`` and the center square
    kept (the DCGAN recipe: 64x64, face plus some background); ``crop=108`` or ``140`` first
    center-crops that many pixels (face only), as many GAN papers do. ``split="all"`` (every
    image, the usual GAN training set) needs only the image folder; train/valid/test also read
    ``list_eval_partition.txt``. Decoded on demand by ``num_workers`` DataLoader workers unless
    it fits in ``memory_mb`` (64x64: 2.5 GB), with exact resume (see ganopt.data.image_folder).
    """

    def __init__(
        self,
        root: str,
        batch_size: int = 64,
        resolution: int = 64,
        crop: int | None = None,
        split: str = "all",
        download: bool = False,
        num_workers: int = 2,
        verify: bool = False,
        memory_mb: float = 2048,
        seed: int = 0,
    ) -> None:
        super().__init__(
            root,
            batch_size,
            resolution,
            channels=3,
            crop=crop,
            num_workers=num_workers,
            verify=verify,
            memory_mb=memory_mb,
            seed=seed,
        )
        if split not in SPLITS:
            raise ConfigError(f"data.split={split!r} is not one of {', '.join(SPLITS)}.")
        self.split, self.download = split, download

    @property
    def folder(self) -> Path:
        return self.root / datasets.CelebA.base_folder

    def missing(self) -> list[str]:
        """What the loader needs and lacks: the image folder, and the partition file for a split."""
        missing = [] if (self.folder / "img_align_celeba").is_dir() else ["img_align_celeba/"]
        if SPLITS[self.split] is not None and not (self.folder / PARTITION).is_file():
            missing.append(PARTITION)
        return missing

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node before setup: DDP ranks do not race.
        if self.download and self.missing():
            self.fetch()

    def fetch(self) -> None:
        log.info("Downloading CelebA into %s", self.folder.absolute())
        try:
            datasets.CelebA(str(self.root), split="all", target_type=[], download=True)
        except Exception as error:  # gdown missing, Google Drive quota, bad MD5, no network
            raise ConfigError(
                f"Downloading CelebA into {shown(self.folder)} failed: {one_line(error)}. "
                f"Google Drive often refuses (daily quota); download img_align_celeba.zip (and "
                f"{PARTITION}) from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html yourself "
                f"and unzip it there."
            ) from error

    def scan(self) -> tuple[list[str], Tensor | None, list[str]]:
        if self.download and self.missing():
            self.fetch()
        if missing := self.missing():
            split = SPLITS[self.split] is not None
            partition = f" and {PARTITION} (for data.split={self.split})" if split else ""
            raise ConfigError(
                f"CelebA not found under {shown(self.folder)} (expected the aligned images "
                f"img_align_celeba/000001.jpg ... 202599.jpg, unzipped from img_align_celeba.zip"
                f"{partition}; missing: {', '.join(missing)}). Run once with data.download=true "
                f"on a machine with internet (needs `pip install gdown`), or download the files "
                f"from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and unzip them there, "
                f"or point data.root=<dir> at the folder that holds celeba/."
            )
        images = self.folder / "img_align_celeba"
        code = SPLITS[self.split]
        if code is None:
            names = sorted(p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            rows = [line.split() for line in (self.folder / PARTITION).read_text().splitlines()]
            names = [row[0] for row in rows if len(row) == 2 and row[1] == code]
            if absent := [name for name in names if not (images / name).is_file()]:
                raise ConfigError(
                    f"{len(absent)} images listed in {PARTITION} for data.split={self.split} are "
                    f"missing from {shown(images)} (e.g. {absent[0]}); unzip img_align_celeba.zip "
                    f"there again, or use data.split=all."
                )
        if not names:
            raise ConfigError(
                f"CelebA folder {shown(images)} holds no .jpg images for data.split={self.split}; "
                f"unzip img_align_celeba.zip there."
            )
        return [str(images / name) for name in names], None, []
