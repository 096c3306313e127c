"""Draw samples from a trained GAN: python scripts/generate.py ckpt_path=<last.ckpt> [n=64] ...

Writes a PNG grid of ``n`` samples (a scatter over the data for 2D mixtures), and optionally an
.npz of the raw samples and their latents and a latent interpolation strip. With the defaults
(n=64, seed=0) the grid is the one training wrote last to samples/. Runs on the CPU for
checkpoints trained on a GPU. The logic lives in ganopt.trained and ganopt.sampling.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ganopt.errors import ConfigError
from ganopt.sampling import (
    INTERPOLATIONS,
    generate,
    grid_columns,
    interpolation_latents,
    latents,
)
from ganopt.script_args import Arg, check_positive, resolve_device, script_main
from ganopt.trained import choose_generator, load_gan, run_dir

PROG = "generate.py"
SUMMARY = (
    "Writes a PNG grid of n generated samples (a scatter plot over the data for 2D mixtures);\n"
    "npz=true adds the raw samples and latents, interpolate=<frames> a latent interpolation strip."
)
ARGS = {
    "ckpt_path": Arg(str, None, "the last.ckpt of a training run (required)"),
    "n": Arg(int, 64, "number of samples"),
    "seed": Arg(int, 0, "seed of the latent codes (training's sample grids use 0)"),
    "out": Arg(str, None, "PNG path; default <run>/generated/samples_seed<seed>.png"),
    "npz": Arg(bool, False, "also write <out>.npz: samples (float32, data range) and latents"),
    "interpolate": Arg(int, 0, "frames per row of a latent interpolation strip; 0 = none"),
    "rows": Arg(int, 8, "rows of the strip, one pair of latent codes each"),
    "interpolation": Arg(str, "slerp", "slerp (spherical) or lerp (linear)"),
    "ema": Arg(bool, None, "true: EMA generator, false: raw one; default EMA when trained with it"),
    "device": Arg(str, "auto", "auto (CUDA when available), cpu, cuda or cuda:<index>"),
}


def check(values: dict[str, Any]) -> None:
    check_positive(values, "n", "rows")
    frames = values["interpolate"]
    if frames < 0 or frames == 1:
        raise ConfigError(
            f"interpolate={frames} is not allowed: give the number of frames per row (>= 2, both "
            "ends included), or 0 for no interpolation strip."
        )
    if values["interpolation"] not in INTERPOLATIONS:
        raise ConfigError(
            f"interpolation={values['interpolation']} is not allowed: use "
            f"{' or '.join(INTERPOLATIONS)}."
        )
    if values["out"] is not None and Path(values["out"]).suffix.lower() != ".png":
        raise ConfigError(f"out={values['out']} is not allowed: give a path ending in .png.")


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


def run(values: dict[str, Any]) -> list[Path]:
    check(values)
    device = resolve_device(values["device"])
    module, datamodule, _ = load_gan(values["ckpt_path"], map_location="cpu")
    network, which = choose_generator(module, values["ema"])
    n, seed, step = values["n"], values["seed"], module.generator_steps
    suffix = "_raw" if which == "raw" and module.ema is not None else ""
    default = run_dir(values["ckpt_path"]) / "generated" / f"samples_seed{seed}{suffix}.png"
    out = Path(values["out"]) if values["out"] is not None else default

    z = latents(network, n, seed)
    samples = generate(network, z, device)
    points = samples.dim() != 4
    real = datamodule.real_samples(2500) if points else None
    title = f"{n} samples, generator step {step} ({which})"
    save_picture(samples, grid_columns(n), out, real, title)
    written = [out]
    print(f"{PROG}: {n} samples from the {which} generator at generator step {step}: {out}")

    arrays: dict[str, Any] = {"samples": samples.numpy(), "latents": z.numpy()}
    if frames := values["interpolate"]:
        rows = values["rows"]
        mode = values["interpolation"]
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
        print(f"{PROG}: {rows} rows x {frames} frames of {mode} interpolation: {path}")

    if values["npz"]:
        path = out.with_suffix(".npz")
        np.savez(path, **arrays, generator_steps=step, seed=seed, generator=which)
        written.append(path)
        print(f"{PROG}: raw samples {tuple(samples.shape)} and latents {tuple(z.shape)}: {path}")
    return written


def write_files(values: dict[str, Any]) -> int:
    run(values)  # prints each file it writes
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(PROG, ARGS, SUMMARY, write_files, argv)


if __name__ == "__main__":
    sys.exit(main())
