"""Evaluate generated samples with the datamodule's metrics every N generator steps."""

from __future__ import annotations

import lightning as L
import torch

from ganopt.callbacks.schedule import EveryNSteps


class Evaluation(EveryNSteps):
    """Logs ``eval/*`` metrics; ``latest`` holds the last result (what metrics.json reports).

    Samples come from a fixed latent seed so successive evaluations differ only by the
    generator, and evaluation never consumes the training RNG (resumed runs stay exact).
    """

    def __init__(self, every_n_steps: int = 500, n_samples: int = 2500, seed: int = 1234) -> None:
        super().__init__(every_n_steps)
        self.n_samples, self.seed = n_samples, seed
        self.latest: dict[str, float] = {}

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        evaluator = trainer.datamodule.evaluator()
        if evaluator is None or not trainer.is_global_zero:
            return
        samples = pl_module.sample(self.n_samples, torch.Generator().manual_seed(self.seed))
        self.latest = evaluator(samples.float())
        for logger in trainer.loggers:
            logger.log_metrics(self.latest, step=pl_module.generator_steps)
