"""Progress in generator steps, and throughput, at a cost that does not show in step time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from ganopt.module import as_float64

if TYPE_CHECKING:
    from ganopt.module import GAN


class StepProgressBar(TQDMProgressBar):
    """A tqdm bar whose total is the run's generator steps (the default bar counts batches of
    an endless stream and has no total).

    Set at train start and again at each epoch start (Lightning's own reset): a run resumed in
    the middle of an epoch gets no epoch-start hook. The bar starts at the resumed step, so
    its rate counts this session's steps only.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        super().on_train_start(trainer, pl_module)
        self._count_generator_steps(pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._count_generator_steps(pl_module)

    def _count_generator_steps(self, pl_module: GAN) -> None:
        bar = self.train_progress_bar
        bar.reset(total=pl_module.steps)
        bar.n = bar.last_print_n = bar.initial = pl_module.generator_steps
        bar.set_description(f"{pl_module.steps} generator steps")

    # Evaluation is a validation loop of one placeholder batch: no bar for it (Lightning's would
    # print a line at every evaluation).
    def on_validation_start(self, *_: Any) -> None:
        pass

    def on_validation_batch_start(self, *_: Any, **__: Any) -> None:
        pass

    def on_validation_batch_end(self, *_: Any, **__: Any) -> None:
        pass

    def on_validation_end(self, *_: Any) -> None:
        pass

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_) -> None:
        bar = self.train_progress_bar
        if pl_module.generator_steps - bar.n >= self.refresh_rate or trainer.should_stop:
            bar.n = pl_module.generator_steps
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()


class Throughput(L.Callback):
    """Logs ``perf/steps_per_sec``: generator steps per wall-clock second since the last log,
    on the batches Lightning sends to the loggers (every ``trainer.log_every_n_steps``)."""

    def __init__(self) -> None:
        self._clock = (0.0, 0)

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self._clock = (time.perf_counter(), pl_module.generator_steps)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_) -> None:
        every = trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by Lightning
        if pl_module.iterations % every and not trainer.should_stop:
            return
        now, step = time.perf_counter(), pl_module.generator_steps
        rate = (step - self._clock[1]) / max(now - self._clock[0], 1e-9)
        self._clock = (now, step)
        pl_module.log_dict(as_float64({"perf/steps_per_sec": rate}))
