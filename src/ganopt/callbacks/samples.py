"""Fixed-noise samples every N generator steps: an image grid, or a 2D scatter over the data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid, save_image

from ganopt.callbacks.schedule import EveryNSteps
from ganopt.data.base import real_examples
from ganopt.figures import plt, scatter_figure

if TYPE_CHECKING:
    from ganopt.module import GAN


class SampleGrid(EveryNSteps):
    """Writes ``samples/step_XXXXXXX.png`` in the run dir and the same picture to TensorBoard."""

    def __init__(self, dirpath: str, every_n_steps: int = 500, n: int = 64, seed: int = 0) -> None:
        super().__init__(every_n_steps)
        self.dirpath, self.n, self.seed = Path(dirpath), n, seed

    def run(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if not trainer.is_global_zero:
            return
        step = pl_module.generator_steps
        samples = pl_module.sample(self.n, torch.Generator().manual_seed(self.seed)).float().cpu()
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"step_{step:07d}.png"
        tensorboard = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if samples.dim() == 4:  # images in [-1, 1]
            grid = make_grid(samples, nrow=int(self.n**0.5), normalize=True, value_range=(-1, 1))
            save_image(grid, path)
            for logger in tensorboard:
                logger.experiment.add_image("samples", grid, step)
        else:  # 2D points, many of them, over a sample of the data
            dense = pl_module.sample(2500, torch.Generator().manual_seed(self.seed)).float().cpu()
            real = real_examples(trainer.datamodule, 512)  # type: ignore[attr-defined]
            figure = scatter_figure(dense, real, f"generator step {step}")
            figure.savefig(path)
            for logger in tensorboard:
                logger.experiment.add_figure("samples", figure, step)
            plt.close(figure)
