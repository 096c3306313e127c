"""Checks of user-set values that would otherwise fail deep inside torch or Lightning.

Each check raises a ConfigError whose message names the key and what is allowed. Values that
a class validates itself when Hydra builds it (d_steps, g_steps, data shapes) are checked there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganopt.errors import ConfigError


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def learning_rates(node: Any, key: str = "optimizer") -> Iterator[tuple[str, Any]]:
    """Every ``lr`` under ``node`` with its dotted key, including wrapped base optimizers."""
    if isinstance(node, DictConfig):
        for name, child in node.items():
            path = f"{key}.{name}"
            if name == "lr":
                yield path, child
            else:
                yield from learning_rates(child, path)


def validate(cfg: DictConfig) -> None:
    for key in ("steps", "log_every_n_steps"):  # d_steps/g_steps: the update scheme checks them
        if not _is_positive_int(cfg.get(key)):
            raise ConfigError(
                f"{key}={cfg.get(key)!r} is not allowed: it must be a whole number >= 1 "
                f"(steps counts generator updates)."
            )
    if not isinstance(cfg.get("seed"), int):
        raise ConfigError(
            f"seed={cfg.get('seed')!r} is not allowed: use a whole number, e.g. seed=0."
        )
    for key, lr in learning_rates(cfg.optimizer):
        if isinstance(lr, bool) or not isinstance(lr, int | float) or lr <= 0:
            raise ConfigError(
                f"{key}={lr!r} is not allowed: a learning rate must be a positive number, "
                f"e.g. {key}=2e-4."
            )
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path} does not exist or is not a file. Give the path of a "
            "checkpoint written by a previous run, e.g. "
            "ckpt_path=logs/train/runs/<date>/checkpoints/last.ckpt."
        )


def safe_dirname(overrides: str, max_length: int = 120) -> str:
    """A multirun job's overrides as one short folder name ("/" would nest folders)."""
    name = overrides.replace("/", "_")
    return name if len(name) <= max_length else name[: max_length - 3] + "..."


def register_resolvers() -> None:
    """Resolvers the config tree uses; call before Hydra composes it."""
    if not OmegaConf.has_resolver("ganopt.dirname"):
        OmegaConf.register_new_resolver("ganopt.dirname", safe_dirname)
