"""Faults lose nothing: divergence, signals, broken checkpoints, failed saves and bad values each
end with a clear paragraph, a distinct exit status, and the work saved so far intact.

Real subprocesses of scripts/train.py, as a user, a cluster scheduler or a sweep meets them.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from conftest import FAST, ROOT, TINY_MLP
from test_train import scalars

from ganopt.app.resume import first_mismatch
from ganopt.app.train import train
from ganopt.errors import RunDiverged, RunInterrupted, SaveFailed

QUICK = [
    "trainer=cpu",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "threads=1",
    "callbacks.evaluation.n_samples=200",
]
RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP]


def command(run_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "scripts/train.py", *overrides, f"hydra.run.dir={run_dir}"]


def run_train(run_dir: Path, *overrides: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(run_dir, *overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def saved_step(path: Path) -> int:
    return torch.load(path, weights_only=False)["ganopt"]["generator_steps"]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


# ---- signals ----------------------------------------------------------------------------------
def interrupt(
    run_dir: Path, signum: int, env: dict[str, str] | None = None, wrapper: str | None = None
) -> tuple[int, str]:
    """Start a long ring run, send ``signum`` once its first periodic checkpoint exists.
    ``wrapper``: Python code run first, in the same process (a job system's handlers)."""
    overrides = [*QUICK, *RING, "steps=1000000", "log_every_n_steps=1"]
    args = command(run_dir, *overrides, "callbacks.checkpoint.every_n_steps=20")
    if wrapper is not None:
        run_script = (
            "import runpy, sys; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')"
        )
        args = [sys.executable, "-c", f"{wrapper}\n{run_script}", *args[1:]]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: SIGINT is not ignored as in background
        env=env,
    )
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # some steps past the periodic checkpoint: they must not be lost
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"]
)
def test_signal_saves_the_step_reached_and_resume_matches_an_uninterrupted_run(
    tmp_path: Path, make_cfg, signum: int, status: int
) -> None:
    run = tmp_path / "interrupted"
    returncode, output = interrupt(run, signum)
    assert returncode == status, output
    assert "Traceback" not in output and "litlogger" not in output
    reached = metrics(run)["generator_steps"]
    assert metrics(run)["status"] == "interrupted"
    assert saved_step(run / "checkpoints" / "last.ckpt") == reached > 20  # not the periodic one
    assert f"generator step {reached}" in output

    if signum != signal.SIGTERM:  # the same code path: one resume comparison is enough
        return
    total = reached + 5
    resumed = tmp_path / "resumed"
    result = run_train(resumed, f"ckpt_path={run}/checkpoints/last.ckpt", f"steps={total}")
    assert result.returncode == 0, result.stderr
    assert metrics(resumed)["status"] == "finished"
    assert metrics(resumed)["config"]["data"] == "gaussians_ring"  # the run's own choices

    straight = make_cfg(*FAST, *RING, *QUICK[3:], f"steps={total}", "log_every_n_steps=1")
    train(straight)
    a, b = scalars(Path(straight.paths.output_dir)), scalars(resumed)
    for tag in ("loss/d", "loss/g"):
        assert [v for s, v in a[tag] if s > reached] == [v for s, v in b[tag] if s > reached]


def test_sigusr1_inside_slurm_saves_and_requeues_the_job(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls"
    fake = bin_dir / "scontrol"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    run = tmp_path / "run"
    returncode, output = interrupt(run, signal.SIGUSR1, env)
    assert returncode == 128 + signal.SIGUSR1, output
    assert metrics(run)["status"] == "interrupted"
    assert saved_step(run / "checkpoints" / "last.ckpt") == metrics(run)["generator_steps"]
    assert calls.read_text().split() == ["requeue", "4242"]


def test_the_job_systems_own_handler_gets_the_signal_after_the_save(tmp_path: Path) -> None:
    """submitit installs a SIGUSR2 handler that requeues the job and exits: it must run, but
    only once last.ckpt holds the step reached."""
    marker = tmp_path / "requeued"
    wrapper = (
        "import pathlib, signal, sys\n"
        "def requeue(signum, frame):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('requeued')\n"
        "    sys.exit(7)\n"
        "signal.signal(signal.SIGUSR2, requeue)"
    )
    run = tmp_path / "run"
    returncode, output = interrupt(run, signal.SIGUSR2, wrapper=wrapper)
    assert returncode == 7, output
    assert marker.read_text() == "requeued"
    assert metrics(run)["status"] == "interrupted"
    assert saved_step(run / "checkpoints" / "last.ckpt") == metrics(run)["generator_steps"]


def test_ckpt_path_auto_continues_the_run_directory_and_a_new_run_there_is_refused(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    common = [*QUICK, *RING, "log_every_n_steps=1"]
    assert run_train(run, *common, "ckpt_path=auto", "steps=3").returncode == 0  # fresh
    assert metrics(run)["generator_steps"] == 3
    before = (run / "checkpoints" / "last.ckpt").read_bytes()
    refused = run_train(run, *common, "steps=4")  # a new run would overwrite last.ckpt
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "ckpt_path=auto" in output and "Traceback" not in output
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before
    result = run_train(run, *common, "ckpt_path=auto", "steps=5")
    assert result.returncode == 0, result.stderr
    assert metrics(run)["generator_steps"] == 5


# ---- divergence -------------------------------------------------------------------------------
def test_diverging_run_stops_keeps_the_finite_checkpoint_and_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    diverging = ["loss=wasserstein", "optimizer=sgd"]  # at lr 10: NaN at generator step 3
    lrs = ["optimizer.generator.lr=10", "optimizer.discriminator.lr=10"]
    result = run_train(
        run,
        *QUICK,
        *RING,
        *diverging,
        *lrs,
        "steps=200",
        "log_every_n_steps=100",
        "callbacks.checkpoint.every_n_steps=1",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "Traceback" not in output
    assert "NaN or infinite values between generator steps 2 and 3" in output
    assert re.search(r"optimizer\.generator\.lr=1\b", output)  # the 10x lower rate to try
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["ganopt"]["generator_steps"] == 2
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    written = metrics(run)
    assert written["status"] == "diverged" and written["last_good_step"] == 2
    assert "holds generator step 2" in written["reason"]


# ---- checkpoints --------------------------------------------------------------------------------
def run_all(commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run independent short commands two at a time (one per core): each is mostly start-up."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_train, *args) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


BROKEN = {
    "truncated": "cannot be read",
    "text": "is not a PyTorch checkpoint",
    "foreign": "not a ganopt training checkpoint",
    "mismatch": "model.generator.hidden cannot change when resuming",
    "steps": "has reached generator step 3, and steps is the new total",
}


@pytest.fixture(scope="module")
def broken_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, Any]]:
    """Each broken or unfitting checkpoint given to a resume: (file, run dir, result)."""
    root = tmp_path_factory.mktemp("broken")
    ring = run_train(root / "ring", *QUICK, *RING, "optimizer=rmsprop", "steps=3")
    assert ring.returncode == 0, ring.stderr
    good = root / "ring" / "checkpoints" / "last.ckpt"
    files = {case: root / f"{case}.ckpt" for case in ("truncated", "text", "foreign")}
    data = good.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("not a checkpoint\n")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, files["foreign"])
    files["mismatch"] = files["steps"] = good
    extra = {"mismatch": ["model.generator.hidden=64", "steps=6"], "steps": ["steps=2"]}
    commands = {
        case: [root / f"run_{case}", f"ckpt_path={path}", *extra.get(case, []), *QUICK]
        for case, path in files.items()
    }
    results = run_all(commands)
    return {case: (files[case], root / f"run_{case}", results[case]) for case in BROKEN}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_or_unfitting_checkpoints_stop_before_training(broken_runs, case: str) -> None:
    path, run, result = broken_runs[case]
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert BROKEN[case] in output and str(path) in output and "Traceback" not in output
    assert not run.exists()  # nothing created for a run that never started


def test_run_stopped_errors_survive_pickling() -> None:
    """A study's worker process raises them into the parent."""
    error = pickle.loads(pickle.dumps(RunInterrupted("stopped", step=12, signum=signal.SIGTERM)))
    assert (str(error), error.step, error.exit_code) == ("stopped", 12, 143)
    diverged = pickle.loads(pickle.dumps(RunDiverged("NaN", step=3)))
    assert (str(diverged), diverged.step, diverged.exit_code) == ("NaN", 3, 3)


def test_the_first_differing_parameter_is_named_with_both_shapes() -> None:
    saved = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Linear(8, 1)).state_dict()
    now = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Linear(4, 1))
    assert first_mismatch(now, saved) == (
        "0.weight has shape (8, 2) in the checkpoint and (4, 2) in the networks this config builds"
    )


@pytest.mark.parametrize(
    "setup",
    [
        [
            "optimizer=rmsprop",
            "network_optimizer@optimizer.discriminator=adam",
            "data=gaussians_grid",
            "model=mlp",
            "model.generator.hidden=16",
            "regularizer=[r1]",
        ],
        [
            "experiment=dcgan_digits_r1_ema",
            "data.resolution=16",
            "model.generator.width=8",
            "model.discriminator.width=8",
            "ema.start=1",
        ],
    ],
    ids=["optimizers-data-model-r1", "experiment"],
)
def test_resume_by_ckpt_path_alone_continues_the_run_it_names(
    tmp_path: Path, setup: list[str]
) -> None:
    first = tmp_path / "first"
    quick = [*QUICK, "log_every_n_steps=1", "callbacks.samples.every_n_steps=0"]
    assert run_train(first, *setup, *quick, "steps=2").returncode == 0
    resumed = tmp_path / "resumed"
    result = run_train(resumed, f"ckpt_path={first}/checkpoints/last.ckpt", "steps=4", *QUICK[:3])
    assert result.returncode == 0, result.stderr
    assert metrics(resumed)["generator_steps"] == 4
    assert metrics(resumed)["config"] == {**metrics(first)["config"], "steps": 4}


def test_a_failed_save_keeps_the_previous_checkpoint_and_stops(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_cfg(*FAST, *RING, "steps=9", "logger=none")
    saves = []
    original = L.Trainer.save_checkpoint

    def save_or_fail(self, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(28, "No space left on device")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr("lightning.Trainer.save_checkpoint", save_or_fail)
    with pytest.raises(SaveFailed, match=r"No space left on device.*generator step 3\) is intact"):
        train(cfg)
    run = Path(cfg.paths.output_dir)
    assert saved_step(run / "checkpoints" / "last.ckpt") == 3
    assert not (run / "checkpoints" / "last.ckpt.tmp").exists()
    assert metrics(run)["status"] == "failed"


# ---- bad values and environment mistakes -------------------------------------------------------
# One real process per kind of mistake: a value its declaration refuses (a data key, a type, a key
# of a list-composed group, a thread count), an unknown key or option, a rule across keys. Every
# other declared key's refusal is checked in-process by tests/test_settings.py, through the same
# ConfigError that ends here as exit status 2.
BAD_VALUES = {
    "data.batch_size=0": "data.batch_size=0 is not allowed",
    "steps=1.5": "steps=1.5 is not allowed",
    "regularizer=[r1] regularizer.r1.gamma=-1": "regularizer.r1.gamma=-1",
    "threads=0": "threads=0 is not allowed",
    "stepz=10": "no key stepz (did you mean steps?)",
    "optimizer.generator.lrr=1e-4": "no key optimizer.generator.lrr (did you mean lr?)",
    "optimizer=adamm": "Could not find 'optimizer/adamm' (did you mean adam?)",
    "update_scheme=simultaneous network_optimizer@optimizer.generator=extra_adam": (
        "update_scheme=simultaneous needs"
    ),
}
ENVIRONMENT = {
    "trainer=gpu": "trainer=cpu",
    "trainer=ddp trainer.devices=4": "trainer=ddp_cpu",
    "-m hydra/launcher=slurm": "hydra/launcher=joblib",
}
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@pytest.fixture(scope="module")
def mistake_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    root = tmp_path_factory.mktemp("mistakes")
    cases = {**BAD_VALUES, **({} if torch.cuda.is_available() else ENVIRONMENT)}
    runs = {overrides: root / f"run{i}" for i, overrides in enumerate(cases)}
    commands = {o: [run, *o.split(), *QUICK[1:3]] for o, run in runs.items()}
    results = run_all(commands)
    return {overrides: (runs[overrides], results[overrides]) for overrides in cases}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        *BAD_VALUES.items(),
        *(pytest.param(k, v, marks=NO_GPU) for k, v in ENVIRONMENT.items()),
    ],
)
def test_mistakes_exit_2_with_one_paragraph_and_leave_nothing_on_disk(
    mistake_runs, overrides: str, expected: str
) -> None:
    run, result = mistake_runs[overrides]
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert expected in output and "Traceback" not in output and "litlogger" not in output
    (message,) = [line for line in output.splitlines() if "Configuration error" in line]
    assert output.rstrip().endswith(message)  # the last thing on screen
    assert not run.exists()
