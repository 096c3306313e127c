"""Train a GAN: python scripts/train.py [hydra overrides], e.g. optimizer=rmsprop steps=2000.

Exit status: 0 finished, 2 a mistake in the command line or config (nothing trained), 3 the run
diverged, 4 a checkpoint could not be saved, 128 + N interrupted by signal N (130 Ctrl-C, 143
SIGTERM); metrics.json says the same in its ``status``.
"""

from __future__ import annotations

import logging
import warnings

import hydra
from omegaconf import DictConfig

from ganopt.app.cli import exit_status, run_app
from ganopt.app.config import validate

log = logging.getLogger("ganopt")
# Lightning 2.6 with torch >= 2.10 warns about its own use of torch's pytree API on every run.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with exit_status(cfg):
        validate(cfg)  # before importing torch: a mistaken value answers in a second
        from ganopt.app.resume import check_resume

        check_resume(cfg)  # before importing Lightning: so does a checkpoint that cannot resume
        from ganopt.app.train import train

        metrics = train(cfg)
    # A sweeper that optimises (e.g. Optuna) reads this value; `optimized_metric=eval/modes`.
    return metrics.get(cfg.get("optimized_metric")) if cfg.get("optimized_metric") else None


if __name__ == "__main__":
    run_app(main, "train", resume=True)
