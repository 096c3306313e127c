"""Optimizers on games with known dynamics: python scripts/games.py game=<name> [overrides].

Writes trajectories.png, distance.png, summary.csv (and stability.png/.csv, spectrum.png/.csv)
to its run directory, logs/games/runs/<date>/. The logic lives in ganopt.games.lab.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ganopt.app.cli import exit_status, run_app
from ganopt.app.schema import GAMES
from ganopt.app.settings import check

log = logging.getLogger("ganopt")


@hydra.main(version_base="1.3", config_path="../conf", config_name="games")
def main(cfg: DictConfig) -> None:
    from ganopt.games.lab import run_lab, run_spectra

    with exit_status(cfg):
        check(cfg, GAMES)  # every value against its declaration, before any work
        out = Path(cfg.paths.output_dir)
        run_lab(cfg, out)
        run_spectra(cfg, out)
        log.info("Figures and tables in %s", out)


if __name__ == "__main__":
    run_app(main, "games")
