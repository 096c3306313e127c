"""scripts/compare.py: table, CSV, plots and exit codes, on a fake multirun and two real runs."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FAST, ROOT, TINY_MLP
from torch.utils.tensorboard import SummaryWriter

from ganopt.app.train import train
from ganopt.report import compare, markdown_table, write_all

SCRIPT = ROOT / "scripts" / "compare.py"
PNG = b"\x89PNG\r\n\x1a\n"

ADAM = {"optimizer": "adam", "optimizer.generator": "Adam", "optimizer.discriminator": "Adam"}
RMSPROP = {
    "optimizer": "rmsprop",
    "optimizer.generator": "RMSprop",
    "optimizer.discriminator": "RMSprop",
}
# run dir -> (optimizer, lr.generator, lr.discriminator, seed, modes, hq, reverse KL, wall time)
FAKE = {
    "0_optimizer=adam,seed=0": (ADAM, 2e-4, 2e-4, 0, 8, 0.90, 0.10, 10.0),
    "1_optimizer=adam,seed=1": (ADAM, 2e-4, 2e-4, 1, 6, 0.80, 0.30, 14.0),
    "2_optimizer=adam,optimizer.generator.lr=1e-4,seed=0": (ADAM, 1e-4, 2e-4, 0, 7, 0.95, 0.20, 11),
    "3_optimizer=adam,optimizer.generator.lr=1e-4,seed=1": (ADAM, 1e-4, 2e-4, 1, 7, 0.85, 0.40, 13),
    "4_optimizer=rmsprop,seed=0": (RMSPROP, 5e-5, 5e-5, 0, 5, 0.70, 0.50, 20.0),
}
FAILED = "5_optimizer=rmsprop,seed=1"


def overrides_of(name: str) -> list[str]:
    return name.split("_", 1)[1].split(",")


def hydra_config(optimizer: dict, lr_g: float, lr_d: float, seed: int, betas=(0.5, 0.999)) -> dict:
    target = f"torch.optim.{optimizer['optimizer.generator']}"
    return {
        "seed": seed,
        "steps": 6,
        "paths": {"output_dir": "${hydra:runtime.output_dir}"},
        "optimizer": {
            "generator": {"_target_": target, "lr": lr_g, "betas": list(betas)},
            "discriminator": {"_target_": target, "lr": lr_d, "betas": list(betas)},
        },
    }


def write_run(run: Path, overrides: list[str], settings: dict, metrics: dict | None) -> None:
    """A run dir as train.py leaves it: .hydra/, metrics.json, TensorBoard events (if finished)."""
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    if metrics is None:
        return
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    writer = SummaryWriter(str(run / "tensorboard"))
    modes, seed = metrics["eval/modes"], metrics["config"]["seed"]
    for step in (2, 4, 6):
        writer.add_scalar("loss/d", 1.0 + seed + step / 10, step)
        writer.add_scalar("loss/g", 2.0 - step / 10, step)
    writer.add_scalar("eval/modes", modes - 2, 3)
    writer.add_scalar("eval/modes", modes, 6)
    writer.add_scalar("eval/hq_fraction", metrics["eval/hq_fraction"], 6)
    writer.add_scalar("eval/reverse_kl", metrics["eval/reverse_kl"], 6)
    writer.add_scalar("loss/g", 2.0 - 6 / 10, 6)  # the final values come again at the last step
    writer.close()


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    root = tmp_path / "multiruns" / "2026-01-01_00-00-00"
    for name, (opt, lr_g, lr_d, seed, modes, hq, kl, wall) in FAKE.items():
        config = {"data": "gaussians_ring", "model": "mlp", **opt, "loss": "nonsaturating"}
        config |= {"update_scheme": "alternating", "lr.generator": lr_g, "lr.discriminator": lr_d}
        config |= {"seed": seed, "steps": 6, "d_steps": 1, "g_steps": 1}
        metrics = {"eval/modes": float(modes), "eval/hq_fraction": hq, "eval/reverse_kl": kl}
        metrics |= {"loss/d": 1.0 + seed, "loss/g": 1.4, "generator_steps": 6}
        metrics |= {"wall_time_s": wall, "config": config}
        write_run(root / name, overrides_of(name), hydra_config(opt, lr_g, lr_d, seed), metrics)
    write_run(root / FAILED, overrides_of(FAILED), hydra_config(RMSPROP, 5e-5, 5e-5, 1), None)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_one_row_per_configuration_with_mean_and_std_over_seeds(multirun: Path) -> None:
    comparison = compare([multirun])
    rows = {c.label: c for c in comparison.configurations}
    assert list(rows) == ["adam", "adam lr.generator=1e-4", "rmsprop"]  # modes, then reverse KL
    assert [len(c.runs) for c in rows.values()] == [2, 2, 1]
    table = markdown_table(comparison).splitlines()
    assert table[0] == (
        "| configuration | seeds | modes | HQ % | reverse KL | loss/d (final) | loss/g (final) "
        "| wall time (s) |"
    )
    # sample std (n - 1): modes 8, 6 -> 7 ± 1.414; HQ 90, 80 % -> 85 ± 7.07; KL .1, .3 -> .2 ± .141
    assert table[2] == (
        "| adam | 2 | 7.0 ± 1.4 | 85.0 ± 7.1 | 0.200 ± 0.141 | 1.500 ± 0.707 | 1.400 ± 0.000 "
        "| 12.0 |"
    )
    assert table[3].startswith(
        "| adam lr.generator=1e-4 | 2 | 7.0 ± 0.0 | 90.0 ± 7.1 | 0.300 ± 0.141"
    )
    assert table[4] == "| rmsprop | 1 | 5.0 | 70.0 | 0.500 | 1.000 | 1.400 | 20.0 |"


def test_csv_holds_the_same_numbers(multirun: Path, tmp_path: Path) -> None:
    write_all(compare([multirun]), tmp_path / "out")
    with (tmp_path / "out" / "table.csv").open() as stream:
        rows = {row["configuration"]: row for row in csv.DictReader(stream)}
    adam = rows["adam"]
    assert adam["seeds"] == "2" and adam["seed_list"] == "0 1"
    assert float(adam["eval/modes_mean"]) == pytest.approx(7.0)
    assert float(adam["eval/modes_std"]) == pytest.approx(math.sqrt(2))
    assert float(adam["eval/hq_fraction_mean"]) == pytest.approx(0.85)
    assert float(adam["eval/hq_fraction_std"]) == pytest.approx(math.sqrt(0.005))
    assert float(adam["eval/reverse_kl_mean"]) == pytest.approx(0.2)
    assert float(adam["wall_time_s_mean"]) == pytest.approx(12.0)
    assert float(rows["adam lr.generator=1e-4"]["lr.generator"]) == pytest.approx(1e-4)
    assert float(rows["rmsprop"]["eval/reverse_kl_mean"]) == pytest.approx(0.5)
    assert math.isnan(float(rows["rmsprop"]["eval/modes_std"]))  # one seed: no spread


def test_curves_are_deduplicated_and_averaged_over_seeds(multirun: Path) -> None:
    adam = compare([multirun]).configurations[0]
    steps, mean, low, high, n = adam.curve("loss/d")
    assert (steps.tolist(), n) == ([2, 4, 6], 2)
    assert mean.tolist() == pytest.approx([1.7, 1.9, 2.1])  # 1 + seed + step/10, seeds 0 and 1
    assert (low.tolist(), high.tolist()) == (
        pytest.approx([1.2, 1.4, 1.6]),
        pytest.approx([2.2, 2.4, 2.6]),
    )
    steps, mean, *_ = adam.curve("loss/g")
    assert steps.tolist() == [2, 4, 6] and mean[-1] == pytest.approx(1.4)
    steps, mean, *_ = adam.curve("eval/modes")
    assert steps.tolist() == [3, 6] and mean.tolist() == pytest.approx([5.0, 7.0])


def test_failed_run_and_missing_seeds_are_reported(multirun: Path, tmp_path: Path) -> None:
    comparison = compare([multirun])
    assert [run.name for run in comparison.failed] == [FAILED]
    write_all(comparison, tmp_path / "out")
    text = (tmp_path / "out" / "table.md").read_text()
    missing = text.split("## Missing / failed runs", 1)[1]
    assert f"`{FAILED}`: no metrics.json (failed or still running)" in missing
    assert "`rmsprop` has 1 seed (0) where others have 2; missing seed 1" in missing


def test_plots_are_png_images(multirun: Path, tmp_path: Path) -> None:
    written = write_all(compare([multirun]), tmp_path / "out")
    names = sorted(p.name for p in written if p.suffix == ".png")
    assert names == ["eval_hq_fraction.png", "eval_modes.png", "eval_reverse_kl.png", "losses.png"]
    for name in names:
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
    assert "![eval_modes](eval_modes.png)" in (tmp_path / "out" / "table.md").read_text()


def test_settings_outside_the_summary_split_configurations(tmp_path: Path) -> None:
    """A sweep over betas has the same metrics.json summary: .hydra/config.yaml tells them apart."""
    config = {**ADAM, "lr.generator": 2e-4, "lr.discriminator": 2e-4, "seed": 0}
    for name, betas in (("0_betas=a", (0.5, 0.999)), ("1_betas=b", (0.0, 0.9))):
        settings = hydra_config(ADAM, 2e-4, 2e-4, 0, betas=betas)
        metrics = {"eval/modes": 8.0, "eval/hq_fraction": 1.0, "eval/reverse_kl": 0.0}
        metrics |= {"loss/d": 1.0, "loss/g": 1.0, "wall_time_s": 1.0, "config": config}
        write_run(tmp_path / name, [], settings, metrics)
    comparison = compare([tmp_path])
    assert len(comparison.configurations) == 2
    assert comparison.hidden_keys == ["optimizer.generator.betas", "optimizer.discriminator.betas"]
    labels = [c.label for c in comparison.configurations]
    assert labels == ["adam optimizer.betas=[0,0.9]", "adam optimizer.betas=[0.5,0.999]"]
    assert len(compare([tmp_path], group_by=["optimizer"]).configurations) == 1


def test_runs_differing_only_in_how_they_execute_are_one_configuration(tmp_path: Path) -> None:
    """threads, compile and channels_last change speed, not what is trained."""
    config = {**ADAM, "lr.generator": 2e-4, "lr.discriminator": 2e-4}
    for index, (threads, compiled) in enumerate(((1, False), (2, True))):
        settings = hydra_config(ADAM, 2e-4, 2e-4, index)
        settings |= {"threads": threads, "compile": compiled, "channels_last": compiled}
        metrics = {"eval/modes": 8.0, "eval/hq_fraction": 1.0, "eval/reverse_kl": 0.0}
        metrics |= {"loss/d": 1.0, "loss/g": 1.0, "wall_time_s": 1.0}
        write_run(
            tmp_path / f"{index}_run", [], settings, metrics | {"config": {**config, "seed": index}}
        )
    comparison = compare([tmp_path])
    assert len(comparison.configurations) == 1 and comparison.hidden_keys == []


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # sys.executable is the project's venv python under .venv/bin/pytest and `make test`
    command = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_cli_writes_prints_and_exits_0(multirun: Path) -> None:
    result = run_cli(multirun)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].startswith("| adam | 2 | 7.0 ± 1.4 |")
    assert FAILED in result.stderr and "no metrics.json" in result.stderr
    assert "Traceback" not in result.stderr
    out = multirun / "comparison"
    assert {"table.md", "table.csv", "losses.png"} <= {p.name for p in out.iterdir()}


def test_cli_exits_2_without_traceback_for_a_missing_or_empty_dir(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "no-such-dir")
    assert result.returncode == 2
    assert "no such directory" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "empty").mkdir()
    result = run_cli(tmp_path / "empty")
    assert result.returncode == 2
    assert "no runs under" in result.stderr and "Traceback" not in result.stderr


def test_compares_two_real_tiny_runs(make_cfg, tmp_path: Path) -> None:
    ring = ["data=gaussians_ring", "model=mlp", *FAST, *TINY_MLP]
    for run, seed in (("a", 0), ("b", 1)):
        train(make_cfg(*ring, f"seed={seed}", run=run))
    comparison = compare([tmp_path / "a", tmp_path / "b"])
    (row,) = comparison.configurations
    assert row.label == "adam" and sorted(row.seeds) == [0, 1]
    assert row.stats("eval/modes")[2] == 2
    written = write_all(comparison, tmp_path / "comparison")
    assert {p.name for p in written} >= {"table.md", "table.csv", "eval_modes.png", "losses.png"}
    steps, *_ = row.curve("loss/g")
    assert steps.tolist() == [2, 4, 6]
