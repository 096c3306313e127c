"""Stacked digits: 1,000 modes on the embedded digits, counted as PacGAN counts Stacked MNIST."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import FAST, TINY_DCGAN

from ganopt.app.train import build, train
from ganopt.callbacks import Evaluation
from ganopt.metrics import StackedModes


@pytest.fixture(scope="module")
def stacked(tmp_path_factory: pytest.TempPathFactory):
    from ganopt.app.compose import compose_config

    cfg = compose_config(["data=stacked_digits"], tmp_path_factory.mktemp("stacked"))
    datamodule, _ = build(cfg)
    return datamodule


def test_the_data_has_a_thousand_label_triples_and_uniform_channels(stacked) -> None:
    labels = stacked.base.labels
    triples = torch.cat([labels[stacked.triples(i)] for i in range(250)])  # 16,000 images
    assert stacked.make_batch(0).shape == (64, 3, 16, 16)
    assert len(stacked.modes_of(triples).unique()) == 1000
    for channel in range(3):
        share = torch.bincount(triples[:, channel], minlength=10) / len(triples)
        assert share.min() > 0.085 and share.max() < 0.115  # ten classes, each about 10 %


def test_real_stacked_images_cover_the_modes_and_one_image_covers_one(stacked) -> None:
    metric = StackedModes.of(stacked)
    real = metric(stacked.real_samples(10_000))
    assert real["eval/modes"] >= 990 and real["eval/reverse_kl"] < 0.1
    one = metric(stacked.real_samples(1).repeat(10_000, 1, 1, 1))
    assert one["eval/modes"] == 1 and one["eval/reverse_kl"] == pytest.approx(math.log(1000))
    assert real["eval/fcd"] < one["eval/fcd"]


def test_the_evaluation_draws_the_samples_the_modes_need(stacked) -> None:
    evaluation = Evaluation(n_samples=2500, metrics={"stacked": StackedModes.of})
    evaluation.build(stacked)
    assert evaluation.n_samples == 10_000


def test_stacked_digits_trains_and_is_judged_by_its_modes(make_cfg) -> None:
    cfg = make_cfg(*FAST, "data=stacked_digits", *TINY_DCGAN, "logger=none", "steps=3")
    metrics = train(cfg)
    assert metrics["status"] == "finished"
    assert 1 <= metrics["eval/modes"] <= 1000 and metrics["eval/reverse_kl"] >= 0


def test_stacked_mnist_without_its_files_says_how_to_get_them(make_cfg, tmp_path) -> None:
    from ganopt.errors import ConfigError

    cfg = make_cfg(*FAST, "data=stacked_mnist", f"data.base.root={tmp_path}", "logger=none")
    with pytest.raises(ConfigError, match=r"data.base.download=true"):
        train(cfg)
