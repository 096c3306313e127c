"""train(cfg): config in, trained GAN and a metrics dict out. The scripts are thin wrappers."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams

from ganopt.app.compose import app_searchpath, searchpath_override
from ganopt.app.config import plain, validate
from ganopt.app.resume import check_fit, check_resume
from ganopt.app.runtime import cpu_arithmetic
from ganopt.app.schema import CONFIGURATION, role
from ganopt.callbacks import GracefulStop, StepCheckpoint, TimeToTarget
from ganopt.callbacks.schedule import evaluate_in_validation_loop, lightning_cadence
from ganopt.cuda_probe import without_nvml_probe
from ganopt.data.base import data_shape
from ganopt.ema import EMA
from ganopt.errors import (
    ConfigError,
    RunDiverged,
    RunInterrupted,
    RunStopped,
    missing_package,
)
from ganopt.metrics import METRIC_NAMES
from ganopt.models import parameter_counts
from ganopt.module import GAN
from ganopt.optim._common import wrapped

log = logging.getLogger(__name__)


class _NoAdvertisements(logging.Filter):
    """Lightning's tips for its cloud products, printed on every run (even after a config
    error, which must be the last thing on screen)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("💡 Tip")


for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_NoAdvertisements())


def one_log_configuration() -> None:
    """Lightning's messages through the application's logging only. ``import lightning`` gives
    its logger a stderr handler of its own, so under Hydra each of its messages
    (the 13-line model summary included) was printed twice: plain on stderr, and in Hydra's
    format on stdout and in the run's .log file. Once the root logger has handlers (Hydra's
    job logging; none with hydra/job_logging=disabled), Lightning's loggers hand theirs over."""
    if not logging.getLogger().hasHandlers():
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)
        logger.propagate = True


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn Hydra's wrapper around a user mistake into the mistake's own one-paragraph message."""
    try:
        yield
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        if (missing := missing_package(error)) is not None:
            raise missing from None
        if isinstance(cause, MisconfigurationException):  # Lightning's word on a trainer setting
            raise ConfigError(f"{cause} (set by the trainer config: {error})") from None
        raise


def checked_factories(factories: dict[str, Any], key: str) -> dict[str, Any]:
    """Check each optimizer factory's settings against its class now, not at the first step:
    swapping Adam for RMSprop while an experiment still sets ``betas`` must read as a config
    mistake, not a traceback from inside Lightning."""
    for network, factory in factories.items():
        if not isinstance(factory, functools.partial):
            continue
        signature = inspect.signature(factory.func)
        try:
            signature.bind(None, *factory.args, **factory.keywords)
        except TypeError as error:
            name = getattr(factory.func, "__name__", str(factory.func))
            unknown = [k for k in factory.keywords if k not in signature.parameters]
            hint = f"'~{key}.{network}.{unknown[0]}'" if unknown else "the extra key"
            raise ConfigError(
                f"{key}.{network} builds {name}, which does not accept these settings ({error}). "
                f"Remove {hint} or choose a matching optimizer."
            ) from None
    return factories


def gradient_evaluations_per_step(cfg: DictConfig, factories: dict[str, Any]) -> int:
    """Gradients one generator step costs: the discriminator's updates and the generator's,
    each as many gradients as its optimizer takes per update."""
    return cfg.d_steps * gradient_evaluations(factories["discriminator"]) + (
        cfg.g_steps * gradient_evaluations(factories["generator"])
    )


def gradient_evaluations(factory: Any) -> int:
    """Gradients one update of the optimizer a factory builds takes (2 for extragradient; a
    wrapper such as Lookahead takes its base optimizer's)."""
    declared = (
        getattr(getattr(f, "func", f), "gradient_evaluations", None) for f in wrapped(factory)
    )
    return next((n for n in declared if isinstance(n, int)), 1)


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, GAN]:
    """Instantiate the datamodule and the GAN module described by ``cfg``."""
    with user_errors():
        datamodule = instantiate(cfg.data)
        # plain lists, not ListConfig: an optimizer that keeps its betas as given would put
        # omegaconf objects in its state_dict, which checkpoints loaded weights_only refuse
        optimizers = checked_factories(instantiate(cfg.optimizer, _convert_="all"), "optimizer")
        scheme = instantiate(cfg.update_scheme)
        scheme.check(*(gradient_evaluations(optimizers[n]) for n in ("discriminator", "generator")))
        shape = data_shape(datamodule)
        generator = instantiate(cfg.model.generator, shape=shape)
        module = GAN(
            generator=generator,
            discriminator=instantiate(cfg.model.discriminator, shape=shape),
            loss=instantiate(cfg.loss),
            optimizer=optimizers,
            scheduler=instantiate(cfg.scheduler),
            update_scheme=scheme,
            clip_grad_norm=plain(cfg.clip_grad_norm),
            steps=cfg.steps,
            config=plain(cfg),
            regularizers=instantiate(cfg.get("regularizer") or {}),
            ema=EMA(generator, cfg.ema.decay, cfg.ema.start) if cfg.ema.decay else None,
            channels_last=bool(cfg.get("channels_last")),
        )
    if cfg.get("compile"):  # in place: state_dict keys stay free of torch.compile's _orig_mod.
        backend = "inductor" if cfg.compile is True else str(cfg.compile)
        module.generator.compile(backend=backend)
        module.discriminator.compile(backend=backend)
    if module.channels_last:
        module.to(memory_format=torch.channels_last)
    evaluate_in_validation_loop(datamodule, module)
    return datamodule, module


def run_summary(cfg: DictConfig, module: GAN) -> dict[str, Any]:
    """Every setting that tells runs apart (its role in ``ganopt.app.schema``), flat, as written to
    metrics.json and the TensorBoard HParams tab: ``optimizer`` first (``adam``, or
    ``adam/rmsprop`` when the networks' optimizers differ), the chosen options of the groups,
    then each setting (a built class by its name: ``optimizer.generator: Adam``) and the
    networks' sizes."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    networks = ("generator", "discriminator")
    g, d = (choices.get(f"network_optimizer@optimizer.{n}") for n in networks)
    pair = f"{g}/{d}" if g and d and g != d else None
    label = pair or choices.get("optimizer")
    presets = [preset_class(choices, n) for n in networks]
    if any(
        p is not None and built_class(cfg, n) != p for n, p in zip(networks, presets, strict=True)
    ):
        classes = [built_class(cfg, n) for n in networks]  # e.g. a _target_ override: NAdam
        label = classes[0] if classes[0] == classes[1] else "/".join(classes)
    summary: dict[str, Any] = {"optimizer": label}
    groups = ("data", "model", "loss", "update_scheme")
    summary.update({group: choices.get(group) for group in groups})
    for key in cfg:
        for name, value in settings(cfg.get(key), str(key)).items():
            if name not in summary and role(name) in CONFIGURATION:
                summary[name] = value
    sizes = parameter_counts(module.generator, module.discriminator)
    summary.update({f"params.{network}": n for network, n in sizes.items()})
    return summary


def built_class(cfg: DictConfig, network: str) -> str:
    """The class name of the optimizer a network's config builds."""
    return str(OmegaConf.select(cfg, f"optimizer.{network}._target_", default="")).split(".")[-1]


def preset_class(choices: Any, network: str) -> str | None:
    """The class name the network's chosen preset builds (None: no preset file to read)."""
    import yaml

    from ganopt.app.config import CONF

    name = choices.get(f"network_optimizer@optimizer.{network}")
    path = CONF / "network_optimizer" / f"{name}.yaml"
    if not name or not path.is_file():
        return None
    return str(yaml.safe_load(path.read_text()).get("_target_", "")).split(".")[-1]


def settings(node: Any, key: str) -> dict[str, Any]:
    """A config node as flat ``key.name: value`` pairs: a class as its name (``Adam``), lists as
    text (``(0.5, 0.999)``), ``_partial_`` left out; a node that is null or empty as null."""
    if OmegaConf.is_list(node):
        return {key: str(tuple(node))}
    if not isinstance(node, DictConfig) or not node:
        return {key: node if not isinstance(node, DictConfig) else None}
    flat: dict[str, Any] = {}
    for name, value in node.items():
        if name == "_target_":
            flat[key] = short_name(str(value))
        elif name != "_partial_":
            child = f"{key}.{name!s}"
            if isinstance(value, DictConfig):
                flat.update(settings(value, child))
            else:
                flat[child] = str(tuple(value)) if OmegaConf.is_list(value) else value
    return flat


def short_name(target: str) -> str:
    """A ``_target_`` by its class (``Adam``), with its factory (``ModeCoverage.of``), or its
    function (``ring_means``)."""
    parts = target.split(".")
    classes = [i for i, part in enumerate(parts) if part[:1].isupper()]
    return ".".join(parts[classes[-1] :]) if classes else parts[-1]


def task_overrides() -> list[str]:
    """This run's command-line overrides, stored in checkpoints so a resume can recompose it;
    with its search path (``hydra.searchpath``, ``--config-dir``), where a forker's own config
    groups live."""
    if not HydraConfig.initialized():
        return []
    return [*HydraConfig.get().overrides.task, *searchpath_override(app_searchpath())]


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] | None = None) -> dict[str, Any]:
    """Train a GAN as configured; write and return the final metrics. ``extra_callbacks`` run
    after the configured ones (a study's pruning callback, which holds its Optuna trial).

    A run that does not finish raises a ``RunStopped`` (diverged, interrupted by a signal, a
    failed save) after writing metrics.json with its ``status``; a mistake found before
    training raises ``ConfigError`` before anything is written.
    """
    validate(cfg)
    ckpt_path = check_resume(cfg)
    one_log_configuration()
    cpu_arithmetic(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, module = build(cfg)
    if ckpt_path is not None:
        check_fit(ckpt_path, module)
    module.overrides = task_overrides()
    callbacks = [instantiate(c) for c in cfg.callbacks.values()] + list(extra_callbacks or [])
    if cfg.get("target"):
        per_step = gradient_evaluations_per_step(cfg, module.optimizer_factories)
        callbacks.append(TimeToTarget(plain(cfg.target), per_step))
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar callback then
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    stop = GracefulStop()
    loggers = [instantiate(c) for c in cfg.logger.values()]
    with user_errors():
        trainer: L.Trainer = instantiate(
            cfg.trainer,
            callbacks=[*callbacks, stop],
            logger=loggers or False,
            **lightning_cadence(cfg, callbacks),
        )
    summary = run_summary(cfg, module)  # the HParams tab now, metrics.json at the end
    if trainer.is_global_zero:
        log_run_summary(loggers, summary)

    started = time.perf_counter()
    try:
        with no_nvml_probes(trainer):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        if module.interrupted and module.generator_steps < cfg.steps:
            raise RunInterrupted(
                f"{signal_name(stop)} at generator step {module.generator_steps} "
                f"of {cfg.steps}.{saved_note(callbacks)}",
                step=module.generator_steps,
                signum=stop.signum or signal.SIGTERM,
            )
    except RunStopped as stopped:
        if isinstance(stopped, RunDiverged):
            stopped.args = (f"{stopped}{saved_note(callbacks)}",)
        elapsed = time.perf_counter() - started
        write_metrics(
            cfg,
            trainer,
            module,
            summary,
            elapsed,
            stopped.status,
            reason=str(stopped),
            last_good_step=stopped.step,
        )
        stop.hand_over()  # e.g. SLURM: requeue the job, which continues with ckpt_path=auto
        raise
    early = module.generator_steps < cfg.steps  # a callback's should_stop, e.g. EarlyStopping
    reason = (
        f"stopped early by a callback at generator step {module.generator_steps}" if early else None
    )
    return write_metrics(
        cfg, trainer, module, summary, time.perf_counter() - started, "finished", reason=reason
    )


@contextmanager
def no_nvml_probes(trainer: L.Trainer) -> Iterator[None]:
    """A CPU run without Lightning's NVML probe (``ganopt.cuda_probe``); other devices as is."""
    with without_nvml_probe() if isinstance(trainer.accelerator, CPUAccelerator) else nullcontext():
        yield


def log_run_summary(loggers: list[Logger], summary: dict[str, Any]) -> None:
    """The run's settings for the HParams tab, written before training into the run's event
    file; TensorBoard pairs them with the last value of each declared metric's scalar."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            declared = dict.fromkeys(("loss/d", "loss/g", *METRIC_NAMES), 0.0)
            writer = logger.experiment._get_file_writer()  # as Lightning's log_hyperparams
            for event in hparams(summary, declared):
                writer.add_summary(event)
        else:
            logger.log_hyperparams(summary)


def signal_name(stop: GracefulStop) -> str:
    return signal.Signals(stop.signum).name if stop.signum else "another rank's signal"


def saved_note(callbacks: list[Any]) -> str:
    """Where the work is: the step last.ckpt holds, and how to continue from it."""
    for callback in callbacks:
        if isinstance(callback, StepCheckpoint):
            if callback.saved_step is None:
                return " No checkpoint was written."
            return (
                f" {callback.path} holds generator step {callback.saved_step}; continue with "
                f"ckpt_path={callback.path} (or ckpt_path=auto in the same hydra.run.dir)."
            )
    return " No checkpoint callback is configured, so nothing was saved."


def write_metrics(
    cfg: DictConfig,
    trainer: L.Trainer,
    module: GAN,
    summary: dict[str, Any],
    wall_time: float,
    status: str,
    reason: str | None = None,
    last_good_step: int | None = None,
) -> dict[str, Any]:
    """metrics.json and train()'s return value, on rank 0: the last value of every metric
    Lightning holds (``trainer.callback_metrics``), the status and the run's settings."""
    final = {key: float(value) for key, value in trainer.callback_metrics.items() if key != "step"}
    metrics = {
        "status": status,
        **({"reason": reason} if reason else {}),
        **({"last_good_step": last_good_step} if last_good_step is not None else {}),
        **final,
        **next((c.reached for c in trainer.callbacks if isinstance(c, TimeToTarget)), {}),  # type: ignore[attr-defined]
        "generator_steps": module.generator_steps,
        "wall_time_s": round(wall_time, 2),
        "config": summary,
    }
    if trainer.is_global_zero:
        output_dir = Path(cfg.paths.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        log.info("Run directory: %s (metrics.json, checkpoints/, samples/)", output_dir)
        # the runs folder of the default layout (to compare runs), else this run's own folder
        log_dir = Path(cfg.paths.log_dir).resolve()
        shown = output_dir.parent if log_dir in output_dir.resolve().parents else output_dir
        log.info("Watch it with: tensorboard --logdir %s", shown)
    return metrics
