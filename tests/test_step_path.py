"""The step's path: plain torch backward and optimizer steps where Lightning's wrappers add
nothing (one device, 32-bit or bf16, no listener), Lightning's where they do (a callback on
backward here; 16-mixed and DDP in test_precision and test_ddp); both count Lightning's
optimizer steps alike and train the same weights."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from conftest import FAST, TINY_MLP
from lightning.pytorch.core.optimizer import LightningOptimizer

from ganopt.app.train import train
from ganopt.module import GAN

MLP = ["data=gaussians_ring", "model=mlp", *TINY_MLP, *FAST, "steps=8"]


class Listener(L.Callback):
    """A callback on backward: Lightning's path must be kept for it."""

    def __init__(self) -> None:
        self.backwards = 0

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.backwards += 1


class Record(L.Callback):
    def on_train_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self.wrapped = [isinstance(p.optimizer, LightningOptimizer) for p in pl_module._players]
        self.global_step = trainer.global_step
        self.weights = {k: v.clone() for k, v in pl_module.generator.state_dict().items()}


def run(make_cfg, *extra: Any, run: str, callbacks: list[L.Callback]) -> Record:
    record = Record()
    train(make_cfg(*MLP, run=run), extra_callbacks=[*callbacks, record])
    return record


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_a_plain_run_steps_torch_optimizers_and_counts_them_for_lightning(
    make_cfg, precision: str
) -> None:
    cfg = make_cfg(*MLP, f"trainer.precision={precision}", run="plain")
    record = Record()
    train(cfg, extra_callbacks=[record])
    assert record.wrapped == [False, False]
    assert record.global_step == 2 * 8  # trainer.global_step: every D and G step, as before


def test_a_listening_callback_gets_lightnings_path_and_the_same_weights(make_cfg) -> None:
    listener = Listener()
    heard = run(make_cfg, run="heard", callbacks=[listener])
    plain = run(make_cfg, run="plain", callbacks=[])
    assert heard.wrapped == [True, True] and plain.wrapped == [False, False]
    assert listener.backwards == 2 * 8
    assert heard.global_step == plain.global_step == 16
    for key, value in plain.weights.items():  # the two paths do the same arithmetic
        assert torch.equal(value, heard.weights[key]), key
