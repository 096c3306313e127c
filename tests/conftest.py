"""Shared fixtures: compose the real config tree exactly as scripts/train.py sees it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from ganopt.app.compose import compose_config

# The test models are tiny: one thread is fastest, and avoids thread oversubscription when the
# machine is shared.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small, fast settings for tests that train: tiny networks, few steps, CPU, quiet.
FAST = [
    "trainer=cpu",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "steps=6",
    "log_every_n_steps=2",
    "callbacks.checkpoint.every_n_steps=3",
    "callbacks.samples.every_n_steps=3",
    "callbacks.evaluation.every_n_steps=3",
    "callbacks.evaluation.n_samples=200",
    "~callbacks.progress",
]
TINY_DCGAN = [
    "model.generator.width=8",
    "model.discriminator.width=8",
    "model.generator.latent_dim=8",
]
TINY_MLP = ["model.generator.hidden=32", "model.discriminator.hidden=32"]


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """make_cfg(*overrides, run="run") -> a composed config writing into tmp_path/run."""

    def make(*overrides: str, run: str = "run") -> DictConfig:
        return compose_config(list(overrides), tmp_path / run)

    yield make
    GlobalHydra.instance().clear()


def options(group: str) -> list[str]:
    """The option names of a config group, e.g. options("optimizer") -> ["adagrad", "adam", ...]."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))
