"""When a periodic callback is due: counted in generator steps, the unit GAN papers report."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

import lightning as L

if TYPE_CHECKING:
    from ganopt.module import GAN


class EveryNSteps(L.Callback):
    """Base for callbacks that act every ``every_n_steps`` generator steps and once at the end.

    ``every_n_steps <= 0`` keeps only the final call. Before each call the module checks that
    nothing diverged (``GAN.raise_if_diverged``), so no callback saves or scores NaN weights. A
    run stopped by a signal gets the final call only from callbacks that set
    ``run_when_interrupted`` (the checkpoint): the time before a SLURM kill is short. Calls run
    with schedule-free optimizers in eval mode (``GAN.averaged_weights``).
    """

    run_when_interrupted = False

    def __init__(self, every_n_steps: int) -> None:
        self.every_n_steps = every_n_steps
        self._seen = self._done = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self._seen = self._done = pl_module.generator_steps  # non-zero when resuming

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_) -> None:
        step, n = pl_module.generator_steps, self.every_n_steps
        due = n > 0 and step // n > self._seen // n
        self._seen = step
        if due:
            self._run(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if getattr(pl_module, "interrupted", False) and not self.run_when_interrupted:
            return
        if pl_module.generator_steps != self._done:
            self._run(trainer, pl_module)

    def _run(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self._done = pl_module.generator_steps
        if hasattr(pl_module, "raise_if_diverged"):
            pl_module.raise_if_diverged()
        averaged = getattr(pl_module, "averaged_weights", nullcontext)
        with averaged():  # schedule-free optimizers: samples and checkpoints hold x
            self.run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: GAN) -> None:
        raise NotImplementedError
