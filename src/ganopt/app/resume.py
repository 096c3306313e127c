"""Continuing a run: which checkpoint (``ckpt_path=auto``), with which config, and whether the
checkpoint fits what this command asks for.

A checkpoint stores the run's resolved config and its command-line overrides, so
``ckpt_path=<last.ckpt>`` alone continues that run: scripts/train.py hands Hydra the stored
overrides with the ones given now on top (``ganopt.app.cli.expand_resume``). Keys that shape the
saved state (networks, optimizers, schedulers, EMA, data, seed: their role in ``ganopt.app.schema``)
cannot change on resume; everything else (``steps``, cadences, loggers, threads, the loss or a
regularizer) can. Every mismatch is a
ConfigError found before training, naming the key or the first differing parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from ganopt.app.checkpoint import CheckpointError, read_checkpoint
from ganopt.app.config import plain
from ganopt.app.schema import Role, role
from ganopt.app.settings import flat
from ganopt.errors import ConfigError


def run_checkpoint(cfg: DictConfig) -> Path:
    """Where this run's checkpoint callback writes last.ckpt."""
    node = OmegaConf.select(cfg, "callbacks.checkpoint")
    if node is not None and "dirpath" in node:
        return Path(node.dirpath) / node.get("filename", "last.ckpt")
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: ``ckpt_path=auto`` is this run directory's last.ckpt when
    it exists (a requeued job continues) and a fresh start otherwise. A fresh start in a run
    directory that already holds a checkpoint is refused: it would overwrite that work."""
    given, own = cfg.get("ckpt_path"), run_checkpoint(cfg)
    if given == "auto":
        return str(own) if own.is_file() else None
    if given is None and own.is_file():
        raise ConfigError(
            f"the run directory {own.parent.parent} already holds {own}, which a new run would "
            f"overwrite. Continue it with ckpt_path=auto (same hydra.run.dir), or choose "
            f"another directory with hydra.run.dir=<dir>."
        )
    return given


def _identity(override: Any) -> str:
    return override.key_or_group + (f"@{override.package}" if override.package else "")


def merged_overrides(stored: list[str], given: list[str]) -> list[str]:
    """The stored run's overrides, each replaced by a given one for the same key, then the given
    ones that are new. ``ckpt_path`` comes from ``given`` only."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parse = OverridesParser.create().parse_overrides
    new = {_identity(o): str(o.input_line) for o in parse(given)}
    kept = [str(o.input_line) for o in parse(stored) if _identity(o) not in {*new, "ckpt_path"}]
    return kept + list(new.values())


def stored_overrides(path: str) -> list[str] | None:
    """The command-line overrides a checkpoint's run was started with (None: not stored)."""
    overrides = read_checkpoint(path)["ganopt"].get("overrides")
    return list(overrides) if overrides is not None else None


def changed_state_key(saved: dict[str, Any], now: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first key that shapes the saved state (its role in ``ganopt.app.schema``: the networks,
    optimizers, schedules, EMA, data and seed) and differs: (key, saved value, value now)."""
    before, after = flat(saved), flat(now)
    for key in [*after, *(key for key in before if key not in after)]:
        if role(key) in (Role.STATE, Role.SEED) and before.get(key) != after.get(key):
            return key, before.get(key, "(absent)"), after.get(key, "(absent)")
    return None


def first_mismatch(module: nn.Module, state_dict: dict[str, Any]) -> str | None:
    """The first parameter or buffer that a checkpoint's weights do not fit, in words."""
    own = module.state_dict()
    for key in [*own, *(key for key in state_dict if key not in own)]:
        if key not in state_dict:
            return f"{key} is in the networks this config builds but not in the checkpoint"
        if key not in own:
            return f"{key} is in the checkpoint but not in the networks this config builds"
        if own[key].shape != state_dict[key].shape:
            return (
                f"{key} has shape {tuple(state_dict[key].shape)} in the checkpoint and "
                f"{tuple(own[key].shape)} in the networks this config builds"
            )
    return None


def check_resume(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from, if any, checked before anything is built: the run
    directory's rule (``resolve_ckpt_path``) and what would fail (or silently do nothing) once
    Lightning loads it, as far as the file and the config tell: it is a ganopt checkpoint, its
    state keys are unchanged and ``steps`` lies beyond the step it reached. ``check_fit``
    compares the weights once the networks are built."""
    path = resolve_ckpt_path(cfg)
    if path is None:
        return None
    state = read_checkpoint(path)["ganopt"]
    now = plain(cfg)
    if (change := changed_state_key(state["config"], now)) is not None:
        key, before, after = change
        raise ConfigError(
            f"{key} cannot change when resuming: ckpt_path={path} was trained with {key}="
            f"{before} and this command asks for {after}. The saved networks, optimizer states "
            f"and data stream belong to the old value. Continue the run as it was by leaving out "
            f"the override that changes {key}, or start a new run without ckpt_path."
        )
    reached = int(state.get("generator_steps", 0))
    if cfg.steps <= reached:
        raise ConfigError(
            f"steps={cfg.steps} is not allowed with ckpt_path={path}: that run has reached "
            f"generator step {reached}, and steps is the new total, not the steps to add. "
            f"Continue it with e.g. steps={reached + cfg.steps}."
        )
    return path


def check_fit(path: str, module: nn.Module) -> None:
    """The checkpoint's weights fit the networks this config built."""
    if (mismatch := first_mismatch(module, read_checkpoint(path)["state_dict"])) is not None:
        raise CheckpointError(
            f"the weights in ckpt_path={path} do not fit the networks of this config: "
            f"{mismatch}. Was it written by another version of the model code?"
        )
