"""Datamodules, all served as endless deterministic batch streams (batch i depends only on
(seed, i), so resume is exact). Data sets that fit in memory are tensors with no DataLoader
workers; image folders and CelebA decode files in DataLoader workers."""

from ganopt.data.base import BatchStream, InMemoryDataModule
from ganopt.data.celeba import CelebADataModule
from ganopt.data.digits import DigitsDataModule
from ganopt.data.image_folder import ImageFolderDataModule, ImageTransform
from ganopt.data.mixtures import MixtureDataModule, grid_means, ring_means
from ganopt.data.stacked import StackedDataModule
from ganopt.data.torchvision_sets import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
)

__all__ = [
    "BatchStream",
    "CIFAR10DataModule",
    "CelebADataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageFolderDataModule",
    "ImageTransform",
    "InMemoryDataModule",
    "MNISTDataModule",
    "MixtureDataModule",
    "StackedDataModule",
    "grid_means",
    "ring_means",
]
