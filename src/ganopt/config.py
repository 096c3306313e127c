"""Checks of user-set values that would otherwise fail deep inside torch or Lightning.

Each check raises a ConfigError whose message names the key and what is allowed. Values that
a class validates itself when Hydra builds it (d_steps, g_steps, data shapes) are checked there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from ganopt.errors import ConfigError


def plain(node: DictConfig) -> dict[str, Any]:
    """A config node as plain dicts and lists, interpolations resolved: what checkpoints,
    metrics.json and worker processes get."""
    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))


def _is_whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    """What a numeric key allows; ``allows`` is how the message says it."""

    check: Callable[[Any], bool]
    allows: str
    optional: bool = False  # null is allowed (the feature is off)

    def ok(self, value: Any) -> bool:
        return (self.optional and value is None) or self.check(value)


def whole(minimum: int, meaning: str, optional: bool = False) -> Rule:
    return Rule(
        lambda v: _is_whole(v, minimum), f"a whole number >= {minimum} ({meaning})", optional
    )


def positive(meaning: str, optional: bool = False) -> Rule:
    return Rule(lambda v: _is_number(v) and v > 0, f"a number > 0 ({meaning})", optional)


# Keys checked before anything is built: each would otherwise fail deep inside torch or Lightning,
# or train on silently (a batch of 0 trains on empty batches and reports NaN). A "*" matches any
# one key (every callback's cadence). Settings of classes Hydra builds (regularizer weights,
# ema.decay, d_steps/g_steps, learning rates) are checked by those classes or below.
RULES: dict[str, Rule] = {
    "steps": whole(1, "generator updates: the training length"),
    "log_every_n_steps": whole(1, "generator steps between logged training scalars"),
    "threads": whole(1, "torch CPU threads; null = torch's default", optional=True),
    "data.batch_size": whole(1, "examples per batch and per process"),
    "data.resolution": whole(4, "image side in pixels"),
    "data.crop": whole(1, "center-crop side in pixels; null = no crop", optional=True),
    "data.num_workers": whole(0, "decoding processes; 0 = in the training process"),
    "callbacks.*.every_n_steps": whole(0, "generator steps between calls; 0 = only at the end"),
    "callbacks.evaluation.n_samples": whole(2, "generated samples per evaluation"),
    "callbacks.samples.n": whole(1, "samples in the picture"),
    "callbacks.progress.refresh_rate": whole(1, "generator steps between bar updates"),
    "ema.start": whole(0, "generator steps before averaging starts"),
    "clip_grad_norm.*": positive("max gradient norm; null = no clipping", optional=True),
}


def _values(cfg: DictConfig, pattern: str) -> Iterator[tuple[str, Any]]:
    """(key, value) for each key the pattern matches in cfg (none when absent)."""
    if ".*" not in pattern:
        value = OmegaConf.select(cfg, pattern, default=_MISSING)
        if value is not _MISSING:
            yield pattern, value
        return
    head, rest = pattern.split(".*", 1)
    node = OmegaConf.select(cfg, head, default=None)
    if isinstance(node, DictConfig):
        for name in node:
            yield from _values(cfg, f"{head}.{name!s}{rest}")


_MISSING = object()


def learning_rates(node: Any, key: str = "optimizer") -> Iterator[tuple[str, Any]]:
    """Every ``lr`` under ``node`` with its dotted key, including wrapped base optimizers."""
    if isinstance(node, DictConfig):
        for name, child in node.items():
            path = f"{key}.{name!s}"
            if name == "lr":
                yield path, child
            else:
                yield from learning_rates(child, path)


def check_devices(trainer: DictConfig) -> None:
    """A trainer that asks for GPUs this machine lacks: say so, with the override to use."""
    import torch

    accelerator, devices = trainer.get("accelerator", "auto"), trainer.get("devices", 1)
    strategy = str(OmegaConf.select(trainer, "strategy._target_", default="") or "")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise ConfigError(
            f"trainer.accelerator={accelerator} (trainer=gpu or trainer=ddp) asks for a CUDA GPU, "
            f"and this machine has none (torch.cuda.is_available() is False). Use trainer=cpu, "
            f"trainer=default (a GPU when there is one) or, for DDP in CPU processes, "
            f"trainer=ddp_cpu."
        )
    if accelerator == "auto" and strategy.endswith("DDPStrategy") and gpus == 0:
        raise ConfigError(
            f"trainer=ddp starts one process per GPU (trainer.devices={devices}), and this "
            f"machine has no GPU, so it would run {devices} CPU processes on "
            f"{os.cpu_count()} cores. For data-parallel training in CPU processes say so with "
            f"trainer=ddp_cpu (trainer.devices=2 threads=1), or train on one device with "
            f"trainer=cpu."
        )
    if accelerator in ("gpu", "cuda", "auto") and isinstance(devices, int) and 0 < gpus < devices:
        raise ConfigError(
            f"trainer.devices={devices} asks for {devices} GPUs, and this machine has {gpus}. "
            f"Use trainer.devices={gpus} (or fewer)."
        )


def validate(cfg: DictConfig) -> None:
    check_devices(cfg.trainer)
    for pattern, rule in RULES.items():
        for key, value in _values(cfg, pattern):
            if not rule.ok(value):
                raise ConfigError(f"{key}={value!r} is not allowed: {key} takes {rule.allows}.")
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


def safe_dirname(overrides: str, max_length: int = 120) -> str:
    """A multirun job's overrides as one short folder name ("/" would nest folders)."""
    name = overrides.replace("/", "_")
    return name if len(name) <= max_length else name[: max_length - 3] + "..."


def register_resolvers() -> None:
    """Resolvers the config tree uses; call before Hydra composes it."""
    if not OmegaConf.has_resolver("ganopt.dirname"):
        OmegaConf.register_new_resolver("ganopt.dirname", safe_dirname)
    if not OmegaConf.has_resolver("ganopt.groups"):
        OmegaConf.register_new_resolver("ganopt.groups", config_groups)


# Groups an app's options place somewhere other than their own key: how to choose them there.
PLACED_GROUPS = {
    "train": {
        "network_optimizer": "network_optimizer@optimizer.<generator|discriminator>",
        "metric": "+metric@metrics.evaluators.<name>",
    },
    "games": {"network_optimizer": "network_optimizer@optimizer.<generator|discriminator>"},
}


def config_groups(config_name: str) -> str:
    """The "Configuration groups" of an app's --help: the groups its primary config composes
    that offer a choice, with their options (Hydra's own list names every group of the tree:
    train.py's offered game= and study=, which train.py then refused)."""
    import yaml

    from ganopt.compose import CONF

    defaults = yaml.safe_load((CONF / f"{config_name}.yaml").read_text()).get("defaults", [])
    names = [next(iter(entry)) for entry in defaults if isinstance(entry, dict)]
    groups = {name.split("@")[0].lstrip("/"): name for name in names if name != "hydra"}
    groups |= dict.fromkeys(PLACED_GROUPS.get(config_name, {}), "")
    lines = []
    for group in sorted(groups):
        options = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
        if len(options) > 1:
            key = PLACED_GROUPS.get(config_name, {}).get(group, group)
            lines.append(f"{key}: {', '.join(options)}")
    return "\n".join(lines)
