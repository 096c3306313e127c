"""Figures of 2D samples, shared by the sample callback and scripts/generate.py."""

from __future__ import annotations

import matplotlib
from torch import Tensor

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def scatter_figure(samples: Tensor, real: Tensor, title: str) -> plt.Figure:
    """Generated points in red over the data in gray, square axes."""
    figure, axes = plt.subplots(figsize=(4, 4), dpi=100)
    axes.scatter(real[:, 0], real[:, 1], s=2, c="tab:gray", alpha=0.3, label="data")
    axes.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:red", alpha=0.6, label="generated")
    axes.set_title(title)
    axes.set_aspect("equal")
    axes.legend(loc="upper right", markerscale=4, fontsize="small")
    figure.tight_layout()
    return figure
