"""The lab behind scripts/games.py: play each configured method on the game, judge it, sweep
learning rates for the stability regions, and write the figures and tables.

A method is a node of the ``methods`` config: an optimizer pair from ``conf/optimizer`` (the
``generator`` config steps the minimising player x, ``discriminator`` the maximising player y),
an update scheme from ``conf/update_scheme``, a label and a learning rate for both players.
"""

from __future__ import annotations

import csv
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganopt.games.play import Trajectory, play
from ganopt.games.plots import distance_png, stability_png, trajectories_png
from ganopt.optim._common import wrapped
from ganopt.updates import UpdateScheme

log = logging.getLogger(__name__)


@dataclass
class Method:
    label: str
    optimizer_x: Any  # a factory: params -> optimizer
    optimizer_y: Any
    scheme: UpdateScheme
    lr: float | None

    def with_lr(self, lr: float) -> Method:
        return Method(
            self.label, set_lr(self.optimizer_x, lr), set_lr(self.optimizer_y, lr), self.scheme, lr
        )


def set_lr(factory: Any, lr: float) -> Any:
    """The factory with ``lr`` as its learning rate; a wrapper without one of its own (Lookahead,
    Muon's Split) passes it to the optimizers it builds."""
    keywords = dict(factory.keywords)
    inner = {k: v for k, v in keywords.items() if isinstance(v, functools.partial)}
    if inner and "lr" not in keywords:
        keywords.update({k: set_lr(v, lr) for k, v in inner.items()})
    else:
        keywords["lr"] = lr
    return functools.partial(factory.func, *factory.args, **keywords)


def methods(cfg: DictConfig) -> list[Method]:
    built = []
    for node in cfg.methods.values():
        optimizer_x, scheme = instantiate(node.generator), instantiate(node.update_scheme)
        method = Method(
            label=node.get("label") or f"{class_name(optimizer_x)} {type(scheme).__name__}",
            optimizer_x=optimizer_x,
            optimizer_y=instantiate(node.discriminator),
            scheme=scheme,
            lr=node.get("lr"),
        )
        built.append(method.with_lr(method.lr) if method.lr is not None else method)
    return built


def class_name(factory: Any) -> str:
    """``Lookahead(Adam)``: the optimizer and the ones it wraps."""
    names = [getattr(f.func, "__name__", str(f.func)) for f in wrapped(factory)]
    return "(".join(names) + ")" * (len(names) - 1)


def play_method(cfg: DictConfig, method: Method) -> Trajectory:
    game = instantiate(cfg.game)
    return play(
        game, method.optimizer_x, method.optimizer_y, method.scheme, cfg.steps, method.label
    )


def summary_row(cfg: DictConfig, method: Method, run: Trajectory) -> dict[str, Any]:
    return {
        "method": method.label,
        "optimizer_x": class_name(method.optimizer_x),
        "optimizer_y": class_name(method.optimizer_y),
        "update_scheme": type(method.scheme).__name__.lower(),
        "lr": method.lr if method.lr is not None else method.optimizer_x.keywords.get("lr"),
        "steps": len(run.points) - 1,
        "gradient_evaluations": run.evaluations[-1],
        "start_distance": run.distances[0],
        "final_distance": run.distances[-1],
        "rate_per_evaluation": run.rate(),
        "verdict": run.verdict(**cfg.verdict),
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def run_lab(cfg: DictConfig, out: Path) -> list[dict[str, Any]]:
    """Play every method; write summary.csv, trajectories.png, distance.png and, with
    ``stability.lrs``, stability.csv and stability.png. Returns the summary rows."""
    out.mkdir(parents=True, exist_ok=True)
    chosen = methods(cfg)
    if not chosen:  # methods=none
        return []
    runs = [play_method(cfg, method) for method in chosen]
    rows = [summary_row(cfg, m, r) for m, r in zip(chosen, runs, strict=True)]
    write_csv(rows, out / "summary.csv")
    game = instantiate(cfg.game)
    trajectories_png(game, runs, out / "trajectories.png", extent=cfg.plot_extent)
    distance_png(game, runs, out / "distance.png")
    for row in rows:
        log.info(
            "%-28s %-10s final distance %.3g  rate %.4f",
            row["method"],
            row["verdict"],
            row["final_distance"],
            row["rate_per_evaluation"],
        )
    lrs = list(OmegaConf.to_container(cfg.stability.lrs) or [])
    if lrs:
        verdicts, stability_rows = {}, []
        log.info("stability: %d methods at %d learning rates each", len(chosen), len(lrs))
        for done, method in enumerate(chosen, start=1):
            if done % 5 == 0 or done == len(chosen):
                log.info("stability: %s (%d of %d methods)", method.label, done, len(chosen))
            for lr in lrs:
                row = summary_row(cfg, method.with_lr(lr), play_method(cfg, method.with_lr(lr)))
                verdicts[method.label, lr] = (row["verdict"], row["final_distance"])
                stability_rows.append(row)
        write_csv(stability_rows, out / "stability.csv")
        stability_png(game, [m.label for m in chosen], lrs, verdicts, out / "stability.png")
    return rows


def run_spectra(cfg: DictConfig, out: Path) -> list[dict[str, Any]]:
    """The top-k game-Jacobian eigenvalues of each checkpoint in ``spectrum.ckpt_paths`` on a
    fixed batch, by magnitude (LM), real part (LR) and imaginary part (LI: the rotation);
    spectrum.csv and spectrum.png (LM and LI)."""
    from ganopt.app.trained import load_gan
    from ganopt.data.base import real_examples
    from ganopt.games.plots import spectrum_png
    from ganopt.games.spectrum import jacobian_operator, top_eigenvalues, vector_field
    from ganopt.sampling import latents

    node = cfg.spectrum
    labels = list(node.labels or [])
    rows, spectra = [], {}
    for i, path in enumerate(node.ckpt_paths):
        loaded = load_gan(path)
        gan, real = loaded.module, real_examples(loaded.datamodule, node.batch_size)
        z = latents(gan.generator, node.batch_size, node.seed)
        operator = jacobian_operator(
            *vector_field(gan.generator, gan.discriminator, gan.loss, real, z)
        )
        label = labels[i] if i < len(labels) else Path(path).parent.parent.name
        found = []
        for which in ("LM", "LR", "LI"):
            log.info(
                "%s (%d of %d): the top %d eigenvalues by %s (ARPACK, can take minutes)...",
                label,
                i + 1,
                len(node.ckpt_paths),
                node.k,
                {"LM": "magnitude", "LR": "real part", "LI": "imaginary part"}[which],
            )
            values = top_eigenvalues(operator, node.k, which)
            if which != "LR":
                found.append(values)
            rows += [
                {
                    "run": label,
                    "which": which,
                    "rank": rank,
                    "real": float(v.real),
                    "imag": float(v.imag),
                    "magnitude": float(abs(v)),
                }
                for rank, v in enumerate(values)
            ]
        spectra[label] = np.unique(np.concatenate(found))
        log.info(
            "%s: largest |eigenvalue| %.3g, largest |imaginary part| %.3g",
            label,
            np.abs(found[0]).max(),
            np.abs(found[1].imag).max(),
        )
    if rows:
        write_csv(rows, out / "spectrum.csv")
        spectrum_png(
            spectra,
            out / "spectrum.png",
            f"game Jacobian: top {node.k} eigenvalues by magnitude and by imaginary part",
        )
    return rows
