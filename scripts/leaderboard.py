"""The benchmark's leaderboard: python scripts/leaderboard.py [workloads=[ring,grid,...]].

Reads each workload's study journal (nothing is run or written there) and writes
<out_dir>/leaderboard.md, leaderboard.csv and the performance-profile and heat-map PNGs for the
tuned and untuned rulesets, and README's tables between its leaderboard markers (readme=null:
README untouched). The logic lives in ganopt.study.leaderboard_report.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ganopt.app.cli import exit_status, run_app

log = logging.getLogger("ganopt")


@hydra.main(version_base="1.3", config_path="../conf", config_name="leaderboard")
def main(cfg: DictConfig) -> None:
    with exit_status(cfg):
        from ganopt.app.schema import LEADERBOARD
        from ganopt.app.settings import check

        check(cfg, LEADERBOARD)
        from ganopt.study.leaderboard_report import (
            scored_workloads,
            workload_studies,
            write_leaderboard,
        )

        out = Path(cfg.out_dir)
        studies = workload_studies(list(cfg.workloads), out)
        readme = Path(cfg.readme) if cfg.readme else None
        scored, references = scored_workloads(cfg), list(cfg.references)
        for path in write_leaderboard(studies, out, scored, references, readme):
            log.info("wrote %s", path)


if __name__ == "__main__":
    run_app(main, "leaderboard")
