"""The game-dynamics lab against known answers: the bilinear game's rotation, the Dirac-GAN's
(non-)convergence with and without R1, the verdicts of the default run, and the matrix-free
spectrum of a real MLP GAN against its dense Jacobian."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig
from PIL import Image

from ganopt.games import Bilinear
from ganopt.games.lab import methods, play_method, run_lab
from ganopt.games.spectrum import jacobian_operator, top_eigenvalues, vector_field
from ganopt.losses import AdversarialLoss, nonsaturating_d, nonsaturating_g
from ganopt.models import MLPDiscriminator, MLPGenerator


def games_config(*overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("games", overrides=["stability.lrs=[]", *overrides])


def is_picture(path: Path) -> bool:
    """A real figure: a PNG of plot size with more than a few colours drawn in it."""
    with Image.open(path) as image:
        colors = image.convert("RGB").getcolors(maxcolors=4096)
        return image.size[0] >= 200 and image.size[1] >= 200 and (colors is None or len(colors) > 8)


def verdicts(cfg: DictConfig) -> dict[str, str]:
    return {m.label: play_method(cfg, m).verdict(**cfg.verdict) for m in methods(cfg)}


def jacobian_at(game: Bilinear, x: float, y: float, h: float = 1e-3) -> np.ndarray:
    """∂(field)/∂(x, y) by central differences (exact for a linear field)."""
    columns = []
    for dx, dy in ((h, 0.0), (0.0, h)):
        plus, minus = game.field(x + dx, y + dy), game.field(x - dx, y - dy)
        columns.append([(p - m) / (2 * h) for p, m in zip(plus, minus, strict=True)])
    return np.array(columns).T


def test_the_bilinear_jacobian_is_a_pure_rotation() -> None:
    eigenvalues = np.linalg.eigvals(jacobian_at(Bilinear(), 0.3, -0.7))
    assert sorted(eigenvalues.imag) == pytest.approx([-1.0, 1.0], abs=1e-9)
    assert eigenvalues.real == pytest.approx([0.0, 0.0], abs=1e-9)
    strong = np.linalg.eigvals(jacobian_at(Bilinear(quadratic=0.5), 0.3, -0.7))
    assert strong.real == pytest.approx([-0.5, -0.5], abs=1e-9)  # monotone: contracting


def test_default_bilinear_verdicts_match_the_theory() -> None:
    cfg = games_config()
    found = verdicts(cfg)
    assert found["GD simultaneous"] == "diverges"
    assert found["GD alternating"] == "cycles"
    for method in ("optimistic GD", "extragradient", "Lookahead-minmax (GD)"):
        assert found[method] == "converges", method


@pytest.mark.parametrize(
    ("optimizer", "lr", "steps", "expected"),
    [
        ("sgd", 0.1, 300, "grows"),
        ("extra_sgd", 0.3, 200, "converges"),
        ("ogd", 0.2, 400, "converges"),
    ],
)
def test_bilinear_distance_for_stated_step_sizes(
    optimizer: str, lr: float, steps: int, expected: str
) -> None:
    cfg = games_config(
        "methods=one",
        f"optimizer={optimizer}",
        "update_scheme=simultaneous",
        f"steps={steps}",
        f"optimizer.generator.lr={lr}",
        f"optimizer.discriminator.lr={lr}",
    )
    (method,) = methods(cfg)
    d = play_method(cfg, method).distances
    if expected == "grows":
        assert d[-1] > 1.5 * d[0] and all(b >= a for a, b in itertools.pairwise(d))
    else:
        assert d[-1] < 1e-3 * d[0]


def dirac_verdict(*overrides: str) -> str:
    lrs = ["optimizer.generator.lr=0.1", "optimizer.discriminator.lr=0.1"]
    cfg = games_config("game=dirac", "methods=one", "optimizer=sgd", *lrs, *overrides)
    (method,) = methods(cfg)
    return play_method(cfg, method).verdict(**cfg.verdict)


def test_dirac_gan_converges_only_with_r1() -> None:
    assert dirac_verdict("update_scheme=simultaneous") != "converges"
    with_r1 = ("regularizer=[r1]", "regularizer.r1.gamma=1")
    assert dirac_verdict("update_scheme=simultaneous", *with_r1) == "converges"
    assert dirac_verdict("update_scheme=alternating", "loss=wasserstein") != "converges"


def test_games_script_writes_figures_and_tables(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "scripts/games.py",
            "game=dirac",
            "regularizer=[r1]",
            "regularizer.r1.gamma=1",
            "steps=60",
            "stability.lrs=[0.01,1.0]",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for name in ("trajectories.png", "distance.png", "stability.png"):
        assert is_picture(tmp_path / name), name
    with (tmp_path / "summary.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 17 and {r["verdict"] for r in rows} <= {"converges", "cycles", "diverges"}
    extragradient = next(r for r in rows if r["method"] == "extragradient")
    assert int(extragradient["gradient_evaluations"]) == 4 * 60  # two players, two each
    with (tmp_path / "stability.csv").open() as file:
        assert len(list(csv.DictReader(file))) == 17 * 2


def test_lab_rows_say_what_ran(tmp_path: Path) -> None:
    rows = run_lab(games_config("steps=50"), tmp_path)
    first = rows[0]
    assert first["optimizer_x"] == "SGD" and first["update_scheme"] == "simultaneous"
    assert first["lr"] == 0.1 and first["steps"] == 50 and first["gradient_evaluations"] == 100
    lookahead = next(r for r in rows if r["method"].startswith("Lookahead"))
    assert lookahead["optimizer_x"] == "Lookahead(SGD)"


def test_matrix_free_spectrum_matches_the_dense_jacobian() -> None:
    torch.manual_seed(0)
    generator = MLPGenerator(shape=(2,), latent_dim=2, hidden=4, depth=2)
    discriminator = MLPDiscriminator(shape=(2,), hidden=4, depth=2)
    loss = AdversarialLoss(nonsaturating_d, nonsaturating_g)
    real, z = torch.randn(16, 2), torch.randn(16, 2)
    w0, v = vector_field(generator, discriminator, loss, real, z)
    dense = torch.autograd.functional.jacobian(v, w0).numpy()
    expected = np.linalg.eigvals(dense)
    expected = expected[np.argsort(-np.abs(expected))][:6]
    found = top_eigenvalues(jacobian_operator(w0, v), k=6, which="LM")
    assert np.abs(found) == pytest.approx(np.abs(expected), abs=1e-4)
    assert sorted(found.imag) == pytest.approx(sorted(expected.imag), abs=1e-4)
    assert np.abs(expected.imag).max() > 1e-3  # a game: rotation, not a symmetric Hessian


def test_spectrum_of_a_trained_checkpoint(make_cfg, tmp_path: Path) -> None:
    from conftest import FAST, TINY_MLP

    from ganopt.app.train import train
    from ganopt.games.lab import run_spectra

    run = make_cfg(*FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP, "logger=none")
    train(run)
    ckpt = Path(run.paths.output_dir) / "checkpoints" / "last.ckpt"
    cfg = games_config(f"spectrum.ckpt_paths=[{ckpt}]", "spectrum.k=4", "spectrum.labels=[adam]")
    rows = run_spectra(cfg, tmp_path)
    assert [(r["which"], r["rank"]) for r in rows] == [
        (which, i) for which in ("LM", "LR", "LI") for i in range(4)
    ]
    magnitudes = [r["magnitude"] for r in rows[:4]]
    assert magnitudes == sorted(magnitudes, reverse=True) and magnitudes[0] > 0
    assert is_picture(tmp_path / "spectrum.png")
    assert (tmp_path / "spectrum.csv").read_text().startswith("run,which,rank,real,imag")
