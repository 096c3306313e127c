"""The task config Hydra would pass to scripts/train.py, composed in-process (studies, tests)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_config(overrides: list[str], output_dir: Path, name: str = "train") -> DictConfig:
    """``name``'s config with ``overrides`` and its run directory at ``output_dir``; the group
    choices resolve as in a Hydra run (metrics.json records them)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
    HydraConfig.instance().set_config(cfg)  # makes ${hydra:...} and the group choices resolve
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(output_dir)  # fixed now: HydraConfig changes with each compose
    return cfg
