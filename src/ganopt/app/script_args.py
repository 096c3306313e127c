"""Checks of the settings of the scripts that read a checkpoint (generate.py, eval.py).

Both are Hydra apps like train.py; Hydra types the values it parses (``seed=3`` is an int,
``seed=one`` a string), and their declarations (``ganopt.app.schema``) turn a wrong one into a
``ConfigError`` naming the key, which the scripts print in one paragraph with exit status 2.
Only torch and OmegaConf are imported here, so a mistake answers before Lightning is loaded.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from ganopt.errors import ConfigError

EXAMPLE_CKPT = "logs/train/runs/<date>/checkpoints/last.ckpt"


def check_settings(cfg: DictConfig, script: str) -> None:
    """``ckpt_path`` given, and every value allowed by its declaration (``ganopt.app.schema``)."""
    from ganopt.app.schema import TABLES
    from ganopt.app.settings import check

    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            f"ckpt_path is missing: {script}.py needs the checkpoint of a training run, e.g. "
            f"python scripts/{script}.py ckpt_path={EXAMPLE_CKPT}."
        )
    check(cfg, TABLES[script])


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; a CUDA request without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"device={name} is not allowed: use auto, cpu, cuda or cuda:<index>."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name}, but torch sees no CUDA device here; use device=cpu (checkpoints "
            "trained on a GPU load on the CPU)."
        )
    return device
