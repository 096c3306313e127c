"""``last.ckpt`` every N generator steps, at the end of training and when a signal stops it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from ganopt.callbacks.schedule import EveryNSteps
from ganopt.errors import SaveFailed, one_line

if TYPE_CHECKING:
    from ganopt.module import GAN


class StepCheckpoint(EveryNSteps, Checkpoint):
    """Saves atomically: written to a temporary name, then renamed over ``last.ckpt``, so an
    interrupted or failed save (disk full) never damages the previous checkpoint. A failed save
    stops the run (``SaveFailed``): training on without a way back would waste the work.

    At an evaluated step it saves after the evaluation, and, as a Lightning ``Checkpoint``, after
    every other callback's ``on_validation_end`` (time to target, early stopping): a run resumed
    from it does not evaluate that step again, so the checkpoint must hold what it decided."""

    run_when_interrupted = True
    after_evaluation = True

    def __init__(
        self, dirpath: str, every_n_steps: int = 1000, filename: str = "last.ckpt"
    ) -> None:
        super().__init__(every_n_steps)
        self.path = Path(dirpath) / filename
        self.saved_step: int | None = None  # the generator step that last.ckpt holds

    def run(self, trainer: L.Trainer, pl_module: GAN) -> None:
        partial = self.path.with_suffix(".ckpt.tmp")
        try:
            trainer.save_checkpoint(partial, weights_only=False)
            if trainer.is_global_zero:
                partial.replace(self.path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            kept = (
                f"the previous {self.path.name} (generator step {self.saved_step}) is intact"
                if self.saved_step is not None
                else f"no earlier {self.path.name} was written by this run"
            )
            raise SaveFailed(
                f"could not write {self.path} at generator step {pl_module.generator_steps} "
                f"({one_line(error)}); {kept}. Free space, then resume with ckpt_path=auto in the "
                f"same hydra.run.dir.",
                step=pl_module.generator_steps,
            ) from None
        self.saved_step = pl_module.generator_steps
