"""Shared fixtures: compose the real config tree exactly as scripts/train.py sees it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

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


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The task config Hydra would pass to scripts/train.py, with its run dir at output_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
    HydraConfig.instance().set_config(cfg)  # makes ${hydra:...} and the group choices resolve
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(output_dir)  # fixed now: HydraConfig changes with each compose
    return cfg


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
