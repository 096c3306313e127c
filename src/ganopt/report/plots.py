"""A Comparison as PNG curves: a line per configuration, a band over its seeds."""

from __future__ import annotations

from pathlib import Path

from ganopt.report.comparison import LOSSES, METRICS, Comparison, Metric, count


def write_plots(comparison: Comparison, out: Path) -> list[Path]:
    """One PNG per eval metric and one for the losses: a line per configuration over steps."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    configurations = comparison.configurations
    tags = {tag for c in configurations for r in c.runs for tag in r.curves()}
    evals = [k for k in METRICS if k in tags and k.startswith("eval/")]
    evals += sorted(t for t in tags if t.startswith("eval/") and t not in METRICS)
    figures = [(f"{tag.replace('/', '_')}.png", [tag]) for tag in evals]
    losses = [tag for tag in LOSSES if tag in tags]
    if losses:
        figures.append(("losses.png", losses))
    colors = colormaps["tab10" if len(configurations) <= 10 else "tab20"]
    written = []
    for filename, panel_tags in figures:
        figure = Figure(figsize=(6.5 * len(panel_tags), 4.2), layout="constrained")
        FigureCanvasAgg(figure)
        for ax, tag in zip(
            figure.subplots(1, len(panel_tags), squeeze=False)[0], panel_tags, strict=True
        ):
            metric = METRICS.get(tag, Metric(tag, tag, title=tag))
            for index, c in enumerate(configurations):
                curve = c.curve(tag)
                if curve is None:
                    continue
                steps, mean, low, high, n = curve
                color = colors(index % colors.N)
                ax.plot(
                    steps,
                    mean * metric.scale,
                    color=color,
                    marker="o" if steps.size <= 12 else None,
                    markersize=3,
                    label=f"{c.label} ({count(n, 'seed')})",
                )
                if n > 1 and steps.size > 1:
                    ax.fill_between(
                        steps,
                        low * metric.scale,
                        high * metric.scale,
                        color=color,
                        alpha=0.2,
                        linewidth=0,
                    )
                elif n > 1:  # one evaluation only: a band would be invisible, draw the range
                    spread = [(mean - low) * metric.scale, (high - mean) * metric.scale]
                    ax.errorbar(steps, mean * metric.scale, yerr=spread, color=color, capsize=4)
            ax.set(
                title=f"{tag}: {metric.title}" if metric.title != tag else tag,
                xlabel="generator step",
                ylabel=metric.header.replace(" (final)", ""),
            )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if len(configurations) > 8:
                ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
            else:
                ax.legend(fontsize="small")
        path = out / filename
        figure.savefig(path, dpi=110)
        written.append(path)
    return written
