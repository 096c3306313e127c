"""Recompute a checkpoint's metrics: python scripts/eval.py ckpt_path=<last.ckpt> [n_samples=...]

Uses the evaluators training used (the data set's own: mode coverage on 2D mixtures, classifier
FCD on digit data; Inception FID/KID when the run had them or inception=true), with the run's
n_samples and latent seed unless given, so the numbers equal the run's final metrics.json.
Prints a table and writes eval.json into its run directory (logs/eval/runs/<date>/). A Hydra
app: conf/eval.yaml holds the settings. The logic lives in
ganopt.app.trained and ganopt.sampling.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from ganopt.app.checkpoint import CheckpointError
from ganopt.app.cli import exit_status, run_app
from ganopt.app.script_args import check_settings, resolve_device
from ganopt.app.trained import choose_generator, evaluation_callback, load_gan
from ganopt.errors import ConfigError
from ganopt.sampling import generate, latents

log = logging.getLogger("ganopt")

# Training's config keys that messages from the data sets and metrics name, and eval.py's own.
OUR_KEYS = {"metrics.inception_weights=": "inception_weights=", "data.root=": "data_root="}


def with_our_keys(message: str) -> str:
    """A message from training's code, naming the eval.py arguments instead of its keys."""
    for config_key, arg in OUR_KEYS.items():
        message = message.replace(config_key, arg)
    return message


def table(result: dict[str, Any]) -> str:
    """The metrics as a two-column text table under a one-line description of the run."""
    metrics = {k: v for k, v in result.items() if k.startswith("eval/")}
    width = max(len(k) for k in metrics)
    lines = [
        f"{result['ckpt_path']}",
        f"{result['generator']} generator at generator step {result['generator_steps']}, "
        f"{result['n_samples']} samples, latent seed {result['seed']}",
        "",
        f"{'metric':<{width}}  value",
        f"{'-' * width}  {'-' * 12}",
        *(f"{key:<{width}}  {value:.6g}" for key, value in metrics.items()),
    ]
    return "\n".join(lines)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """The checkpoint's metrics (and how they were computed), as eval.json holds them."""
    check_settings(cfg, "eval")
    device = resolve_device(cfg.device)
    module, datamodule, config = load_gan(cfg.ckpt_path, "cpu", cfg.data_root)
    network, which = choose_generator(module, cfg.ema)
    callback = evaluation_callback(
        config,
        n_samples=cfg.n_samples,
        seed=cfg.seed,
        inception=cfg.inception,
        inception_weights=cfg.inception_weights,
    )
    started = time.perf_counter()
    try:
        evaluator = callback.build(datamodule)  # reads the data set (digits, MNIST, ...)
        if evaluator is not None and hasattr(evaluator, "prepare"):
            evaluator.prepare()  # networks and real statistics: fails here without weights
    except ConfigError as error:
        raise CheckpointError(with_our_keys(str(error))) from None
    if evaluator is None:
        raise CheckpointError(
            "this run was judged by no metric (its metrics.evaluators is empty: no mode "
            "coverage or digit classifier for its data set) and Inception metrics are off: pass "
            "inception=true (with inception_weights=<path> on a machine without internet)."
        )
    # Training generated its n_samples in one pass: the same pass gives the same floats, and
    # larger evaluations (n_samples=50000) go in chunks of a size that training showed fits.
    batch_size = cfg.batch_size or evaluation_callback(config).n_samples
    z = latents(network, callback.n_samples, callback.seed)
    samples = generate(network, z, device, batch_size)
    metrics = evaluator(samples)
    return {
        **metrics,
        "ckpt_path": str(Path(cfg.ckpt_path).absolute()),
        "generator_steps": module.generator_steps,
        "generator": which,
        "n_samples": callback.n_samples,
        "seed": callback.seed,
        "inception": bool(callback.inception),
        "device": str(device),
        "wall_time_s": round(time.perf_counter() - started, 2),
    }


def evaluate_and_write(cfg: DictConfig) -> Path:
    result = evaluate(cfg)
    out = Path(cfg.out) if cfg.out else Path(cfg.paths.output_dir) / "eval.json"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as error:
        raise ConfigError(f"out={out} cannot be written: {error}.") from None
    print(table(result))
    log.info("wrote %s", out)
    return out


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with exit_status(cfg):
        evaluate_and_write(cfg)


if __name__ == "__main__":
    run_app(main, "eval")
