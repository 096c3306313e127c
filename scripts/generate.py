"""Draw samples from a trained GAN: python scripts/generate.py ckpt_path=<last.ckpt> [n=64] ...

Writes a PNG grid of ``n`` samples (a scatter over the data for 2D mixtures), and optionally an
.npz of the raw samples and their latents and a latent interpolation strip, into its run
directory (logs/generate/runs/<date>/). With the defaults (n=64, seed=0) the grid is the one
training wrote last to samples/. Runs on the CPU for checkpoints trained on a GPU. A Hydra app:
conf/generate.yaml holds the settings. The logic lives in
ganopt.app.trained and ganopt.sampling.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig
from torch import Tensor

from ganopt.app.cli import exit_status, run_app
from ganopt.app.script_args import check_settings, resolve_device
from ganopt.app.trained import choose_generator, load_gan
from ganopt.errors import ConfigError
from ganopt.sampling import (
    generate,
    grid_columns,
    interpolation_latents,
    latents,
)

log = logging.getLogger("ganopt")


def check(cfg: DictConfig) -> None:
    check_settings(cfg, "generate")
    frames = cfg.interpolate
    if frames == 1:
        raise ConfigError(
            f"interpolate={frames} is not allowed: give the number of frames per row (>= 2, both "
            "ends included), or 0 for no interpolation strip."
        )
    if cfg.out is not None and Path(cfg.out).suffix.lower() != ".png":
        raise ConfigError(f"out={cfg.out} is not allowed: give a path ending in .png.")


def save_picture(
    samples: Tensor, columns: int, path: Path, real: Tensor | None, title: str
) -> None:
    """A grid of images in [-1, 1], or a scatter of 2D points over ``real`` data points."""
    from torchvision.utils import make_grid, save_image  # here: --help needs neither

    from ganopt.figures import plt, scatter_figure

    path.parent.mkdir(parents=True, exist_ok=True)
    if samples.dim() == 4:
        save_image(make_grid(samples, nrow=columns, normalize=True, value_range=(-1, 1)), path)
        return
    figure = scatter_figure(samples, real, title)
    figure.savefig(path)
    plt.close(figure)


def save_paths(paths: Tensor, real: Tensor, path: Path, title: str) -> None:
    """2D interpolation: each row's points joined by a line over the data."""
    from ganopt.figures import plt, scatter_figure

    figure = scatter_figure(paths.flatten(0, 1), real, title)
    axes = figure.axes[0]
    for row in paths:
        axes.plot(*row.T, c="tab:red", lw=0.8, alpha=0.6)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def write_samples(cfg: DictConfig) -> list[Path]:
    """The grid (and the strip and .npz when asked for); the paths written."""
    check(cfg)
    device = resolve_device(cfg.device)
    module, datamodule, _ = load_gan(cfg.ckpt_path, map_location="cpu")
    network, which = choose_generator(module, cfg.ema)
    n, seed, step = cfg.n, cfg.seed, module.generator_steps
    suffix = "_raw" if which == "raw" and module.ema is not None else ""
    default = Path(cfg.paths.output_dir) / f"samples_seed{seed}{suffix}.png"
    out = Path(cfg.out) if cfg.out is not None else default

    z = latents(network, n, seed)
    samples = generate(network, z, device)
    points = samples.dim() != 4
    real = datamodule.real_samples(2500) if points else None
    title = f"{n} samples, generator step {step} ({which})"
    save_picture(samples, grid_columns(n), out, real, title)
    written = [out]
    log.info("%d samples from the %s generator at generator step %d: %s", n, which, step, out)

    arrays: dict[str, Any] = {"samples": samples.numpy(), "latents": z.numpy()}
    if frames := cfg.interpolate:
        rows, mode = cfg.rows, cfg.interpolation
        ends = latents(network, 2 * rows, seed)  # row i: from code 2i to code 2i + 1
        codes = interpolation_latents(ends, frames, rows, mode)
        strip = generate(network, codes.flatten(0, 1), device)
        path = out.with_name(f"{out.stem}_interpolation.png")
        if points:
            save_paths(
                strip.view(rows, frames, -1), real, path, f"{mode}: {rows} pairs, step {step}"
            )
        else:
            save_picture(strip, frames, path, None, title)
        written.append(path)
        arrays.update(
            interpolation=strip.view(rows, frames, *strip.shape[1:]).numpy(),
            interpolation_latents=codes.numpy(),
        )
        log.info("%d rows x %d frames of %s interpolation: %s", rows, frames, mode, path)

    if cfg.npz:
        path = out.with_suffix(".npz")
        np.savez(path, **arrays, generator_steps=step, seed=seed, generator=which)
        written.append(path)
        log.info("raw samples %s and latents %s: %s", tuple(samples.shape), tuple(z.shape), path)
    return written


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    with exit_status(cfg):
        write_samples(cfg)


if __name__ == "__main__":
    run_app(main, "generate")
