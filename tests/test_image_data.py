"""Image data sets on tiny synthetic copies of their on-disk formats: loading, training, errors.

Nothing is downloaded: each test writes the files torchvision (or the folder scan) reads.
"""

from __future__ import annotations

import json
import pickle
import socket
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import FAST, TINY_DCGAN
from hydra.utils import instantiate
from PIL import Image

from ganopt.app.train import train
from ganopt.data import (
    CelebADataModule,
    CIFAR10DataModule,
    ImageFolderDataModule,
    ImageTransform,
    MNISTDataModule,
)
from ganopt.data.base import BatchStream
from ganopt.data.image_folder import BatchLoader
from ganopt.errors import ConfigError

RNG = np.random.default_rng(0)


# ---- writing tiny data sets ---------------------------------------------------------------------
def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """The IDX format: big-endian magic (0x0803 images, 0x0801 labels), sizes, then bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    header = struct.pack(">IIII", 0x0803, n, h, w)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x0801, n) + labels.tobytes()
    )


def write_mnist(root: Path, name: str = "MNIST", n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = 0, 255  # both ends of the range
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(root / name / "raw", "train", images, labels)
    write_idx(root / name / "raw", "t10k", images[:16], labels[:16])
    return images, labels


def write_cifar(root: Path, per_batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py: pickled dicts with data (N, 3072) uint8 rows (R, G, B planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = RNG.integers(0, 256, (6 * per_batch, 3, 32, 32), dtype=np.uint8)
    images[:, 0, 0, 0], images[:, 2, 0, 0] = 0, 255
    labels = np.arange(6 * per_batch) % 10
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        rows = slice(i * per_batch, (i + 1) * per_batch)
        batch = {"data": images[rows].reshape(per_batch, -1), "labels": labels[rows].tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(
        pickle.dumps({"label_names": [str(i) for i in range(10)]})
    )
    return images[: 5 * per_batch], labels[: 5 * per_batch]


def write_image_folder(root: Path, per_class: int = 12) -> Path:
    """Two classes, PNG (RGB, RGBA, grayscale) and JPEG, of different non-square sizes."""
    for label, (name, suffix) in enumerate([("cat", "png"), ("dog", "jpg")]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            size = (24 + i, 20) if i % 2 else (20, 30 + i)
            pixels = RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(pixels)
            if suffix == "png" and i % 3 == 1:
                image = image.convert("RGBA")
            elif suffix == "png" and i % 3 == 2:
                image = image.convert("L")
            image.save(root / name / f"{label}_{i:03d}.{suffix}")
    (root / "cat" / "notes.txt").write_text("not an image, skipped")
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def datamodule(make_cfg, *overrides: str):
    return instantiate(make_cfg(*overrides).data)


def trains(make_cfg, option: str, *overrides: str) -> None:
    """A real 6-step training (tiny DCGAN, 16x16) on data=option finishes and saves samples."""
    cfg = make_cfg(
        *FAST, *TINY_DCGAN, f"data={option}", "data.resolution=16", "data.batch_size=16", *overrides
    )
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6
    assert all(np.isfinite(metrics[k]) for k in ("loss/d", "loss/g"))
    run = Path(cfg.paths.output_dir)
    assert json.loads((run / "metrics.json").read_text())["config"]["data"] == option
    assert (run / "samples" / "step_0000006.png").is_file()


# ---- MNIST and Fashion-MNIST --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_mnist_formats_load_as_uint8_and_serve_float_batches(
    make_cfg, tmp_path: Path, no_network: None, option: str, folder: str
) -> None:
    images, labels = write_mnist(tmp_path / "data", folder)
    native = datamodule(
        make_cfg, f"data={option}", f"data.root={tmp_path / 'data'}", "data.resolution=28"
    )
    assert native.shape == (1, 28, 28)
    assert native.data.dtype == torch.uint8
    assert torch.equal(native.data, torch.from_numpy(images).unsqueeze(1))
    assert torch.equal(native.labels, torch.from_numpy(labels).long())
    batch = native.make_batch(0)
    assert batch.dtype == torch.float32 and batch.shape == (64, 1, 28, 28)
    assert batch.min() == -1 and batch.max() == 1  # 0 -> -1 and 255 -> 1 exactly
    assert torch.equal(batch.sort(0).values, (native.data.float() / 127.5 - 1).sort(0).values)

    resized = datamodule(make_cfg, f"data={option}", f"data.root={tmp_path / 'data'}")
    assert resized.shape == (1, 32, 32)
    assert resized.make_batch(0).shape == (64, 1, 32, 32)
    assert resized.make_batch(3).min() >= -1 and resized.make_batch(3).max() <= 1
    everything = datamodule(
        make_cfg, f"data={option}", f"data.root={tmp_path / 'data'}", "data.split=all"
    )
    assert len(everything.data) == 64 + 16


@pytest.mark.parametrize(
    ("option", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_trains_on_mnist_formats(make_cfg, tmp_path: Path, option: str, folder: str) -> None:
    write_mnist(tmp_path / "data", folder)
    trains(make_cfg, option, f"data.root={tmp_path / 'data'}")


def test_missing_mnist_says_which_files_belong_where(
    make_cfg, tmp_path: Path, no_network: None
) -> None:
    cfg = make_cfg(*FAST, *TINY_DCGAN, "data=mnist", f"data.root={tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError) as error:
        train(cfg)  # the whole path a user takes: the message arrives unwrapped
    message = str(error.value)
    assert f"MNIST not found under {tmp_path / 'nowhere' / 'MNIST' / 'raw'}" in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert "data.download=true" in message and "\n" not in message


def test_partly_missing_mnist_names_the_missing_file(
    make_cfg, tmp_path: Path, no_network: None
) -> None:
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ConfigError, match=r"missing: t10k-labels-idx1-ubyte\)"):
        _ = datamodule(make_cfg, "data=mnist", f"data.root={tmp_path}").data


def test_corrupt_mnist_is_a_config_error(make_cfg, tmp_path: Path, no_network: None) -> None:
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(ConfigError, match="could not be read"):
        _ = datamodule(make_cfg, "data=mnist", f"data.root={tmp_path}").data


def test_download_failure_is_one_paragraph(make_cfg, tmp_path: Path, no_network: None) -> None:
    """data.download=true offline: torchvision's URLError/RuntimeError becomes a ConfigError."""
    dm = datamodule(make_cfg, "data=mnist", f"data.root={tmp_path}", "data.download=true")
    with pytest.raises(ConfigError, match=r"Downloading MNIST into .* failed"):
        dm.prepare_data()


# ---- CIFAR-10 -----------------------------------------------------------------------------------
def test_cifar10_loads_rgb_with_labels(make_cfg, tmp_path: Path, no_network: None) -> None:
    images, labels = write_cifar(tmp_path)
    dm = datamodule(make_cfg, "data=cifar10", f"data.root={tmp_path}")
    assert isinstance(dm, CIFAR10DataModule) and dm.shape == (3, 32, 32)
    assert torch.equal(dm.data, torch.from_numpy(images))  # channel planes in R, G, B order
    assert torch.equal(dm.labels, torch.from_numpy(labels))
    batch = dm.make_batch(0)
    assert batch.shape == (64, 3, 32, 32) and batch.min() == -1 and batch.max() == 1
    small = datamodule(make_cfg, "data=cifar10", f"data.root={tmp_path}", "data.resolution=16")
    assert small.make_batch(0).shape == (64, 3, 16, 16) and small.data.dtype == torch.uint8


def test_trains_on_cifar10(make_cfg, tmp_path: Path) -> None:
    write_cifar(tmp_path)
    trains(make_cfg, "cifar10", f"data.root={tmp_path}")


def test_missing_cifar10_says_which_files_belong_where(
    make_cfg, tmp_path: Path, no_network: None
) -> None:
    dm = datamodule(make_cfg, "data=cifar10", f"data.root={tmp_path}")
    with pytest.raises(ConfigError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert f"CIFAR-10 not found under {tmp_path / 'cifar-10-batches-py'}" in message
    assert "data_batch_1" in message and "data_batch_5" in message
    assert "data.download=true" in message


def test_corrupt_cifar10_file_is_named(make_cfg, tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    dm = datamodule(make_cfg, "data=cifar10", f"data.root={tmp_path}")
    with pytest.raises(ConfigError, match="data_batch_3 could not be read"):
        _ = dm.data


# ---- image folders ------------------------------------------------------------------------------
def test_image_folder_labels_shape_and_range(make_cfg, tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    common = ["data=image_folder", f"data.root={root}", "data.batch_size=8"]
    dm = datamodule(make_cfg, *common, "data.resolution=16")
    assert isinstance(dm, ImageFolderDataModule) and dm.shape == (3, 16, 16)
    dm.setup("fit")
    assert dm.classes == ["cat", "dog"]
    assert dm.labels.tolist() == [0] * 12 + [1] * 12  # notes.txt skipped
    assert dm.files[0].dtype == torch.uint8 and dm.files[0].shape == (3, 16, 16)
    batch = dm.make_batch(0)
    assert batch.shape == (8, 3, 16, 16) and batch.dtype == torch.float32
    rows = dm.batches.order.rows(0)  # the seeded epoch order, decoded file by file
    assert torch.equal(batch, torch.stack([dm.files[int(r)] for r in rows]).float() / 127.5 - 1)

    gray = datamodule(make_cfg, *common, "data.channels=1")
    batch = gray.make_batch(0)
    assert gray.shape == (1, 64, 64) and batch.shape == (8, 1, 64, 64)
    assert batch.dtype == torch.float32 and batch.min() >= -1 and batch.max() <= 1

    single = datamodule(make_cfg, *common, f"data.root={root / 'cat'}")
    assert single.labels is None and single.classes == []


def test_trains_on_image_folder(make_cfg, tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    trains(make_cfg, "image_folder", f"data.root={root}", "data.num_workers=0")


def test_image_folder_batches_are_exact_on_resume_with_workers(make_cfg, tmp_path: Path) -> None:
    """The DataLoader (2 workers) yields make_batch(start), make_batch(start + 1), ...: a resumed
    run (start = the batches already trained on) sees what the uninterrupted run saw."""
    root = write_image_folder(tmp_path / "images")
    dm = datamodule(
        make_cfg,
        "data=image_folder",
        f"data.root={root}",
        "data.resolution=8",
        "data.batch_size=5",
        "data.num_workers=2",
        "data.memory_mb=0",  # decoded per batch by the workers
    )
    dm.trainer = SimpleNamespace(global_rank=0, world_size=1)
    dm.position = 3  # batches trained on, as a checkpoint restores it
    loader = iter(dm.train_dataloader())
    served = [next(loader) for _ in range(6)]  # crosses an epoch boundary (4 batches per epoch)
    del loader
    for offset, batch in enumerate(served):
        assert torch.equal(batch, dm.make_batch(3 + offset)), offset
    assert not torch.equal(dm.make_batch(0), dm.make_batch(4))  # a new epoch, a new order


def test_a_folder_that_fits_in_memory_is_decoded_once_into_the_same_batches(
    make_cfg, tmp_path: Path
) -> None:
    root = write_image_folder(tmp_path / "images")
    common = ["data=image_folder", f"data.root={root}", "data.resolution=8", "data.batch_size=5"]
    held = datamodule(make_cfg, *common)  # 24 images of 3x8x8 bytes: far under memory_mb
    streamed = datamodule(make_cfg, *common, "data.memory_mb=0")
    held.trainer = streamed.trainer = SimpleNamespace(global_rank=0, world_size=1)
    held.position = streamed.position = 2
    assert held.batches.pixels.dtype == torch.uint8 and held.batches.pixels.shape == (24, 3, 8, 8)
    assert isinstance(held.train_dataloader(), BatchStream)  # no decoding workers
    assert isinstance(streamed.train_dataloader(), BatchLoader)
    for index in range(7):  # crosses an epoch boundary
        assert torch.equal(held.make_batch(index), streamed.make_batch(index)), index
    first = next(iter(held.train_dataloader()))
    assert torch.equal(first, streamed.make_batch(2))  # the stream starts where training is


def test_corrupt_image_is_named_at_scan(make_cfg, tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    (root / "dog" / "broken.jpg").write_bytes(b"this is not a JPEG")
    dm = datamodule(make_cfg, "data=image_folder", f"data.root={root}", "data.batch_size=8")
    with pytest.raises(ConfigError, match=r"Cannot read image .*dog/broken\.jpg"):
        dm.setup("fit")


def test_a_folder_whose_only_image_is_damaged_names_the_file_first(
    make_cfg, tmp_path: Path
) -> None:
    """Not the batch size against "1 images": that advice would fail on the damaged file."""
    root = tmp_path / "images"
    root.mkdir()
    (root / "only.png").write_bytes(b"this is not a PNG")
    dm = datamodule(make_cfg, "data=image_folder", f"data.root={root}", "data.batch_size=8")
    with pytest.raises(ConfigError, match=r"Cannot read image .*only\.png"):
        dm.setup("fit")


def test_image_with_a_valid_header_and_a_broken_body_is_named_at_scan(
    make_cfg, tmp_path: Path
) -> None:
    root = write_image_folder(tmp_path / "images", per_class=4)
    good = sorted((root / "cat").glob("*.png"))[0]
    data = good.read_bytes()
    (root / "cat" / "cut.png").write_bytes(data[: len(data) // 2])  # header intact, body cut
    overrides = ["data=image_folder", f"data.root={root}", "data.batch_size=4"]
    dm = datamodule(make_cfg, *overrides, "data.num_workers=2")
    with pytest.raises(ConfigError, match=r"Cannot read image .*cat/cut\.png"):
        dm.setup("fit")


def test_corrupt_image_found_by_a_worker_is_named_without_traceback(
    make_cfg, tmp_path: Path
) -> None:
    root = write_image_folder(tmp_path / "images", per_class=4)
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    overrides = ["data=image_folder", f"data.root={root}", "data.batch_size=9", "data.resolution=8"]
    dm = datamodule(
        make_cfg, *overrides, "data.verify=false", "data.num_workers=1", "data.memory_mb=0"
    )
    with pytest.raises(ConfigError) as error:
        for _ in dm.train_dataloader():  # one epoch holds every file, the broken one included
            pass
    message = str(error.value)
    assert message.startswith("Cannot read image ") and "broken.png" in message
    assert "Traceback" not in message and "\n" not in message


@pytest.mark.parametrize("case", ["missing", "file", "empty"])
def test_bad_image_roots_are_config_errors(make_cfg, tmp_path: Path, case: str) -> None:
    root = tmp_path / "images"
    if case == "file":
        root.write_text("x")
    elif case == "empty":
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "readme.md").write_text("x")
    expected = {
        "missing": "does not exist",
        "file": "is not a folder",
        "empty": "holds no PNG/JPEG",
    }
    dm = datamodule(make_cfg, "data=image_folder", f"data.root={root}")
    with pytest.raises(ConfigError, match=expected[case]):
        dm.setup("fit")


def test_too_few_images_for_a_batch(make_cfg, tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=2)
    dm = datamodule(make_cfg, "data=image_folder", f"data.root={root}")
    with pytest.raises(ConfigError, match=r"data\.batch_size=64 is larger than the data set"):
        dm.setup("fit")


# ---- CelebA -------------------------------------------------------------------------------------
def test_celeba_transform_resizes_and_center_crops_to_64() -> None:
    """A 178x218 aligned photo: shorter side 178 -> 64, height 218 -> 78, middle 64 rows kept."""
    pixels = np.zeros((218, 178, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.linspace(0, 255, 218, dtype=np.uint8)[:, None]  # red grows downwards
    pixels[:14] = [0, 255, 0]  # green bands top and bottom fall outside the kept square
    pixels[-14:] = [0, 255, 0]
    out = ImageTransform(64)(Image.fromarray(pixels))
    assert out.shape == (3, 64, 64) and out.dtype == torch.uint8
    assert out[1].max() == 0  # no green left: rows (78 - 64) / 2 = 7 cut at each end
    # first kept row = source row 21 of 218 (red 25), last = source row 197 (red 232)
    assert 15 < out[0, 0].float().mean() < 35 and 220 < out[0, -1].float().mean() < 240
    face_only = ImageTransform(64, crop=108)(Image.fromarray(pixels))
    assert face_only.shape == (3, 64, 64)
    assert 55 < face_only[0, 0].float().mean() < 75  # the 108 crop starts at row 55 of 218


def test_missing_celeba_says_which_files_belong_where(
    make_cfg, tmp_path: Path, no_network: None
) -> None:
    dm = datamodule(make_cfg, "data=celeba", f"data.root={tmp_path}", "data.split=train")
    assert dm.shape == (3, 64, 64)
    with pytest.raises(ConfigError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert f"CelebA not found under {tmp_path / 'celeba'}" in message
    assert "img_align_celeba/000001.jpg" in message and "list_eval_partition.txt" in message
    assert "data.download=true" in message


def test_celeba_reads_the_split_from_the_partition_file(make_cfg, tmp_path: Path) -> None:
    images = tmp_path / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(1, 7):
        Image.fromarray(RNG.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(
            images / f"{i:06d}.jpg"
        )
    partition = "".join(f"{i:06d}.jpg {0 if i <= 4 else 2}\n" for i in range(1, 7))
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(partition)
    common = ["data=celeba", f"data.root={tmp_path}", "data.batch_size=2"]
    train_split = datamodule(make_cfg, *common, "data.split=train")
    assert isinstance(train_split, CelebADataModule)
    assert [Path(p).name for p in train_split.files.paths] == [f"{i:06d}.jpg" for i in range(1, 5)]
    assert train_split.labels is None
    batch = train_split.make_batch(0)
    assert batch.shape == (2, 3, 64, 64) and batch.min() >= -1 and batch.max() <= 1
    assert len(datamodule(make_cfg, *common).files) == 6  # split=all: the whole folder


def test_every_image_option_builds_without_touching_the_disk(make_cfg, tmp_path: Path) -> None:
    for option, shape in [
        ("mnist", (1, 32, 32)),
        ("fashion_mnist", (1, 32, 32)),
        ("cifar10", (3, 32, 32)),
        ("celeba", (3, 64, 64)),
        ("image_folder", (3, 64, 64)),
    ]:
        dm = datamodule(make_cfg, f"data={option}", f"data.root={tmp_path / 'absent'}")
        assert dm.shape == shape
    assert not (tmp_path / "absent").exists()
    assert isinstance(MNISTDataModule(str(tmp_path)), MNISTDataModule)


def test_resumed_image_folder_run_matches_uninterrupted_run(make_cfg, tmp_path: Path) -> None:
    """Through Lightning, with a DataLoader worker: 6 steps == 4 steps + resume to 6.

    (Starting a DataLoader iterator draws a seed; from the global RNG, that would shift the
    noise of a resumed run.)
    """
    root = write_image_folder(tmp_path / "images", per_class=6)
    common = [*FAST, *TINY_DCGAN, "data=image_folder", f"data.root={root}", "data.resolution=8"]
    common += ["data.batch_size=5", "data.num_workers=1", "model.generator.latent_dim=4"]
    common += ["data.memory_mb=0"]  # through a DataLoader worker (held in memory: test below)
    straight = make_cfg(*common, run="straight")
    first_half = make_cfg(*common, "steps=4", run="first_half")
    train(straight)
    train(first_half)
    checkpoint = Path(first_half.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_cfg(*common, f"ckpt_path={checkpoint}", run="resumed")
    assert train(resumed)["generator_steps"] == 6

    def final(cfg) -> dict[str, torch.Tensor]:
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        return torch.load(path, weights_only=False)["state_dict"]

    a, b = final(straight), final(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
