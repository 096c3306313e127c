"""Inception FID and KID (``eval/fid``, ``eval/kid``) through torchmetrics and torch-fidelity.

The numbers are comparable with published ones only with torch-fidelity's port of the TF
Inception weights (the network torchmetrics' FID/KID use). Those weights are downloaded on
first use into torch hub's cache; offline machines pass a local copy (``weights_path``, config
key ``metrics.inception_weights``), and when neither works the user gets a ``ConfigError`` that
says what to do instead of a urllib traceback.

Features are extracted once per image set and handed to torchmetrics' metrics through an
identity feature module, so FID and KID share one Inception pass, the real statistics are
computed once, and any feature network can stand in for Inception (tests use a tiny one).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics.image.kid import KernelInceptionDistance

from ganopt.errors import ConfigError
from ganopt.metrics.frechet import FrechetDistance, PrecomputedFeatures

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
_URL_FALLBACK = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"


def inception_url() -> str:
    """Where torch-fidelity downloads the FID Inception weights from."""
    try:
        from torch_fidelity import feature_extractor_inceptionv3
    except ImportError:
        return _URL_FALLBACK
    return feature_extractor_inceptionv3.URL_INCEPTION_V3


def inception_cache_path() -> Path:
    """Where a download lands, and where torch-fidelity looks before downloading."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(inception_url()).name


def _fixes() -> str:
    return (
        f"Fix: pass a local copy with metrics.inception_weights=/path/to/{WEIGHTS_FILE} "
        f"(download {inception_url()} on any machine with internet access), put that file at "
        f"{inception_cache_path()}, or run once on a machine with internet access, which fills "
        "that cache."
    )


def load_inception(weights_path: str | Path | None = None, feature: str = "2048") -> nn.Module:
    """torchmetrics' Inception (torch-fidelity's FID network) mapping uint8 (N, 3, H, W) images to
    ``feature``-dimensional pool features; local weights when ``weights_path`` is given, else the
    cached or downloaded ones. Raises ConfigError when it cannot get them."""
    path = Path(weights_path).expanduser() if weights_path is not None else None
    if path is not None and not path.is_file():
        raise ConfigError(
            f"metrics.inception_weights={weights_path}: no such file. eval/fid and eval/kid need "
            f"torch-fidelity's Inception weights ({WEIGHTS_FILE}). " + _fixes()
        )
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        return NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[feature],
            feature_extractor_weights_path=None if path is None else str(path),
        )
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"eval/fid and eval/kid need the torch-fidelity package ({exc}). Install it with "
            "`pip install torch-fidelity`, or turn the Inception metrics off."
        ) from exc
    except Exception as exc:  # urllib, SSL, HTTP, unpickling, state-dict mismatch: all fixable
        if path is None:
            what = f"could not download them from {inception_url()}"
        else:
            what = f"could not load metrics.inception_weights={path}"
        raise ConfigError(
            f"eval/fid and eval/kid need torch-fidelity's Inception weights ({WEIGHTS_FILE}) and "
            f"ganopt {what} ({type(exc).__name__}: {exc}). No copy was found at "
            f"{inception_cache_path()}, where torch-fidelity caches them. " + _fixes()
        ) from exc


def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images in [-1, 1] as the uint8 RGB batches Inception takes; grayscale is repeated."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class InceptionMetrics:
    """Evaluator: ``eval/fid`` and ``eval/kid`` of samples against ``real_images`` ([-1, 1]).

    Args:
        real_images: (N, C, H, W) real examples; a seeded subset of ``n_real`` of them (all when
            None) gives the reference statistics, computed once.
        weights_path: local Inception weights (``metrics.inception_weights``); None downloads.
        n_real: how many real images to use (Inception on a CPU takes ~0.1 s per image).
        kid_subset_size, kid_subsets: KID averages the unbiased MMD over ``kid_subsets`` random
            subsets of this size (capped at the number of real and of generated images).
        feature_extractor: replaces Inception: any module mapping uint8 (N, 3, H, W) images to
            (N, D) features (tests use a tiny deterministic one).
        device: where features are extracted; default CUDA when available.
        seed: seeds the real subset and KID's subsets, so repeated calls are comparable and
            evaluation never consumes the training run's RNG.

    Construction is cheap; the network is loaded and the real features extracted on the first
    call or on ``prepare()`` (call it at the start of a run to fail early when offline).
    """

    names = ("eval/fid", "eval/kid")

    def __init__(
        self,
        real_images: Tensor,
        weights_path: str | Path | None = None,
        n_real: int | None = 10_000,
        kid_subset_size: int = 1000,
        kid_subsets: int = 100,
        batch_size: int = 100,
        feature_extractor: nn.Module | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
    ) -> None:
        self.real_images = real_images.detach().cpu()
        if n_real is not None and len(self.real_images) > n_real:
            order = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))
            self.real_images = self.real_images[order[:n_real]]
        self.weights_path = weights_path
        self.kid_subset_size, self.kid_subsets = kid_subset_size, kid_subsets
        self.batch_size, self.seed = batch_size, seed
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._extractor = feature_extractor
        self._fid: FrechetDistance | None = None
        self._kid: KernelInceptionDistance | None = None

    @property
    def extractor(self) -> nn.Module:
        if self._extractor is None:
            self._extractor = load_inception(self.weights_path)
        return self._extractor.to(self.device).eval()

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """(N, D) features of [-1, 1] images, on ``device``."""
        extractor = self.extractor
        batches = images.split(self.batch_size)
        return torch.cat([extractor(to_uint8_rgb(b.to(self.device))).flatten(1) for b in batches])

    def prepare(self) -> None:
        """Load the feature network and compute the real statistics, once."""
        if self._fid is not None:
            return
        real = self.features(self.real_images)
        with warnings.catch_warnings():  # "will save all extracted features": intended
            warnings.filterwarnings("ignore", message=".*save all extracted features.*")
            kid = KernelInceptionDistance(
                feature=PrecomputedFeatures(real.shape[1]),
                subsets=self.kid_subsets,
                subset_size=self.kid_subset_size,
                reset_real_features=False,
                sync_on_compute=False,  # evaluation runs on rank zero only: no DDP all-gather
            )
        kid.update(real.float(), real=True)
        self._fid, self._kid = FrechetDistance(real), kid

    def __call__(self, samples: Tensor) -> dict[str, float]:
        self.prepare()
        assert self._fid is not None and self._kid is not None
        fake = self.features(samples)
        self._kid.reset()  # keeps the real features (reset_real_features=False)
        self._kid.update(fake.float(), real=False)
        self._kid.subset_size = min(self.kid_subset_size, len(fake), len(self.real_images))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            kid_mean, _ = self._kid.compute()
        return {"eval/fid": self._fid(fake), "eval/kid": float(kid_mean)}
