"""The command line as README.md shows it: scripts/train.py runs, sweeps, resumes, and explains
user mistakes in one paragraph without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

QUICK = [
    "trainer=cpu",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",  # also drops the progress-bar callback
    "callbacks.evaluation.n_samples=200",
]


def run_train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/train.py", *overrides, f"paths.log_dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_dirs(tmp_path: Path) -> list[Path]:
    return sorted(p.parent for p in tmp_path.rglob("metrics.json"))


def test_default_config_runs_shortened(tmp_path: Path) -> None:
    """`make train` runs exactly this config, only longer."""
    result = run_train(tmp_path, "steps=4", "log_every_n_steps=2", *QUICK)
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path)
    assert run.parent == tmp_path / "train" / "runs"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["data"] == "digits" and metrics["config"]["model"] == "dcgan"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "tensorboard").glob("events.*"))
    assert "Run directory:" in result.stderr + result.stdout


def test_multirun_sweeps_every_combination(tmp_path: Path) -> None:
    result = run_train(
        tmp_path,
        "-m",
        "data=gaussians_ring",
        "model=mlp",
        "optimizer=adam,rmsprop",
        "seed=0,1",
        "steps=2",
        "log_every_n_steps=1",
        *QUICK,
    )
    assert result.returncode == 0, result.stderr
    runs = run_dirs(tmp_path)
    assert len(runs) == 4
    assert {json.loads((r / "metrics.json").read_text())["config"]["optimizer"] for r in runs} == {
        "adam",
        "rmsprop",
    }
    assert all("optimizer=" in r.name and "seed=" in r.name for r in runs)


def test_resume_from_the_command_line(tmp_path: Path) -> None:
    common = ["data=gaussians_ring", "model=mlp", "log_every_n_steps=1", *QUICK]
    assert run_train(tmp_path / "a", "steps=3", *common).returncode == 0
    (first,) = run_dirs(tmp_path / "a")
    result = run_train(
        tmp_path / "b", "steps=5", f"ckpt_path={first}/checkpoints/last.ckpt", *common
    )
    assert result.returncode == 0, result.stderr
    (resumed,) = run_dirs(tmp_path / "b")
    assert json.loads((resumed / "metrics.json").read_text())["generator_steps"] == 5


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer=adamm", "Could not find 'optimizer/adamm'"),
        ("optimizer.generator.lr=-0.1", "optimizer.generator.lr=-0.1 is not allowed"),
        ("optimizer.discriminator.lr=0", "optimizer.discriminator.lr=0 is not allowed"),
        ("steps=0", "steps=0 is not allowed"),
        ("d_steps=0", "d_steps=0 is not allowed"),
        ("ckpt_path=missing/last.ckpt", "ckpt_path=missing/last.ckpt does not exist"),
        ("data=gaussians_ring", "model=dcgan needs image data"),
    ],
)
def test_user_mistakes_get_one_paragraph_and_no_traceback(
    tmp_path: Path, override: str, expected: str
) -> None:
    result = run_train(tmp_path, override, *QUICK)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert expected in output
    assert "Traceback" not in output
    assert not list(tmp_path.rglob("*.ckpt"))


def test_optimizer_settings_that_do_not_fit_the_class_are_a_config_error(make_cfg) -> None:
    from ganopt.app.train import build
    from ganopt.errors import ConfigError

    cfg = make_cfg("optimizer=rmsprop", "+optimizer.generator.betas=[0.0,0.9]")
    with pytest.raises(ConfigError, match=r"optimizer\.generator builds RMSprop"):
        build(cfg)
