"""``last.ckpt`` every N generator steps and at the end of training."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from ganopt.callbacks.schedule import EveryNSteps


class StepCheckpoint(EveryNSteps):
    def __init__(
        self, dirpath: str, every_n_steps: int = 1000, filename: str = "last.ckpt"
    ) -> None:
        super().__init__(every_n_steps)
        self.path = Path(dirpath) / filename

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Write to a temporary name, then rename: an interrupted save never corrupts last.ckpt.
        partial = self.path.with_suffix(".ckpt.tmp")
        trainer.save_checkpoint(partial, weights_only=False)
        if trainer.is_global_zero:
            partial.replace(self.path)
