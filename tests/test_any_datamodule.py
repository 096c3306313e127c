"""A plain LightningDataModule (no ganopt classes) plugged in by config alone."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from conftest import FAST, TINY_MLP
from torch.utils.data import DataLoader, TensorDataset

from ganopt.app.train import build, train


class LabelledPoints(L.LightningDataModule):
    """8 labelled clusters on a circle, as ``(x, y)`` batches (torchvision's convention), dicts
    or bare tensors: what a user's own datamodule yields."""

    def __init__(self, batch_size: int = 64, batch_format: str = "tuple") -> None:
        super().__init__()
        self.batch_size, self.batch_format = batch_size, batch_format

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(0)
        labels = torch.randint(8, (2048,), generator=generator)
        angles = labels * (2 * math.pi / 8)  # the cluster centres: what mode coverage needs
        points = torch.stack([angles.cos(), angles.sin()], 1)
        points += 0.02 * torch.randn(points.shape, generator=generator)
        self.points, self.labels = points, labels
        self.means, self.std = torch.stack([angles.cos(), angles.sin()], 1).unique(dim=0), 0.02

    def train_dataloader(self) -> DataLoader:
        dataset = {
            "tensor": self.points,
            "tuple": TensorDataset(self.points, self.labels),
            "dict": [
                {"label": y, "point": x} for x, y in zip(self.points, self.labels, strict=True)
            ],
        }[self.batch_format]
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, drop_last=True)


PLAIN = ["~data", f"+data._target_={__name__}.LabelledPoints", "+data.batch_size=64"]


@pytest.mark.parametrize("batch_format", ["tuple", "dict", "tensor"])
def test_a_plain_datamodule_trains_by_config_alone(make_cfg, batch_format: str) -> None:
    cfg = make_cfg(*FAST, *PLAIN, f"+data.batch_format={batch_format}", "model=mlp", *TINY_MLP)
    _, module = build(cfg)
    assert module.generator(torch.zeros(3, module.generator.latent_dim)).shape == (3, 2)
    metrics = train(cfg)
    assert metrics["status"] == "finished" and metrics["generator_steps"] == 6
    assert math.isfinite(metrics["loss/d"]) and math.isfinite(metrics["loss/g"])
    assert not [key for key in metrics if key.startswith("eval/")]  # it brings no metrics


def test_batches_without_examples_are_a_config_error(make_cfg) -> None:
    from ganopt.data.base import examples
    from ganopt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"an \(x, y\) tuple"):
        examples({"label": torch.zeros(4, dtype=torch.long)})


# ---- which metrics judge a run: evaluation config, chosen by the data config ---------------------
def test_the_data_config_chooses_the_metrics(make_cfg) -> None:
    assert list(make_cfg("data=gaussians_ring").metrics.evaluators) == ["modes"]
    assert list(make_cfg("data=digits").metrics.evaluators) == ["classifier"]
    assert list(make_cfg("data=cifar10").metrics.evaluators) == []  # Inception on request
    assert list(make_cfg(*PLAIN).metrics.evaluators) == []
    assert (
        list(make_cfg("data=gaussians_ring", "~metrics.evaluators.modes").metrics.evaluators) == []
    )


def test_a_plain_datamodule_is_judged_by_a_metric_chosen_by_config(make_cfg) -> None:
    chosen = ["+metric@metrics.evaluators.modes=modes", "metrics.evaluators.modes.hq_sigmas=4"]
    cfg = make_cfg(*FAST, *PLAIN, "model=mlp", *TINY_MLP, *chosen)
    metrics = train(cfg)
    assert 0 <= metrics["eval/modes"] <= 8 and 0 <= metrics["eval/hq_fraction"] <= 1
    assert metrics["status"] == "finished"


def test_a_metric_the_data_set_cannot_serve_is_a_config_error(make_cfg) -> None:
    from ganopt.errors import ConfigError

    cfg = make_cfg(*FAST, *PLAIN, "model=mlp", *TINY_MLP, "+metric@metrics.evaluators.c=classifier")
    with pytest.raises(ConfigError, match=r"metrics.evaluators.c: classifier metrics train a"):
        train(cfg)
