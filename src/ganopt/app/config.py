"""train.py's checks before anything is built, and small config helpers.

Each value is checked against its declaration (``ganopt.app.schema``); the rules here are the ones
across keys (devices, monitored metrics, optimizer classes). Each raises a ConfigError whose
message names the key and what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from ganopt.errors import ConfigError

CONF = Path(__file__).resolve().parents[3] / "conf"  # the repository's config tree


def plain(node: DictConfig) -> dict[str, Any]:
    """A config node as plain dicts and lists, interpolations resolved: what checkpoints,
    metrics.json and worker processes get."""
    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))


def reported_metrics(cfg: DictConfig) -> list[str] | None:
    """The eval/ metrics this run's evaluators report, from each evaluator class's ``names``;
    None when an evaluator does not declare them (a forker's own: it is asked at run time)."""
    from hydra.utils import get_object

    names: list[str] = []
    for node in (cfg.get("metrics") or {}).get("evaluators", {}).values():
        built = get_object(str(node._target_))
        owner = built if isinstance(built, type) else getattr(built, "__self__", None)
        declared = getattr(owner, "names", None)
        if declared is None:
            return None
        names += declared
    if (cfg.get("metrics") or {}).get("inception"):
        from ganopt.metrics import InceptionMetrics

        names += InceptionMetrics.names
    return sorted(set(names))


def check_monitors(cfg: DictConfig) -> None:
    """The target's rules are well formed, and a callback's monitor and the target name eval/
    metrics that an evaluator reports."""
    from ganopt.targets import check_target

    check_target(cfg.get("target") or {})
    watched = [
        (f"callbacks.{name}.monitor", str(node.monitor))
        for name, node in (cfg.get("callbacks") or {}).items()
        if isinstance(node, DictConfig) and node.get("monitor")
    ]
    watched += [(f"target.{metric}", str(metric)) for metric in (cfg.get("target") or {})]
    if (reported := reported_metrics(cfg)) is None:
        return
    for key, metric in watched:
        if metric.startswith("eval/") and metric not in reported:
            raise ConfigError(
                f"{key} watches {metric}, which this run's evaluators do not report; they "
                f"report {', '.join(reported) or 'no eval/ metric'} (metrics.evaluators, set by "
                "the data config). Watch one of those, or add an evaluator that reports it."
            )


def check_optimizers(cfg: DictConfig) -> None:
    """Build each network's optimizer on a stand-in parameter and take one step: a setting its
    class refuses (one beta for Adam, two for AdEMAMix, which only finds out in its first step)
    is answered now, naming the key, not as a traceback from inside torch after the data and
    networks were built."""
    import torch
    from hydra.utils import instantiate

    from ganopt.optim.modes import train_mode

    for network in ("generator", "discriminator"):
        node = cfg.optimizer[network]
        factory = instantiate(node)  # a missing package is train.py's user_errors' to answer
        try:
            parameter = torch.nn.Parameter(torch.zeros(2, 2))
            parameter.grad = torch.zeros(2, 2)
            optimizer = factory([parameter])
            train_mode([optimizer])  # schedule-free optimizers step in train mode
            for _ in range(getattr(optimizer, "gradient_evaluations", 1)):
                optimizer.step()
        except Exception as error:
            keys = sorted(str(k) for k in node if not str(k).startswith("_"))
            raise ConfigError(
                f"optimizer.{network}: {node._target_} refuses these settings "
                f"({type(error).__name__}: {error}); its keys are {', '.join(keys)} "
                "(conf/optimizer and conf/network_optimizer show each one's defaults)."
            ) from None


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
    """train.py's settings, before anything is built: each value against its declaration
    (``ganopt.app.schema``), then the rules across keys."""
    from ganopt.app.schema import TRAIN
    from ganopt.app.settings import check

    check(cfg, TRAIN)  # no torch imported yet: a mistaken value answers in a second
    check_devices(cfg.trainer)
    check_monitors(cfg)
    check_optimizers(cfg)


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
