"""When each periodic part of a run happens, stated here once. Everything counts generator steps,
the unit GAN papers report (never Lightning's ``global_step``, which counts every optimizer step):

- training scalars go to the loggers every ``log_every_n_steps`` (Lightning's own cadence, which
  counts batches: ``lightning_cadence`` converts);
- evaluation is Lightning's validation loop over one placeholder batch
  (``evaluate_in_validation_loop``), every ``callbacks.evaluation.every_n_steps`` and at the end,
  so ModelCheckpoint, EarlyStopping and study pruning read ``eval/*`` where Lightning puts them;
- samples and ``last.ckpt`` are ``EveryNSteps`` callbacks: every ``callbacks.<name>.every_n_steps``
  and once at the end (``<= 0``: only at the end); a checkpoint due at an evaluated step is
  written after that evaluation (``evaluates_after``), so it holds what the evaluation decided
  (time to target, early stopping): a run resumed from it skips that evaluation;
- the progress bar moves every ``callbacks.progress.refresh_rate`` steps.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from ganopt.callbacks.evaluation import Evaluation

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from ganopt.module import GAN


def lightning_cadence(cfg: DictConfig, callbacks: list[L.Callback]) -> dict[str, Any]:
    """Lightning's batch-counted cadences from ganopt's, which count generator steps.

    Training scalars go to the loggers every ``log_every_n_steps``; evaluation runs as
    Lightning's validation loop every ``callbacks.evaluation.every_n_steps`` and at the end
    (where the monitors of ModelCheckpoint and EarlyStopping look). Checkpointing is on when a
    checkpoint callback is configured (ganopt's StepCheckpoint writes last.ckpt); then Lightning
    adds none of its own and calls checkpoint callbacks after all others.
    """
    per_batch = cfg.g_steps
    evaluation = next((c for c in callbacks if isinstance(c, Evaluation)), None)
    every = evaluation.every_n_steps if evaluation is not None else 0
    return {
        "log_every_n_steps": max(1, cfg.log_every_n_steps // per_batch),
        "check_val_every_n_epoch": None,  # the stream is one endless epoch: count batches
        "val_check_interval": max(1, every // per_batch) if every > 0 else 2**62,
        "limit_val_batches": None if evaluation is not None else 0,  # None: all (one) batch
        "enable_checkpointing": any(isinstance(c, Checkpoint) for c in callbacks),
    }


def evaluates_after(trainer: L.Trainer, pl_module: GAN) -> bool:
    """Whether Lightning's validation loop (ganopt's evaluation) runs right after the batch that
    just ended: Lightning's rule for one endless epoch counted in batches
    (``lightning_cadence``), every ``val_check_batch`` batches and after the last one."""
    every = trainer.val_check_batch  # an int: ``val_check_interval`` counts batches
    if trainer.limit_val_batches == 0 or not isinstance(every, int):
        return False
    return trainer.should_stop or pl_module.iterations % every == 0


def evaluate_in_validation_loop(datamodule: L.LightningDataModule, module: GAN) -> None:
    """Evaluation runs as Lightning's validation loop over the module's placeholder loader (a GAN
    has no validation data to score); given a datamodule, Lightning would ask it instead."""
    datamodule.val_dataloader = module.val_dataloader  # type: ignore[method-assign]


class EveryNSteps(L.Callback):
    """Base for callbacks that act every ``every_n_steps`` generator steps and once at the end.

    ``every_n_steps <= 0`` keeps only the final call. Before each call the module checks that
    nothing diverged (``GAN.raise_if_diverged``), so no callback saves or scores NaN weights. A
    run stopped by a signal gets the final call only from callbacks that set
    ``run_when_interrupted`` (the checkpoint): the time before a SLURM kill is short. A callback
    that sets ``after_evaluation`` waits, at an evaluated step, for ``on_validation_end``. Calls
    run with schedule-free optimizers in eval mode (``GAN.averaged_weights``).
    """

    run_when_interrupted = False
    after_evaluation = False

    def __init__(self, every_n_steps: int) -> None:
        self.every_n_steps = every_n_steps
        self._seen = self._done = 0
        self._waiting = False  # due at this step, after its evaluation

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self._seen = self._done = pl_module.generator_steps  # non-zero when resuming

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_) -> None:
        step, n = pl_module.generator_steps, self.every_n_steps
        due = n > 0 and step // n > self._seen // n
        self._seen = step
        if due and self.after_evaluation and evaluates_after(trainer, pl_module):
            self._waiting = True
        elif due:
            self._run(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if self._waiting:
            self._waiting = False
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
