"""Checks of the settings of the scripts that read a checkpoint (generate.py, eval.py).

Both are Hydra apps like train.py; Hydra types the values it parses (``seed=3`` is an int,
``seed=one`` a string), and these checks turn a wrong one into a ``ConfigError`` naming the
key, which the scripts print in one paragraph with exit status 2. Only torch and OmegaConf are
imported here, so a mistake answers before Lightning is loaded.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from ganopt.errors import ConfigError

EXAMPLE_CKPT = "logs/train/runs/<date>/checkpoints/last.ckpt"
TYPE_WORDS = {int: "a whole number", bool: "true or false", str: "a value"}


def check_settings(cfg: DictConfig, script: str, types: dict[str, type]) -> None:
    """``ckpt_path`` given, and every key in ``types`` null (unset) or of its type."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            f"ckpt_path is missing: {script} needs the checkpoint of a training run, e.g. "
            f"python scripts/{script} ckpt_path={EXAMPLE_CKPT}."
        )
    for key, kind in types.items():
        value = cfg[key]
        if value is not None and type(value) is not kind:  # a bool is no int here
            raise ConfigError(
                f"{key}={value} is not allowed: {key} takes {TYPE_WORDS[kind]} (conf/"
                f"{script.removesuffix('.py')}.yaml describes each key)."
            )


def check_positive(cfg: DictConfig, *keys: str, minimum: int = 1) -> None:
    """A ConfigError naming the key when a count is below ``minimum``."""
    for key in keys:
        value = cfg.get(key)
        if value is not None and value < minimum:
            raise ConfigError(f"{key}={value} is not allowed: use a whole number >= {minimum}.")


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
