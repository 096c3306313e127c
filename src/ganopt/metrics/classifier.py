"""Offline sample metrics for labelled image data from a small CNN trained on that data.

Inception FID needs downloaded ImageNet weights and judges 32x32 grayscale digits with features
learnt on photos. A classifier trained on the data set itself needs no download, runs on a CPU
in seconds, and its features and predictions measure what matters for digits:

- ``eval/fcd``: Fréchet distance between Gaussian fits of the classifier's penultimate features
  of the samples and of all real examples (FID with the local classifier as feature network).
- ``eval/class_entropy``: entropy (nats) of the histogram of predicted classes; ln 10 ≈ 2.303
  when ten classes are equally frequent, 0 when every sample looks like one class.
- ``eval/classes``: number of classes predicted for at least ``min_class_fraction`` (1 %) of
  the samples; the threshold keeps a few misclassified samples from counting as a mode.
- ``eval/confidence``: mean max softmax probability (low for ambiguous or garbage samples).

The classifier is trained once per data set and cached on disk under a key that hashes the
examples, the labels and the training settings, so every later run (and every run of a sweep)
loads it. Training is deterministic: a fixed seed on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganopt.errors import ConfigError
from ganopt.metrics.frechet import FrechetDistance, frechet_distance

CACHE_VERSION = 1  # bump when DigitClassifier or train_classifier changes what they produce


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ganopt/classifiers`` (``~/.cache/ganopt/classifiers``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganopt" / "classifiers"


@dataclass(frozen=True)
class ClassifierSettings:
    """Training settings; all of them are part of the cache key."""

    width: int = 16  # channels of the first conv layer (then 2x, 4x)
    feature_dim: int = 64  # penultimate features: the space FCD is measured in
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-3
    holdout: float = 0.2  # fraction of examples kept out of training to measure accuracy
    seed: int = 0


class DigitClassifier(nn.Module):
    """A small CNN for (N, C, H, W) images in [-1, 1] of any size >= 8x8.

    Strided convolutions (as in a DCGAN discriminator) keep it cheap at 32x32 on a CPU;
    BatchNorm makes a few epochs enough. Adaptive pooling to 4x4 keeps the digit's layout while
    fixing the feature size, so one architecture serves 8x8 digits, 28x28 MNIST and 32x32 or
    64x64 resizes.
    """

    def __init__(
        self, in_channels: int = 1, n_classes: int = 10, width: int = 16, feature_dim: int = 64
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(16 * 4 * width, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, images: Tensor) -> Tensor:
        """Penultimate activations: what FCD compares."""
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.body(images))


@dataclass
class TrainedClassifier:
    """A classifier and how it was made (what the cache file stores besides the weights)."""

    model: DigitClassifier
    held_out_accuracy: float
    train_seconds: float
    n_train: int
    n_held_out: int
    key: str


def cache_key(data: Tensor, labels: Tensor, n_classes: int, settings: ClassifierSettings) -> str:
    """sha256 of the examples, the labels and everything that shapes the trained weights."""
    digest = hashlib.sha256()
    meta = {"version": CACHE_VERSION, "n_classes": n_classes, "shape": list(data.shape)}
    digest.update(json.dumps({**meta, **asdict(settings)}, sort_keys=True).encode())
    digest.update(data.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    digest.update(labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _split(n: int, settings: ClassifierSettings) -> tuple[Tensor, Tensor]:
    """Seeded (train, held-out) index split."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(settings.seed))
    n_held_out = round(n * settings.holdout)
    return order[n_held_out:], order[:n_held_out]


@torch.no_grad()
def _predict(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def train_classifier(
    data: Tensor, labels: Tensor, n_classes: int, settings: ClassifierSettings, key: str = ""
) -> TrainedClassifier:
    """Adam on cross-entropy over the training split; accuracy on the held-out split.

    Runs under a forked, seeded global RNG: deterministic, and it leaves the caller's RNG (a
    training run's) untouched. Always on the CPU, so the cached weights do not depend on the
    accelerator of the run that happened to train them.
    """
    start = time.perf_counter()
    train_idx, held_idx = _split(len(data), settings)
    threads = torch.get_num_threads()
    # One thread: these convolutions are too small to gain from more (on a busy 2-core machine
    # two threads were 1.4-2.7x slower), and the weights then no longer depend on the core count.
    torch.set_num_threads(1)
    try:
        # Evaluation may first need the classifier inside no_grad (e.g. a sampling hook).
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
            torch.manual_seed(settings.seed)
            model = DigitClassifier(data.shape[1], n_classes, settings.width, settings.feature_dim)
            optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
            model.train()
            for _ in range(settings.epochs):
                order = train_idx[torch.randperm(len(train_idx))]
                for i in range(0, len(order), settings.batch_size):
                    rows = order[i : i + settings.batch_size]
                    loss = F.cross_entropy(model(data[rows]), labels[rows])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    if len(held_idx) > 0:
        predicted = _predict(model, data[held_idx]).argmax(dim=1)
        accuracy = float((predicted == labels[held_idx]).double().mean())
    else:
        accuracy = math.nan
    return TrainedClassifier(
        model.requires_grad_(False),
        accuracy,
        time.perf_counter() - start,
        len(train_idx),
        len(held_idx),
        key,
    )


def _load(
    path: Path, in_channels: int, n_classes: int, settings: ClassifierSettings, key: str
) -> TrainedClassifier:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitClassifier(in_channels, n_classes, settings.width, settings.feature_dim)
    model.load_state_dict(saved["state_dict"])
    info = saved["info"]
    return TrainedClassifier(
        model.eval().requires_grad_(False),
        info["held_out_accuracy"],
        info["train_seconds"],
        info["n_train"],
        info["n_held_out"],
        key,
    )


def load_or_train_classifier(
    data: Tensor,
    labels: Tensor,
    cache_dir: str | Path,
    n_classes: int,
    settings: ClassifierSettings,
) -> TrainedClassifier:
    """The cached classifier for this data and these settings, training and saving it if new.

    The file is written to a temporary name and renamed, so runs of a sweep that race to
    train the same classifier never read a half-written file.
    """
    key = cache_key(data, labels, n_classes, settings)
    path = Path(cache_dir).expanduser() / f"classifier-{key[:16]}.pt"
    if path.exists():
        try:
            return _load(path, data.shape[1], n_classes, settings, key)
        except Exception as exc:  # truncated or foreign file: retraining costs seconds
            warnings.warn(f"retraining the classifier: cannot load {path} ({exc})", stacklevel=2)
    trained = train_classifier(data, labels, n_classes, settings, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "held_out_accuracy": trained.held_out_accuracy,
        "train_seconds": trained.train_seconds,
        "n_train": trained.n_train,
        "n_held_out": trained.n_held_out,
        "settings": json.dumps(asdict(settings)),
    }
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"state_dict": trained.model.state_dict(), "info": info}, partial)
    os.replace(partial, path)
    return trained


def class_histogram_metrics(
    predicted: Tensor, n_classes: int, min_class_fraction: float = 0.01
) -> dict[str, float]:
    """Entropy (nats) of the predicted-class histogram, and how many classes hold at least
    ``min_class_fraction`` of the predictions."""
    counts = torch.bincount(predicted.flatten().cpu(), minlength=n_classes).double()
    p = counts / counts.sum()
    nonzero = p[p > 0]
    return {
        "eval/class_entropy": max(0.0, float(-(nonzero * nonzero.log()).sum())),  # no -0.0
        "eval/classes": float((p >= min_class_fraction).sum()),
    }


class ClassifierMetrics:
    """Evaluator for labelled image data: ``eval/fcd``, ``eval/class_entropy``,
    ``eval/classes`` and ``eval/confidence`` from a locally trained classifier.

    Construction is cheap; the classifier is trained or loaded, and the real features' Gaussian
    fit computed, on the first call or on ``prepare()`` (call it early to fail early). Samples
    are (N, C, H, W) in [-1, 1] like ``data``; they are clamped to that range and evaluated on
    the CPU, where the cached classifier lives (it is tiny).
    """

    names = ("eval/fcd", "eval/class_entropy", "eval/classes", "eval/confidence")

    def __init__(
        self,
        data: Tensor,
        labels: Tensor,
        cache_dir: str | Path | None = None,
        n_classes: int | None = None,
        min_class_fraction: float = 0.01,
        settings: ClassifierSettings | None = None,
    ) -> None:
        if data.dim() != 4 or len(labels) != len(data):
            raise ValueError(
                f"expected images (N, C, H, W) and labels (N,), got {tuple(data.shape)} and "
                f"{tuple(labels.shape)}"
            )
        self.data = data.detach().to("cpu", torch.float32)
        self.labels = labels.detach().to("cpu", torch.int64)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.n_classes = n_classes if n_classes is not None else int(self.labels.max()) + 1
        self.min_class_fraction = min_class_fraction
        self.settings = settings or ClassifierSettings()
        self._trained: TrainedClassifier | None = None
        self._real_features: Tensor | None = None
        self._fcd: FrechetDistance | None = None

    @classmethod
    def of(cls, datamodule: Any, min_class_fraction: float = 0.01) -> ClassifierMetrics:
        """Classifier metrics of a labelled image data set: its ``data`` and ``labels``
        (conf/metric/classifier)."""
        from ganopt.data.images import to_float

        data, labels = getattr(datamodule, "data", None), getattr(datamodule, "labels", None)
        if not isinstance(data, Tensor) or data.dim() != 4 or not isinstance(labels, Tensor):
            raise ConfigError(
                f"classifier metrics train a classifier on the data set's labelled images, and "
                f"the data set ({type(datamodule).__name__}) has no labelled images in memory "
                f"(data and labels): use data=digits, data=mnist or data=fashion_mnist"
            )
        examples = data if data.is_floating_point() else to_float(data)
        return cls(examples, labels, min_class_fraction=min_class_fraction)

    def prepare(self) -> None:
        """Train or load the classifier and fit the real features' Gaussian, once."""
        if self._fcd is None:
            self._real_features = self._features_and_logits(self.data)[0]
            self._fcd = FrechetDistance(self._real_features)

    @property
    def trained(self) -> TrainedClassifier:
        """The classifier, loaded from the cache or trained (and cached) on first use."""
        if self._trained is None:
            self._trained = load_or_train_classifier(
                self.data, self.labels, self.cache_dir, self.n_classes, self.settings
            )
        return self._trained

    @property
    def held_out_accuracy(self) -> float:
        """Accuracy on the examples kept out of the classifier's training."""
        return self.trained.held_out_accuracy

    @torch.no_grad()
    def _features_and_logits(self, images: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
        model = self.trained.model
        images = images.detach().to("cpu", torch.float32).clamp(-1, 1)
        features = torch.cat(
            [model.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )
        return features, model.head(features)

    def __call__(self, samples: Tensor) -> dict[str, float]:
        self.prepare()
        assert self._fcd is not None
        features, logits = self._features_and_logits(samples)
        probabilities = logits.softmax(dim=1)
        return {
            "eval/fcd": self._fcd(features),
            **class_histogram_metrics(
                logits.argmax(dim=1), self.n_classes, self.min_class_fraction
            ),
            "eval/confidence": float(probabilities.max(dim=1).values.double().mean()),
        }

    def reference_fcd(self, n_splits: int = 5, seed: int = 0) -> float:
        """FCD between two disjoint random halves of the real data, averaged over ``n_splits``
        splits: what a perfect generator would score (a good GAN's FCD is within ~3x of it).

        Each side holds only half the real examples, so this carries more finite-sample bias
        than an evaluation (``n_samples`` generated vs all real examples): a perfect generator
        would score somewhat below it, and the 3x target is slightly lenient.
        """
        self.prepare()
        assert self._real_features is not None
        generator = torch.Generator().manual_seed(seed)
        half = len(self.data) // 2
        distances = []
        for _ in range(n_splits):
            order = torch.randperm(len(self.data), generator=generator)
            a, b = self._real_features[order[:half]], self._real_features[order[half : 2 * half]]
            distances.append(frechet_distance(a, b))
        return sum(distances) / len(distances)
