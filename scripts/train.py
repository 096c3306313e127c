"""Train a GAN: python scripts/train.py [hydra overrides], e.g. optimizer=rmsprop steps=2000."""

from __future__ import annotations

import logging
import sys
import warnings

import hydra
from omegaconf import DictConfig

from ganopt.config import register_resolvers
from ganopt.errors import ConfigError
from ganopt.train import train

log = logging.getLogger("ganopt")
# Lightning 2.6 with torch >= 2.10 warns about its own use of torch's pytree API on every run.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except ConfigError as error:
        log.error("Configuration error: %s", error)
        sys.exit(2)
    # A sweeper that optimises (e.g. Optuna) reads this value; `optimized_metric=eval/modes`.
    return metrics.get(cfg.get("optimized_metric")) if cfg.get("optimized_metric") else None


if __name__ == "__main__":
    register_resolvers()
    main()
