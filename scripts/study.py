"""A budget-fair optimizer study: python scripts/study.py study=<name> [overrides].

Phase 1 searches each optimizer with the same number of Optuna trials, phase 2 re-runs each
one's best configuration on fresh seeds; writes <report_dir>/table.md, table.csv and PNGs.
Rerunning the command resumes from the trial journal. The logic lives in ganopt.study.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ganopt.app.cli import exit_status, run_app

log = logging.getLogger("ganopt")


@hydra.main(version_base="1.3", config_path="../conf", config_name="study")
def main(cfg: DictConfig) -> None:
    with exit_status(cfg):
        from ganopt.study.report import write_report
        from ganopt.study.runner import run_study

        run_study(cfg)
        for path in write_report(cfg, Path(cfg.report_dir)):
            log.info("wrote %s", path)


if __name__ == "__main__":
    run_app(main, "study")
