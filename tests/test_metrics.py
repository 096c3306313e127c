"""Fréchet distances, the offline classifier metrics (FCD, class histogram) and the Inception
FID/KID plumbing. Nothing here downloads: Inception is replaced by a tiny feature network, and
the offline error is provoked with a download URL on a closed loopback port."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganopt.data import DigitsDataModule
from ganopt.errors import ConfigError
from ganopt.metrics import ClassifierMetrics, ClassifierSettings, Evaluators, InceptionMetrics
from ganopt.metrics import classifier as classifier_module
from ganopt.metrics.classifier import cache_key, class_histogram_metrics, train_classifier
from ganopt.metrics.frechet import frechet_distance
from ganopt.metrics.inception import WEIGHTS_FILE, load_inception, to_uint8_rgb

# --- Fréchet distance -----------------------------------------------------------------------


def factorial_design(scales: list[float], means: list[float]) -> Tensor:
    """All 2^D sign patterns, scaled and shifted: sample mean ``means`` and an exactly diagonal
    sample covariance with variances scale² · 2^D / (2^D - 1)."""
    signs = torch.tensor(
        list(itertools.product([-1.0, 1.0], repeat=len(scales))), dtype=torch.float64
    )
    return signs * torch.tensor(scales, dtype=torch.float64) + torch.tensor(
        means, dtype=torch.float64
    )


def test_frechet_distance_of_1d_gaussians_is_mean_gap_plus_std_gap() -> None:
    a = torch.randn(500, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = 3 * torch.randn(700, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 2
    expected = (a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_of_diagonal_gaussians_matches_closed_form() -> None:
    a = factorial_design([1.0, 2.0, 0.5], [0.0, 1.0, -1.0])
    b = factorial_design([3.0, 2.0, 1.5], [1.0, 1.0, 1.0])
    factor = math.sqrt(8 / 7)  # sample std of a ±1 column of 8 rows
    mean_gap = 1 + 0 + 4
    std_gap = sum(((s - t) * factor) ** 2 for s, t in [(1, 3), (2, 2), (0.5, 1.5)])
    assert frechet_distance(a, b) == pytest.approx(mean_gap + std_gap, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_the_matrix_square_root_formula() -> None:
    g = torch.Generator().manual_seed(0)
    a = (
        torch.randn(400, 6, generator=g, dtype=torch.float64)
        @ torch.randn(6, 6, generator=g).double()
    )
    b = (
        torch.randn(300, 6, generator=g, dtype=torch.float64)
        @ torch.randn(6, 6, generator=g).double()
        + 1
    )
    s1, s2 = a.T.cov().numpy(), b.T.cov().numpy()
    root = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float((a.mean(0) - b.mean(0)).square().sum()) + float((s1 + s2 - 2 * root).trace())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)


# --- class histogram ------------------------------------------------------------------------


def test_class_entropy_is_ln10_for_balanced_and_zero_for_one_class() -> None:
    balanced = class_histogram_metrics(torch.arange(1000) % 10, n_classes=10)
    assert balanced["eval/class_entropy"] == pytest.approx(math.log(10))
    assert balanced["eval/classes"] == 10
    collapsed = class_histogram_metrics(torch.full((1000,), 3), n_classes=10)
    assert collapsed == {"eval/class_entropy": 0.0, "eval/classes": 1.0}


def test_classes_below_the_threshold_are_not_counted() -> None:
    predicted = torch.cat([torch.zeros(995, dtype=torch.long), torch.ones(5, dtype=torch.long)])
    assert class_histogram_metrics(predicted, 10, min_class_fraction=0.01)["eval/classes"] == 1
    assert class_histogram_metrics(predicted, 10, min_class_fraction=0.005)["eval/classes"] == 2


# --- classifier metrics on the embedded digits (one training, shared) -----------------------


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    return DigitsDataModule(resolution=32)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classifiers")


@pytest.fixture(scope="module")
def fcd(digits: DigitsDataModule, cache_dir: Path) -> ClassifierMetrics:
    metrics = ClassifierMetrics(digits.data, digits.labels, cache_dir=cache_dir)
    metrics.prepare()
    return metrics


def test_classifier_is_accurate_on_held_out_digits(fcd: ClassifierMetrics) -> None:
    trained = fcd.trained
    print(
        f"held-out accuracy {trained.held_out_accuracy:.4f} on {trained.n_held_out} digits, "
        f"trained in {trained.train_seconds:.1f} s"
    )
    assert trained.n_held_out == round(0.2 * 1797)
    assert trained.held_out_accuracy >= 0.95


def test_fcd_separates_real_digits_from_noise_and_collapse(
    fcd: ClassifierMetrics, digits: DigitsDataModule
) -> None:
    reference = fcd.reference_fcd()
    noise = torch.rand(1000, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ones = digits.data[digits.labels == 1]
    real, noisy, collapsed = fcd(digits.data), fcd(noise), fcd(ones)
    assert tuple(real) == ClassifierMetrics.names  # what the HParams tab declares
    print(f"FCD real halves {reference:.2f}, noise {noisy['eval/fcd']:.1f}")
    assert 0 < reference < 10
    assert real["eval/fcd"] == pytest.approx(0.0, abs=1e-6)
    assert real["eval/class_entropy"] > 2.28 and real["eval/classes"] == 10
    assert real["eval/confidence"] > 0.9
    assert noisy["eval/fcd"] > 30 * reference
    assert collapsed["eval/fcd"] > 30 * reference
    # 1 % of the 182 ones is 2 samples: a couple of misread ones count as a class (3 classes
    # measured with torch 2.14.1, 2 with earlier versions); a collapse is still far from 10.
    assert collapsed["eval/class_entropy"] < 0.3 and collapsed["eval/classes"] <= 3


def test_classifier_metrics_leave_the_global_rng_alone(
    fcd: ClassifierMetrics, digits: DigitsDataModule
) -> None:
    state = torch.get_rng_state()
    fcd(digits.data[:100])
    fcd.reference_fcd()
    assert torch.equal(torch.get_rng_state(), state)


def test_second_construction_loads_the_cached_classifier(
    fcd: ClassifierMetrics, digits: DigitsDataModule, cache_dir: Path, monkeypatch
) -> None:
    (cached,) = cache_dir.glob("classifier-*.pt")
    mtime = cached.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("the classifier was retrained instead of loaded from the cache")

    monkeypatch.setattr(classifier_module, "train_classifier", no_training)
    again = ClassifierMetrics(digits.data, digits.labels, cache_dir=cache_dir)
    assert again.held_out_accuracy == fcd.held_out_accuracy
    for name, tensor in fcd.trained.model.state_dict().items():
        assert torch.equal(again.trained.model.state_dict()[name], tensor), name
    assert again(digits.data[:500]) == fcd(digits.data[:500])
    assert cached.stat().st_mtime_ns == mtime

    # Other settings are another cache entry: this one would have to train.
    other = ClassifierMetrics(
        digits.data, digits.labels, cache_dir=cache_dir, settings=ClassifierSettings(seed=1)
    )
    with pytest.raises(AssertionError, match="retrained"):
        other.prepare()


def test_cache_key_covers_data_labels_and_settings(digits: DigitsDataModule) -> None:
    data, labels, settings = digits.data, digits.labels, ClassifierSettings()
    key = cache_key(data, labels, 10, settings)
    changed = data.clone()
    changed[0, 0, 0, 0] += 0.5
    relabelled = labels.clone()
    relabelled[0] = (relabelled[0] + 1) % 10
    assert key == cache_key(data.clone(), labels.clone(), 10, settings)
    assert key != cache_key(changed, labels, 10, settings)
    assert key != cache_key(data, relabelled, 10, settings)
    assert key != cache_key(data, labels, 10, ClassifierSettings(epochs=6))


def test_unreadable_cache_file_is_retrained(digits: DigitsDataModule, tmp_path: Path) -> None:
    data, labels = digits.data[:256], digits.labels[:256]
    settings = ClassifierSettings(epochs=1, batch_size=128)
    ClassifierMetrics(data, labels, tmp_path, n_classes=10, settings=settings).prepare()
    (cached,) = tmp_path.glob("classifier-*.pt")
    cached.write_bytes(b"truncated")
    metrics = ClassifierMetrics(data, labels, tmp_path, n_classes=10, settings=settings)
    with pytest.warns(UserWarning, match="retraining the classifier"):
        metrics.prepare()
    assert torch.load(cached, weights_only=True)["info"]["n_train"] == 256 - round(0.2 * 256)


def test_classifier_training_is_deterministic(digits: DigitsDataModule) -> None:
    data, labels = digits.data[:256], digits.labels[:256]
    settings = ClassifierSettings(epochs=1, batch_size=128)
    first = train_classifier(data, labels, 10, settings).model.state_dict()
    second = train_classifier(data, labels, 10, settings).model.state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


# --- Inception FID / KID: offline behaviour and plumbing ------------------------------------


class TinyFeatures(nn.Module):
    """A deterministic stand-in for Inception: 2x2 average colours of the uint8 image."""

    def forward(self, images: Tensor) -> Tensor:
        assert images.dtype == torch.uint8 and images.shape[1] == 3
        return F.adaptive_avg_pool2d(images.float() / 255, 2).flatten(1)


@pytest.fixture(scope="module")
def small_digits() -> Tensor:
    return DigitsDataModule(resolution=8).data


def test_images_become_uint8_rgb() -> None:
    images = torch.tensor([-1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 2, 2)
    converted = to_uint8_rgb(images)
    assert converted.dtype == torch.uint8 and converted.shape == (1, 3, 2, 2)
    assert converted[0, :, 0, 0].tolist() == [0, 0, 0]
    assert converted[0, 1].flatten().tolist() == [0, 128, 255, 255]


def test_fid_and_kid_with_a_stand_in_feature_network(small_digits: Tensor) -> None:
    metrics = InceptionMetrics(
        small_digits, feature_extractor=TinyFeatures(), kid_subset_size=200, kid_subsets=20
    )
    same = metrics(small_digits)
    brighter = metrics((small_digits + 0.2).clamp(-1, 1))
    brightest = metrics((small_digits + 0.6).clamp(-1, 1))
    assert same["eval/fid"] == pytest.approx(0.0, abs=1e-9)
    assert abs(same["eval/kid"]) < 0.1 * brighter["eval/kid"]
    assert 0 < brighter["eval/fid"] < brightest["eval/fid"]
    assert 0 < brighter["eval/kid"] < brightest["eval/kid"]
    assert tuple(metrics(small_digits[:50])) == InceptionMetrics.names  # KID subset capped


def test_inception_metrics_are_repeatable_and_leave_the_global_rng_alone(
    small_digits: Tensor,
) -> None:
    metrics = InceptionMetrics(
        small_digits, n_real=500, feature_extractor=TinyFeatures(), kid_subset_size=100
    )
    samples = (small_digits[:300] + 0.1).clamp(-1, 1)
    state = torch.get_rng_state()
    assert metrics(samples) == metrics(samples)
    assert torch.equal(torch.get_rng_state(), state)
    assert len(metrics.real_images) == 500


@pytest.fixture
def offline(monkeypatch, tmp_path: Path) -> Path:
    """No cached weights and a download URL that refuses at once (closed loopback port)."""
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(fidelity, "URL_INCEPTION_V3", f"http://127.0.0.1:9/{WEIGHTS_FILE}")
    return tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_FILE


def test_no_weights_and_no_network_is_a_clear_config_error(offline: Path, small_digits) -> None:
    metrics = InceptionMetrics(small_digits[:10])
    with pytest.raises(ConfigError) as error:
        metrics.prepare()
    message = str(error.value)
    assert "could not download" in message and "127.0.0.1:9" in message
    assert str(offline) in message  # where the weights are expected
    assert f"metrics.inception_weights=/path/to/{WEIGHTS_FILE}" in message


def test_missing_or_broken_weights_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_inception(tmp_path / "missing.pth")
    pytest.importorskip("torch_fidelity")
    broken = tmp_path / WEIGHTS_FILE
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"could not load metrics\.inception_weights"):
        load_inception(broken)


def test_missing_torch_fidelity_is_a_config_error(monkeypatch) -> None:
    import torchmetrics.image.fid

    monkeypatch.setattr(torchmetrics.image.fid, "_TORCH_FIDELITY_AVAILABLE", False)
    with pytest.raises(ConfigError, match="pip install torch-fidelity"):
        load_inception()


def test_evaluators_merge_metrics_and_forward_prepare(small_digits: Tensor) -> None:
    inception = InceptionMetrics(small_digits, feature_extractor=TinyFeatures(), kid_subsets=5)
    combined = Evaluators(inception, lambda samples: {"eval/n": float(len(samples))})
    combined.prepare()
    assert inception._fid is not None  # real statistics ready before the first evaluation
    assert combined(small_digits[:200]).keys() == {"eval/fid", "eval/kid", "eval/n"}
