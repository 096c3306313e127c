"""A trained GAN back from its ``last.ckpt``, for scripts/generate.py and scripts/eval.py.

A ganopt checkpoint stores the resolved run config (``checkpoint["ganopt"]["config"]``), so the
networks are rebuilt exactly as training built them (``ganopt.train.build``) and the weights
loaded into them: no config file, no Hydra and no data set on disk are needed to draw samples.
Everything a user can get wrong (no file, not a checkpoint, another program's checkpoint) is a
``CheckpointError`` whose message the scripts print in one paragraph with exit status 2.

Sampling (``ganopt.sampling``) follows the evaluation callback exactly, so ``eval.py`` with the
stored ``n_samples`` and seed reproduces the training run's final metrics.

Only torch and OmegaConf are imported up front; Lightning, Hydra and the callbacks (seconds of
imports) are imported only when a checkpoint is rebuilt.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ganopt.errors import ConfigError, one_line
from ganopt.script_args import EXAMPLE_CKPT

if TYPE_CHECKING:
    import lightning as L

    from ganopt.callbacks import Evaluation
    from ganopt.module import GAN


class CheckpointError(ConfigError):
    """A checkpoint the user can fix (missing, foreign, damaged); scripts print it, exit with 2."""


class LoadedGAN(NamedTuple):
    module: GAN
    datamodule: L.LightningDataModule
    config: DictConfig


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
    from ganopt.compose import CONF

    settings = {key: data.pop(key) for key in ("hq_sigmas", "min_samples_per_mode") if key in data}
    name = OWN_METRICS.get(data.get("_target_", ""))
    if name is None:
        return {}
    metric = cast(
        dict[str, Any], OmegaConf.to_container(OmegaConf.load(CONF / "metric" / f"{name}.yaml"))
    )
    return {name: {**metric, **settings}}


def load_gan(
    path: str | Path, map_location: str | torch.device = "cpu", data_root: str | None = None
) -> LoadedGAN:
    """Rebuild the datamodule and GAN module from the stored config and load the weights.

    The module's counters are restored (``generator_steps``), but not the RNG state: sampling
    here uses its own seeded generators. Networks stay on ``map_location``'s device.
    ``data_root`` replaces the stored ``data.root``: the run may have read its data set from a
    folder of another machine.
    """
    checkpoint = read_checkpoint(path, map_location)
    state = checkpoint["ganopt"]
    config = OmegaConf.create(state["config"])
    if data_root is not None:
        if "root" not in config.data:
            raise CheckpointError(
                f"data_root={data_root} is not allowed: this run's data set "
                f"({config.data.get('_target_', '?')}) is built in and reads no folder."
            )
        config.data.root = data_root
    from ganopt.train import build  # Lightning and Hydra: imported only when needed

    try:
        datamodule, module = build(config)
    except ConfigError:
        raise
    except Exception as error:  # a class renamed or a key added since the run was trained
        raise CheckpointError(
            f"the config stored in ckpt_path={path} cannot be built by this version of ganopt "
            f"({type(error).__name__}: {one_line(error, 300)})."
        ) from None
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"the weights in ckpt_path={path} do not fit the networks its config describes "
            f"({one_line(error, 300)}); the file may have been edited or written by a different "
            "ganopt version."
        ) from None
    module.generator_steps = int(state.get("generator_steps", 0))
    module.iterations = int(state.get("iterations", 0))
    return LoadedGAN(module.eval(), datamodule, config)


# ---- which generator, and how it is evaluated ------------------------------------------------
def choose_generator(module: GAN, ema: bool | None) -> tuple[nn.Module, str]:
    """The network to sample from and its name: the EMA generator when there is one (what
    training evaluated), unless ``ema`` says otherwise."""
    if ema is None:
        ema = module.ema is not None
    if ema and module.ema is None:
        raise CheckpointError(
            "ema=true, but this checkpoint has no EMA generator (it was trained with "
            "ema.decay=null). Leave ema out or pass ema=false to sample from the generator."
        )
    return (module.ema, "ema") if ema and module.ema is not None else (module.generator, "raw")


def evaluation_callback(config: DictConfig, **overrides: Any) -> Evaluation:
    """The run's evaluation callback as configured (n_samples, latent seed, Inception), with
    ``overrides`` for the values given on the command line; defaults when the run had none."""
    from hydra.utils import instantiate

    from ganopt.callbacks import Evaluation

    node = OmegaConf.select(config, "callbacks.evaluation")
    given = {key: value for key, value in overrides.items() if value is not None}
    if node is not None:
        try:
            return instantiate(node, **given)
        except Exception as error:  # e.g. a custom callback class that no longer exists
            raise CheckpointError(
                f"the evaluation callback stored in this checkpoint's config (callbacks."
                f"evaluation) cannot be built by this version of ganopt ({one_line(error)})."
            ) from None
    metrics = config.get("metrics") or {}
    settings = {
        "metrics": instantiate(metrics.get("evaluators") or {}),
        "inception": bool(metrics.get("inception", False)),
        "inception_weights": metrics.get("inception_weights"),
        **given,
    }
    return Evaluation(**settings)
