"""A forker's own configs and code kept outside the repository, reached the ways Hydra documents
(``hydra.searchpath``, ``--config-dir``): every script and the studies compose with them as a
plain ``@hydra.main`` app would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONF, ROOT

from ganopt.app.cli import precheck
from ganopt.errors import ConfigError

# A data set of the forker's own: its class in a module outside the package, its config in a
# config directory outside the repository, under a group option conf/ does not have.
DATAMODULE = '''
from ganopt.data import MixtureDataModule


class Plain(MixtureDataModule):
    """The forker's data: 8 Gaussians, with a class of its own."""
'''
DATA_CONFIG = """
defaults:
  - /metric@_global_.metrics.evaluators.modes: modes
  - _self_
_target_: my_data.Plain
means: {_target_: ganopt.data.ring_means, n_modes: 8, radius: 1.0}
std: 0.02
batch_size: 64
seed: ${seed}
"""
# A study kept there too, on that data.
STUDY_CONFIG = """
defaults:
  - smoke
  - _self_
name: mine
base: [data=plain, model=mlp, steps=20, log_every_n_steps=10, logger=none,
       callbacks.evaluation.every_n_steps=10, callbacks.evaluation.n_samples=200,
       callbacks.samples.every_n_steps=0]
optimizers: [adam]
trials: 1
seeds: 1
"""
QUICK = [
    "model=mlp",
    "log_every_n_steps=2",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "callbacks.evaluation.n_samples=200",
]


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fork")
    (home / "code").mkdir()
    (home / "code" / "my_data.py").write_text(DATAMODULE)
    for group, text in (("data/plain", DATA_CONFIG), ("study/mine", STUDY_CONFIG)):
        (home / "my_conf" / group).parent.mkdir(parents=True, exist_ok=True)
        (home / "my_conf" / f"{group}.yaml").write_text(text)
    return home


def run(fork: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(fork / "code"), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, f"scripts/{script}.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"},
    )


def searchpath(fork: Path) -> str:
    return f"hydra.searchpath=[file://{fork / 'my_conf'}]"


def metrics_of(logs: Path) -> tuple[Path, dict]:
    (found,) = logs.rglob("metrics.json")
    return found.parent, json.loads(found.read_text())


def test_trains_evaluates_and_resumes_through_the_search_path(fork: Path) -> None:
    logs = fork / "logs"
    trained = run(fork, "train", "data=plain", searchpath(fork), "steps=4", *QUICK,
                  f"paths.log_dir={logs}")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run_dir, metrics = metrics_of(logs)
    assert metrics["config"]["data"] == "plain" and "eval/modes" in metrics
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    evaluated = run(fork, "eval", f"ckpt_path={ckpt}", f"hydra.run.dir={fork / 'eval'}")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "eval/modes" in json.loads((fork / "eval" / "eval.json").read_text())

    # the checkpoint alone: its run's search path was stored with its overrides
    resumed = run(fork, "train", f"ckpt_path={ckpt}", "steps=6", f"paths.log_dir={fork / 'more'}")
    assert resumed.returncode == 0, resumed.stderr
    _, metrics = metrics_of(fork / "more")
    assert metrics["config"]["data"] == "plain" and metrics["generator_steps"] == 6


def test_config_dir_works_and_mistakes_still_name_the_search_paths_options(fork: Path) -> None:
    config_dir = ["--config-dir", str(fork / "my_conf")]
    printed = run(fork, "train", *config_dir, "data=plain", "--cfg", "job")
    assert printed.returncode == 0, printed.stderr
    assert "_target_: my_data.Plain" in printed.stdout
    # a mistake is still one paragraph (exit 2 by the same path), with the options it adds
    with pytest.raises(ConfigError, match=r"data=plane: .*did you mean plain\?"):
        precheck([searchpath(fork), "data=plane"], CONF, "train")


def test_a_study_kept_outside_the_repository_runs_on_its_data(fork: Path) -> None:
    where = fork / "study"
    result = run(fork, "study", "study=mine", searchpath(fork), "phases=[1]", "workers=1",
                 f"storage={where / 'trials.journal'}", f"report_dir={where / 'report'}",
                 f"runs_dir={where / 'runs'}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    _, metrics = metrics_of(where / "runs")
    assert metrics["config"]["data"] == "plain" and "eval/modes" in metrics
    assert "| adam |" in (where / "report" / "table.md").read_text()
