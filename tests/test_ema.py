"""The EMA generator: averages parameters, copies buffers, warms up, resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import FAST, TINY_DCGAN
from torch import nn

from ganopt.ema import EMA
from ganopt.errors import ConfigError
from ganopt.train import train


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
