"""The EMA generator: averages parameters, re-estimates BatchNorm statistics for the averaged
weights, warms up, resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import FAST, TINY_DCGAN
from torch import nn

from ganopt.app.train import train
from ganopt.ema import EMA
from ganopt.errors import ConfigError


def test_ema_copies_during_warm_up_then_averages_parameters_and_copies_buffers() -> None:
    source = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    ema = EMA(source, decay=0.9, start=2)
    weight = source[0].weight
    with torch.no_grad():
        weight.fill_(1.0)
    ema.update(source, step=2)  # warm-up: a copy
    assert ema.network[0].weight.item() == 1.0
    with torch.no_grad():
        weight.fill_(3.0)
        source[1].running_mean.fill_(5.0)
    ema.update(source, step=3)  # 0.9 * 1 + 0.1 * 3
    assert ema.network[0].weight.item() == pytest.approx(1.2)
    assert ema.network[1].running_mean.item() == 5.0  # buffers are copied, not averaged
    assert not any(p.requires_grad for p in ema.parameters())


class Scale(nn.Module):
    """z -> w * z, then BatchNorm: the statistics the averaged weight should have are known."""

    latent_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1, bias=False)
        self.norm = nn.BatchNorm1d(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(z))


def test_batchnorm_statistics_are_re_estimated_for_the_averaged_weights() -> None:
    source = Scale()
    ema = EMA(source, decay=0.5, start=0, calibration_batches=3, calibration_batch_size=100)
    with torch.no_grad():
        source.linear.weight.fill_(4.0)
        source.norm.running_mean.fill_(7.0)  # the trained network's: wrong for the average
    ema.update(source, step=1)  # weight 0.5 * w0 + 0.5 * 4
    weight = ema.network.linear.weight.item()
    assert ema.network.norm.running_mean.item() == 7.0 and not ema.calibrated

    rng = torch.get_rng_state()
    ema.eval()(torch.zeros(2, 1))
    assert torch.equal(torch.get_rng_state(), rng)  # seeded codes of its own
    generator = torch.Generator().manual_seed(0)
    batches = torch.stack([torch.randn(100, generator=generator) for _ in range(3)]) * weight
    norm = ema.network.norm
    assert norm.running_mean.item() == pytest.approx(batches.mean().item(), rel=1e-5)
    assert norm.running_var.item() == pytest.approx(batches.var(1).mean().item(), rel=1e-5)
    assert ema.calibrated and not norm.training and norm.momentum == 0.1  # restored

    calibrated = norm.running_mean.clone()
    ema(torch.zeros(2, 1))  # no update since: the statistics are kept
    assert torch.equal(norm.running_mean, calibrated)

    uncalibrated = {**ema.state_dict(), "network.norm.running_mean": torch.full((1,), 7.0)}
    ema.load_state_dict(uncalibrated)  # e.g. a checkpoint saved right after an update
    ema(torch.zeros(2, 1))
    assert torch.equal(norm.running_mean, calibrated)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_bad_decay_is_a_config_error(decay: float) -> None:
    with pytest.raises(ConfigError, match=r"ema\.decay"):
        EMA(nn.Linear(1, 1), decay=decay)


def test_ema_is_checkpointed_and_resumed_exactly(make_cfg) -> None:
    common = [
        *FAST,
        "data=digits",
        "data.resolution=16",
        *TINY_DCGAN,
        "ema.decay=0.9",
        "ema.start=2",
    ]
    straight = make_cfg(*common, "steps=6", run="straight")
    half = make_cfg(*common, "steps=3", run="half")
    train(straight)
    train(half)
    ckpt = Path(half.paths.output_dir) / "checkpoints/last.ckpt"
    resumed = make_cfg(*common, "steps=6", f"ckpt_path={ckpt}", run="resumed")
    train(resumed)

    def state(cfg) -> dict[str, torch.Tensor]:
        path = Path(cfg.paths.output_dir) / "checkpoints/last.ckpt"
        return torch.load(path, weights_only=False)["state_dict"]

    a, b = state(straight), state(resumed)
    ema_keys = [k for k in a if k.startswith("ema.")]
    assert ema_keys and all(torch.equal(a[k], b[k]) for k in ema_keys)
    assert not torch.equal(a["ema.network.net.0.weight"], a["generator.net.0.weight"])
