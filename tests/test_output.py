"""What a user sees and what the records say, from real subprocesses: each log line once, one
progress bar counted in generator steps (in a terminal and in a log file), help that offers only
what the script composes, labels from the classes built, hints that name the right key."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import FAST, ROOT, TINY_MLP
from test_any_datamodule import PLAIN

from ganopt.app.train import build, train
from ganopt.errors import ConfigError

RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP, "logger=none"]
QUIET = ["trainer.enable_model_summary=true", "callbacks.evaluation.every_n_steps=0"]


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 40-step ring run, its output captured (not a terminal), in a run directory of its own."""
    run = tmp_path_factory.mktemp("out") / "some" / "run"
    done = script("scripts/train.py", *RING, *QUIET, "steps=40", f"hydra.run.dir={run}")
    assert done.returncode == 0, done.stderr
    return run, done.stdout + done.stderr


def test_every_lightning_message_is_printed_once(ring_run: tuple[Path, str]) -> None:
    _, output = ring_run
    assert output.count("GPU available") == 1
    assert output.count("Trainable params") == 1  # the model summary


def test_a_log_file_gets_progress_lines_not_a_bar(ring_run: tuple[Path, str]) -> None:
    _, output = ring_run
    assert "Training" not in output and "Epoch" not in output and "\r" not in output
    lines = re.findall(r"generator step (\d+)/40 \(\d+%\), [\d.]+ steps/s", output)
    assert lines and lines[-1] == "40" and len(lines) <= 11  # about one per tenth, and the end


def test_the_tensorboard_hint_names_the_run_directory_it_was_given(
    ring_run: tuple[Path, str],
) -> None:
    run, output = ring_run
    assert f"tensorboard --logdir {run}\n" in output


def in_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a script with a 120-column pseudo-terminal as its stdout and stderr."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=child,
        stderr=child,
        env={**os.environ, **(env or {})},
    )
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 300)
        try:
            data = os.read(main, 4096) if ready else b""
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_a_terminal_shows_one_bar_in_generator_steps_across_epochs(tmp_path: Path) -> None:
    """A datamodule with finite epochs (32 batches): no "Training 0/?", no "Epoch N" restarts,
    no negative rate, and the final state drawn once."""
    status, output = in_terminal(
        "scripts/train.py",
        *PLAIN,
        "model=mlp",
        *TINY_MLP,
        "logger=none",
        "~callbacks.evaluation",
        "steps=80",
        "callbacks.progress.refresh_rate=10",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"PYTHONPATH": str(ROOT / "tests")},
    )
    assert status == 0
    bars = [r for r in re.split(r"[\r\n]", output) if "generator steps" in r]
    assert bars and all("/80" in bar for bar in bars)
    assert "Training" not in output and "Epoch" not in output
    assert not re.search(r"-\d[\d.]*it/s", output)
    assert len([bar for bar in bars if "80/80" in bar]) == 1


def test_a_failed_run_ends_with_its_answer_below_the_bar(tmp_path: Path) -> None:
    status, output = in_terminal(
        "scripts/train.py",
        *RING,
        "optimizer=sgd",
        "optimizer.generator.lr=1e6",
        "optimizer.discriminator.lr=1e6",
        "steps=200",
        "log_every_n_steps=5",
        "callbacks.progress.refresh_rate=1",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert status == 3
    lines = [line for line in re.split(r"[\r\n]", output) if line.strip()]
    assert "Run diverged" in lines[-1] and "generator steps" in output


def test_help_offers_only_the_groups_the_script_composes() -> None:
    text = script("scripts/train.py", "--help").stdout
    groups = dict(line.split(": ", 1) for line in text.splitlines() if re.match(r"^\S+: ", line))
    for foreign in ("game", "methods", "study", "metric", "network_optimizer", "paths"):
        assert foreign not in groups, foreign
    assert "optimizer" in groups and "data" in groups
    assert "muon" in groups["network_optimizer@optimizer.<generator|discriminator>"]
    assert "classifier" in groups["+metric@metrics.evaluators.<name>"]
    games = script("scripts/games.py", "--help").stdout
    assert re.search(r"^game: bilinear, dirac$", games, re.MULTILINE)
    assert not re.search(r"^data: ", games, re.MULTILINE)


def test_a_run_is_labelled_by_the_classes_it_built(tmp_path: Path) -> None:
    nadam = ["optimizer.generator._target_=torch.optim.NAdam"]
    nadam += ["optimizer.discriminator._target_=torch.optim.NAdam"]
    done = script("scripts/train.py", *RING, *nadam, "steps=2", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    assert '"optimizer": "NAdam"' in (tmp_path / "metrics.json").read_text()


def test_a_setting_the_class_does_not_take_is_named(make_cfg) -> None:
    cfg = make_cfg("+optimizer.generator.foo=1")
    with pytest.raises(ConfigError, match=r"Remove '~optimizer\.generator\.foo'"):
        build(cfg)


def test_a_lazy_penalty_is_logged_whatever_the_log_cadence(make_cfg) -> None:
    cfg = make_cfg(
        *FAST, *RING, "regularizer=[r1]", "regularizer.r1.every=16", "log_every_n_steps=5"
    )
    metrics = train(cfg)
    assert metrics["reg/r1"] > 0  # applied at step 0 only, logged at steps 5 and 6


def test_make_clean_removes_every_cache(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    caches = [".pytest_cache", ".ruff_cache", ".mypy_cache", "src/x.egg-info"]
    for name in [*caches, "scripts", "tests", "logs/train"]:
        (tmp_path / name).mkdir(parents=True)
    assert subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True).returncode == 0
    assert not [name for name in caches if (tmp_path / name).exists()]
    assert (tmp_path / "logs" / "train").is_dir()  # runs are kept
