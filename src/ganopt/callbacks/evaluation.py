"""Evaluate generated samples every N generator steps with the metrics that fit the data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import lightning as L
import torch

from ganopt.data.base import real_examples
from ganopt.errors import ConfigError
from ganopt.metrics import Evaluator, Evaluators, InceptionMetrics
from ganopt.module import as_float64

if TYPE_CHECKING:
    from ganopt.module import GAN


def untouched_rng(device: torch.device) -> AbstractContextManager:
    """Restore the global RNG afterwards: evaluation must not change what training draws next
    (a resumed run, which skips the evaluations before its checkpoint, would diverge)."""
    return torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])


class Evaluation(L.Callback):
    """Logs ``eval/*`` metrics in Lightning's validation loop, every ``every_n_steps`` generator
    steps and at the end: ``trainer.callback_metrics`` then holds them when ModelCheckpoint,
    EarlyStopping or a pruner look at ``on_validation_end``.

    The metrics are configuration: ``metrics`` maps names to evaluator factories called with the
    datamodule (``metrics.evaluators``, from conf/metric, picked by the data config: mode
    coverage on 2D mixtures, classifier FCD and class coverage on digit data), plus, with
    ``inception=True``, Inception FID/KID against real images. They are built and prepared
    (networks loaded, real statistics computed) before training starts, so a missing weights
    file or a metric the data set cannot serve fails at once. Samples come from a fixed latent
    seed, so successive evaluations differ only by the generator, and evaluation never consumes
    the training RNG (resumed runs stay exact). Rank 0 evaluates; every rank logs its result.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        n_samples: int = 2500,
        seed: int = 1234,
        inception: bool = False,
        inception_weights: str | None = None,
        metrics: Mapping[str, Callable[[L.LightningDataModule], Evaluator]] | None = None,
    ) -> None:
        self.every_n_steps = (
            every_n_steps  # <= 0: only at the end (callbacks.schedule states the cadence)
        )
        self.n_samples, self.seed = n_samples, seed
        self.inception, self.inception_weights = inception, inception_weights
        self.metrics = dict(metrics or {})  # name -> evaluator factory (conf/metric)
        self.evaluator: Evaluators | None = None

    def build(self, datamodule: L.LightningDataModule) -> Evaluators | None:
        parts = []
        for name, make in self.metrics.items():
            try:
                parts.append(make(datamodule))
            except ConfigError as error:
                raise ConfigError(
                    f"metrics.evaluators.{name}: {error}, or leave it out with "
                    f"~metrics.evaluators.{name}."
                ) from None
        if self.inception:
            real = real_examples(datamodule, self.n_samples)
            parts.append(InceptionMetrics(real, weights_path=self.inception_weights))
        # an evaluator that needs more samples than configured says so (stacked digits' 1,000
        # modes need 10,000)
        self.n_samples = max([self.n_samples, *(getattr(p, "min_samples", 0) for p in parts)])
        return Evaluators(*parts) if parts else None

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if trainer.is_global_zero and self.evaluator is None:
            with untouched_rng(pl_module.device):  # building networks draws initial weights
                self.evaluator = self.build(trainer.datamodule)  # type: ignore[attr-defined]
                if self.evaluator is not None:
                    self.evaluator.prepare()

    def evaluate(self, pl_module: GAN) -> dict[str, float]:
        """The metrics of ``n_samples`` generated from the fixed latent seed."""
        if self.evaluator is None:
            return {}
        with untouched_rng(pl_module.device):
            samples = pl_module.sample(self.n_samples, torch.Generator().manual_seed(self.seed))
            return self.evaluator(samples.float())

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if getattr(pl_module, "interrupted", False):  # a signal: the time left is the save's
            return
        metrics = trainer.strategy.broadcast(
            self.evaluate(pl_module) if trainer.is_global_zero else None
        )
        if metrics:
            pl_module.log_dict(as_float64({**metrics, "step": pl_module.generator_steps}))
