"""The lab's pictures: trajectories over the vector field, distance curves, stability regions
and a spectrum in the complex plane. Small PNGs (Agg canvas, no display)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganopt.games.play import Trajectory
from ganopt.games.zoo import Game

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

VERDICT_COLORS = {"converges": "#2ca02c", "cycles": "#ff7f0e", "diverges": "#d62728"}


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    """A palette PNG: a few dozen colours, a third of the bytes (figures live in the repo)."""
    from PIL import Image

    figure.savefig(path)
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=64).save(path, optimize=True)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def trajectories_png(game: Game, runs: list[Trajectory], path: Path, extent: float = 2.0) -> None:
    """Stream plot of the simultaneous gradient field, one trajectory per run, the equilibrium
    marked at the origin."""
    figure = _figure(8.0, 5.0)
    ax = figure.add_subplot()
    grid = np.linspace(-extent, extent, 25)
    u, v = np.zeros((25, 25)), np.zeros((25, 25))
    for i, y in enumerate(grid):
        for j, x in enumerate(grid):
            u[i, j], v[i, j] = game.field(float(x), float(y))
    ax.streamplot(grid, grid, u, v, color="#bbbbbb", density=1.1, linewidth=0.7)
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        points = np.array([p for p in run.points if all(map(math.isfinite, p))])
        inside = np.all(np.abs(points) <= 1.5 * extent, axis=1)
        ax.plot(*points[inside].T, color=color, linewidth=1.2, label=run.label)
    ax.plot(*runs[0].points[0], "ko", markersize=5, label="start")
    ax.plot(0, 0, marker="*", color="black", markersize=12, linestyle="", label="equilibrium")
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel=game.axes[0], ylabel=game.axes[1])
    ax.set_aspect("equal")
    ax.set_title(f"{game.name}: trajectories over the gradient field")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    _save(figure, path)


def distance_png(game: Game, runs: list[Trajectory], path: Path) -> None:
    """Distance to the equilibrium against gradient evaluations, log scale."""
    figure = _figure(7.5, 4.5)
    ax = figure.add_subplot()
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        d = np.array(run.distances)
        keep = np.isfinite(d) & (d > 0)
        ax.plot(np.array(run.evaluations)[keep], d[keep], color=color, label=run.label)
    ax.set_yscale("log")
    ax.set(xlabel="gradient evaluations (both players)", ylabel="distance to the equilibrium")
    ax.set_title(f"{game.name}: distance to the equilibrium")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    _save(figure, path)


def stability_png(
    game: Game, labels: list[str], lrs: list[float], verdicts: dict, path: Path
) -> None:
    """A row per method, a cell per learning rate, coloured by verdict, final distance inside."""
    figure = _figure(1.0 + 0.9 * len(lrs), 0.9 + 0.42 * len(labels))
    ax = figure.add_subplot()
    for row, label in enumerate(labels):
        for col, lr in enumerate(lrs):
            verdict, distance = verdicts[label, lr]
            ax.add_patch(
                _rectangle(col, row, VERDICT_COLORS[verdict]),
            )
            text = f"{distance:.0e}" if math.isfinite(distance) else "inf"
            ax.text(col + 0.5, row + 0.5, text, ha="center", va="center", fontsize=7)
    ax.set(xlim=(0, len(lrs)), ylim=(len(labels), 0))
    ax.set_xticks([c + 0.5 for c in range(len(lrs))], [f"{lr:g}" for lr in lrs])
    ax.set_yticks([r + 0.5 for r in range(len(labels))], labels)
    ax.set_xlabel("learning rate (both players)")
    ax.set_title(
        f"{game.name}: verdict per learning rate\n(green converges, orange cycles, red "
        "diverges; final distance in each cell)",
        fontsize="medium",
    )
    _save(figure, path)


def _rectangle(col: int, row: int, color: str) -> Rectangle:
    from matplotlib.patches import Rectangle

    return Rectangle((col, row), 1, 1, facecolor=color, edgecolor="white", alpha=0.75)


def spectrum_png(spectra: dict[str, np.ndarray], path: Path, title: str) -> None:
    """Eigenvalues in the complex plane, one marker colour per run."""
    figure = _figure(5.5, 4.5)
    ax = figure.add_subplot()
    for (label, values), color in zip(spectra.items(), _colors(len(spectra)), strict=True):
        ax.scatter(values.real, values.imag, s=22, color=color, label=label, alpha=0.8)
    ax.axhline(0, color="#999999", linewidth=0.6)
    ax.axvline(0, color="#999999", linewidth=0.6)
    ax.set(xlabel="real part", ylabel="imaginary part", title=title)
    ax.legend(fontsize="small")
    _save(figure, path)
