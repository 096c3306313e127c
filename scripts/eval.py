"""Recompute a checkpoint's metrics: python scripts/eval.py ckpt_path=<last.ckpt> [n_samples=...]

Uses the evaluators training used (the data set's own: mode coverage on 2D mixtures, classifier
FCD on digit data; Inception FID/KID when the run had them or inception=true), with the run's
n_samples and latent seed unless given, so the numbers equal the run's final metrics.json.
Prints a table and writes JSON (default <run>/eval.json). The logic lives in ganopt.trained
and ganopt.sampling.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganopt.errors import ConfigError
from ganopt.sampling import generate, latents
from ganopt.script_args import Arg, check_positive, resolve_device, script_main
from ganopt.trained import (
    CheckpointError,
    choose_generator,
    evaluation_callback,
    load_gan,
    run_dir,
)

PROG = "eval.py"
SUMMARY = (
    "Recomputes the metrics of a checkpoint with the evaluators of its training run and writes\n"
    "them as JSON. Unset values come from the run's config, so the numbers match metrics.json."
)
ARGS = {
    "ckpt_path": Arg(str, None, "the last.ckpt of a training run (required)"),
    "n_samples": Arg(
        int, None, "generated samples; default the run's callbacks.evaluation.n_samples"
    ),
    "seed": Arg(int, None, "latent seed; default the run's evaluation seed (1234)"),
    "inception": Arg(bool, None, "add Inception eval/fid and eval/kid; default the run's setting"),
    "inception_weights": Arg(str, None, "local torch-fidelity Inception weights (offline use)"),
    "out": Arg(str, None, "JSON path; default <run>/eval.json"),
    "ema": Arg(bool, None, "true: EMA generator, false: raw one; default EMA when trained with it"),
    "device": Arg(str, "auto", "auto (CUDA when available), cpu, cuda or cuda:<index>"),
    "batch_size": Arg(
        int, None, "samples per forward pass; default the run's n_samples (training's one pass)"
    ),
    "data_root": Arg(str, None, "the data set's folder on this machine; default the run's"),
}


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


def run(values: dict[str, Any]) -> dict[str, Any]:
    check_positive(values, "n_samples", "batch_size")
    device = resolve_device(values["device"])
    module, datamodule, config = load_gan(values["ckpt_path"], "cpu", values["data_root"])
    network, which = choose_generator(module, values["ema"])
    callback = evaluation_callback(
        config,
        n_samples=values["n_samples"],
        seed=values["seed"],
        inception=values["inception"],
        inception_weights=values["inception_weights"],
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
            "this run's data set has no metrics of its own (no mode coverage or digit "
            "classifier) and Inception metrics are off: pass inception=true (with "
            "inception_weights=<path> on a machine without internet access)."
        )
    # Training generated its n_samples in one pass: the same pass gives the same floats, and
    # larger evaluations (n_samples=50000) go in chunks of a size that training showed fits.
    batch_size = values["batch_size"] or evaluation_callback(config).n_samples
    z = latents(network, callback.n_samples, callback.seed)
    samples = generate(network, z, device, batch_size)
    metrics = evaluator(samples)
    return {
        **metrics,
        "ckpt_path": str(Path(values["ckpt_path"]).absolute()),
        "generator_steps": module.generator_steps,
        "generator": which,
        "n_samples": callback.n_samples,
        "seed": callback.seed,
        "inception": bool(callback.inception),
        "device": str(device),
        "wall_time_s": round(time.perf_counter() - started, 2),
    }


def evaluate_and_write(values: dict[str, Any]) -> int:
    result = run(values)
    out = Path(values["out"]) if values["out"] else run_dir(values["ckpt_path"]) / "eval.json"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as error:
        print(f"{PROG}: error: cannot write {out}: {error}", file=sys.stderr)
        return 1
    print(table(result))
    print(f"{PROG}: wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(PROG, ARGS, SUMMARY, evaluate_and_write, argv)


if __name__ == "__main__":
    sys.exit(main())
