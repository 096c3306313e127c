"""A trained GAN back from its ``last.ckpt``, for scripts/generate.py and scripts/eval.py.

A ganopt checkpoint stores the resolved run config (``checkpoint["ganopt"]["config"]``), so the
networks are rebuilt exactly as training built them (``ganopt.app.train.build``) and the weights
loaded into them: no config file, no Hydra and no data set on disk are needed to draw samples.
Reading and checking the file is ``ganopt.app.checkpoint``.

Sampling (``ganopt.sampling``) follows the evaluation callback exactly, so ``eval.py`` with the
stored ``n_samples`` and seed reproduces the training run's final metrics.

Only torch and OmegaConf are imported up front; Lightning, Hydra and the callbacks (seconds of
imports) are imported only when a checkpoint is rebuilt.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ganopt.app.checkpoint import CheckpointError, read_checkpoint
from ganopt.errors import ConfigError, one_line

if TYPE_CHECKING:
    import lightning as L

    from ganopt.callbacks import Evaluation
    from ganopt.module import GAN


class LoadedGAN(NamedTuple):
    module: GAN
    datamodule: L.LightningDataModule
    config: DictConfig


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
    from ganopt.app.train import build  # Lightning and Hydra: imported only when needed

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
