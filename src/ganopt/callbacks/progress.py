"""Progress in generator steps, and throughput, at a cost that does not show in step time."""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from ganopt.module import as_float64

if TYPE_CHECKING:
    from ganopt.module import GAN

log = logging.getLogger("ganopt")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class StepProgressBar(TQDMProgressBar):
    """One bar for the whole run, counted in generator steps, whatever the datamodule's epochs.

    Lightning's bar starts as "Training 0/?", restarts as "Epoch N: 0/<batches>" at every epoch
    (a negative rate when the count goes back) and prints its last line again at epoch end and
    at the end. This one is made once, at train start, with the run's total and the resumed
    step (so its rate counts this session's steps), and drawn on batch ends only; its final
    state is drawn once, by ``close``. When stdout is not a terminal (a log file, a SLURM
    output) a bar's redraws would pile up: the progress is then logged as a line every tenth
    of the run instead.
    """

    def __init__(self, refresh_rate: int = 1, lines: bool | None = None) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.lines = not sys.stdout.isatty() if lines is None else lines  # None: by stdout
        self._total = self._start = 0
        self._clock = 0.0

    def init_train_tqdm(self) -> Tqdm:
        return Tqdm(
            desc=f"{self._total} generator steps",
            total=self._total,
            initial=self._start,
            position=2 * self.process_position,
            disable=self.is_disabled or self.lines,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self._total, self._start = pl_module.steps, pl_module.generator_steps
        self._clock = time.perf_counter()
        self.train_progress_bar = self.init_train_tqdm()

    def on_train_epoch_start(self, *_: Any) -> None:
        pass  # epochs of the data stream are not the run's progress

    def on_train_epoch_end(self, *_: Any) -> None:
        pass

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_) -> None:
        bar, step = self.train_progress_bar, pl_module.generator_steps
        if self.lines:
            every = max(self.refresh_rate, self._total // 10)
            if step - bar.n >= every or trainer.should_stop:
                bar.n = step
                self._log_line(trainer, pl_module)
        elif step - bar.n >= self.refresh_rate or trainer.should_stop:
            bar.n = step
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            if not trainer.should_stop:  # the final state is drawn by close()
                bar.refresh()

    def _log_line(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if not trainer.is_global_zero:
            return
        step = pl_module.generator_steps
        rate = (step - self._start) / max(time.perf_counter() - self._clock, 1e-9)
        shown = self.get_metrics(trainer, pl_module).items()
        metrics = ", ".join(f"{k}={_short(v)}" for k, v in shown)
        log.info(
            "generator step %d/%d (%d%%), %.1f steps/s%s",
            step,
            self._total,
            100 * step // max(self._total, 1),
            rate,
            f", {metrics}" if metrics else "",
        )

    def on_exception(self, *_: Any) -> None:
        """Close the bar before the run's one-paragraph answer is printed: left open, tqdm
        drew it again below that answer when the interpreter exited."""
        if self._train_progress_bar is not None:
            self._train_progress_bar.close()

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
