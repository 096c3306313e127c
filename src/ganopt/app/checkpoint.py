"""A ganopt checkpoint as data: read and checked (``read_checkpoint``), in today's form (groups
renamed since it was written), without building anything, so resuming and the scripts can ask
what a checkpoint holds before Lightning and the networks are imported. Everything a user can get
wrong (no file, not a checkpoint, another program's checkpoint) is a ``CheckpointError`` whose
message the scripts print in one paragraph with exit status 2."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import OmegaConf

from ganopt.app.config import CONF
from ganopt.app.script_args import EXAMPLE_CKPT
from ganopt.errors import ConfigError, one_line


class CheckpointError(ConfigError):
    """A checkpoint the user can fix (missing, foreign, damaged); scripts print it, exit with 2."""


# ---- reading a checkpoint ---------------------------------------------------------------------
def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict, checked to be a ganopt one that stores its config.

    Loaded with ``weights_only=True``: ganopt checkpoints hold only tensors and plain containers,
    and a foreign pickle must not run code just because someone asked for samples.
    """
    path = Path(path)
    give = f"Give the last.ckpt written by scripts/train.py, e.g. ckpt_path={EXAMPLE_CKPT}."
    if not path.is_file():
        inside = path / "checkpoints" / "last.ckpt"
        if inside.is_file():
            raise CheckpointError(f"ckpt_path={path} is a run directory: pass ckpt_path={inside}.")
        what = "is a directory" if path.is_dir() else "does not exist"
        raise CheckpointError(f"ckpt_path={path} {what}. {give}")
    with path.open("rb") as file:
        head = file.read(2)
    if head not in (b"PK", b"\x80\x02"):  # torch.save: a zip archive (or a legacy pickle)
        raise CheckpointError(
            f"ckpt_path={path} is not a PyTorch checkpoint (torch.save writes a zip archive and "
            f"this file is not one). {give}"
        )
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles: the error says it
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused objects that could run code on load
        raise CheckpointError(
            f"ckpt_path={path} holds Python objects that ganopt does not unpickle (its own "
            f"checkpoints hold only tensors and plain values): not a ganopt checkpoint. {give}"
        ) from None
    except Exception as error:  # a truncated copy, a damaged archive: torch's word on it
        raise CheckpointError(
            f"ckpt_path={path} cannot be read; is it incomplete or damaged (e.g. copied while "
            f"training was writing it)? torch.load: {type(error).__name__}: "
            f"{one_line(error, 200)}. {give}"
        ) from None
    state = checkpoint.get("ganopt") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"ckpt_path={path} is a PyTorch file but not a ganopt training checkpoint (it has no "
            "'ganopt' entry with the run's config). Give the last.ckpt written by "
            f"scripts/train.py, e.g. ckpt_path={EXAMPLE_CKPT}."
        )
    if not isinstance(state.get("config"), dict):
        raise CheckpointError(
            f"ckpt_path={path} was written by a ganopt version that did not store the run's "
            "config in its checkpoints, so its networks cannot be rebuilt from it alone. Retrain, "
            "or resume it for one step with scripts/train.py, which writes a new checkpoint."
        )
    in_current_form(state)
    return checkpoint


# Config groups renamed since older checkpoints were written: old group -> today's name.
RENAMED_GROUPS = {"optim": "network_optimizer", "update": "update_scheme"}


def renamed_override(line: str) -> str:
    """``optim@optimizer.discriminator=rmsprop`` -> ``network_optimizer@optimizer...=rmsprop``."""
    key, sep, value = line.partition("=")
    bare = key.lstrip("+~")
    group, at, package = bare.partition("@")
    prefix = key[: len(key) - len(bare)]
    return f"{prefix}{RENAMED_GROUPS.get(group, group)}{at}{package}{sep}{value}"


# Data sets whose metrics were chosen by the data class before conf/metric existed.
OWN_METRICS = {
    "ganopt.data.MixtureDataModule": "modes",
    "ganopt.data.DigitsDataModule": "classifier",
    "ganopt.data.MNISTDataModule": "classifier",
    "ganopt.data.FashionMNISTDataModule": "classifier",
}


def in_current_form(state: dict[str, Any]) -> None:
    """A checkpoint's stored config and overrides in today's form (in place): renamed groups,
    and the metrics an older run's data class chose as ``metrics.evaluators``."""
    config = state["config"]
    for old, new in RENAMED_GROUPS.items():
        if old in config and new not in config:
            config[new] = config.pop(old)
    if state.get("overrides") is not None:
        state["overrides"] = [renamed_override(line) for line in state["overrides"]]
    metrics = config.setdefault("metrics", {})
    if "evaluators" not in metrics:
        metrics["evaluators"] = own_metrics(config.get("data") or {})
        if isinstance(evaluation := (config.get("callbacks") or {}).get("evaluation"), dict):
            evaluation.setdefault("metrics", metrics["evaluators"])


def own_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """The conf/metric evaluators an older data class chose itself, with the settings it held
    (moved out of ``data``)."""
    settings = {key: data.pop(key) for key in ("hq_sigmas", "min_samples_per_mode") if key in data}
    name = OWN_METRICS.get(data.get("_target_", ""))
    if name is None:
        return {}
    metric = cast(
        dict[str, Any], OmegaConf.to_container(OmegaConf.load(CONF / "metric" / f"{name}.yaml"))
    )
    return {name: {**metric, **settings}}
