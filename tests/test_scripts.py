"""scripts/generate.py and scripts/eval.py on the checkpoints of tiny real runs, the checkpoint
loader behind them, and the published-settings experiment configs.

Each script start costs seconds of imports, so the command line itself is run a few times
(the paths users take) and everything else runs the scripts in-process, on their config
composed as Hydra composes it (``in_process``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from conftest import CONF, FAST, ROOT, TINY_DCGAN, TINY_MLP, compose_config
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from ganopt.app.checkpoint import CheckpointError
from ganopt.app.cli import exit_status, precheck
from ganopt.app.schema import GENERATE, TABLES
from ganopt.app.train import build, train
from ganopt.app.trained import load_gan
from ganopt.errors import ConfigError
from ganopt.sampling import INTERPOLATIONS, interpolation_latents, lerp, slerp

DIGITS = [*FAST, "data=digits", "data.resolution=16", *TINY_DCGAN, "logger=none"]
RING = [*FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP, "logger=none"]


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module, to call its main(argv) without a new interpreter."""
    spec = importlib.util.spec_from_file_location(
        f"ganopt_script_{name}", ROOT / "scripts" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate_script, eval_script = load_script("generate"), load_script("eval")
WORK = {"generate": generate_script.write_samples, "eval": eval_script.evaluate_and_write}


def in_process(name: str, *overrides: str, out: Path) -> int:
    """What ``python scripts/<name>.py <overrides>`` does, with its run directory at ``out``:
    the command line checked, the config composed, the work done; the exit status."""
    try:
        precheck(list(overrides), CONF, name)
        cfg = compose_config(list(overrides), out, name=name)
        with exit_status(cfg):
            WORK[name](cfg)
    except ConfigError as error:  # run_app's answer to a command-line mistake
        logging.getLogger("ganopt").error("Configuration error: %s", error)
        return 2
    except SystemExit as stopped:
        return int(stopped.code)
    finally:
        GlobalHydra.instance().clear()
    return 0


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The script as users run it. One thread, as in the tests' training runs: the same float
    operations in the same order, so recomputed metrics equal the run's bit for bit."""
    return subprocess.run(
        [sys.executable, f"scripts/{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def trained(tmp_path_factory: pytest.TempPathFactory, name: str, overrides: list[str]) -> Path:
    run = tmp_path_factory.mktemp(name) / "run"
    train(compose_config(overrides, run))
    GlobalHydra.instance().clear()
    return run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 steps of a tiny DCGAN on 16-pixel digits, with an EMA generator (it differs from the
    raw one after ema.start=2)."""
    return trained(tmp_path_factory, "digits", [*DIGITS, "ema.decay=0.9", "ema.start=2"])


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained(tmp_path_factory, "ring", RING)


def eval_metrics(result: dict) -> dict[str, float]:
    return {k: v for k, v in result.items() if k.startswith("eval/")}


def grid_size(n: int, columns: int, side: int, padding: int = 2) -> tuple[int, int]:
    """(width, height) of torchvision's make_grid of n images of side x side pixels."""
    rows = -(-n // columns)
    return columns * (side + padding) + padding, rows * (side + padding) + padding


# ---- the command lines of the issue ------------------------------------------------------------
def test_generate_writes_grid_npz_and_interpolation_strip(digits_run: Path) -> None:
    ckpt, out = digits_run / "checkpoints" / "last.ckpt", digits_run.parent / "generated"
    result = run_script(
        "generate.py", f"ckpt_path={ckpt}", "n=12", "npz=true", "interpolate=5", "rows=3",
        f"hydra.run.dir={out}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    grid, strip, arrays = (
        out / "samples_seed0.png",
        out / "samples_seed0_interpolation.png",
        out / "samples_seed0.npz",
    )
    assert str(grid) in result.stdout and str(strip) in result.stdout
    assert Image.open(grid).size == grid_size(12, columns=4, side=16)  # 4 x 3 grid
    assert Image.open(strip).size == grid_size(15, columns=5, side=16)  # 3 rows of 5 frames
    saved = np.load(arrays)
    assert saved["samples"].shape == (12, 1, 16, 16) and saved["samples"].dtype == np.float32
    assert saved["latents"].shape == (12, 8) and saved["latents"].dtype == np.float32
    assert np.abs(saved["samples"]).max() <= 1.0  # the data range, [-1, 1]
    assert saved["interpolation"].shape == (3, 5, 1, 16, 16)
    assert saved["interpolation_latents"].shape == (3, 5, 8)
    assert int(saved["generator_steps"]) == 6 and str(saved["generator"]) == "ema"


def test_eval_reproduces_the_final_training_metrics(digits_run: Path) -> None:
    ckpt, out = digits_run / "checkpoints" / "last.ckpt", digits_run.parent / "evaluated"
    result = run_script("eval.py", f"ckpt_path={ckpt}", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr
    assert "eval/fcd" in result.stdout and str(out / "eval.json") in result.stdout
    assert (out / ".hydra" / "config.yaml").is_file()  # a Hydra run: its settings are kept
    evaluated = json.loads((out / "eval.json").read_text())
    final = json.loads((digits_run / "metrics.json").read_text())
    assert eval_metrics(final).keys() == {
        "eval/fcd",
        "eval/class_entropy",
        "eval/classes",
        "eval/confidence",
    }
    assert eval_metrics(evaluated) == eval_metrics(final)  # same samples, same evaluators
    assert evaluated["ckpt_path"] == str(ckpt)
    assert evaluated["generator_steps"] == final["generator_steps"] == 6
    assert evaluated["n_samples"] == 200 and evaluated["seed"] == 1234  # the run's settings
    assert evaluated["generator"] == "ema" and evaluated["inception"] is False


def test_scripts_on_a_2d_mixture_scatter_and_reproduce_mode_metrics(ring_run: Path, capsys) -> None:
    ckpt, out = ring_run / "checkpoints" / "last.ckpt", ring_run.parent / "generated"
    result = run_script(
        "generate.py", f"ckpt_path={ckpt}", "npz=true", "interpolate=4", f"hydra.run.dir={out}"
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(out / "samples_seed0.png").size == (400, 400)  # the scatter figure
    assert (out / "samples_seed0_interpolation.png").is_file()
    saved = np.load(out / "samples_seed0.npz")
    assert saved["samples"].shape == (64, 2) and saved["latents"].shape == (64, 16)
    assert saved["interpolation"].shape == (8, 4, 2)
    assert str(saved["generator"]) == "raw"  # no EMA in this run

    assert in_process("eval", f"ckpt_path={ckpt}", out=ring_run.parent / "evaluated") == 0
    evaluated = json.loads((ring_run.parent / "evaluated" / "eval.json").read_text())
    final = json.loads((ring_run / "metrics.json").read_text())
    assert set(eval_metrics(final)) == {"eval/modes", "eval/hq_fraction", "eval/reverse_kl"}
    assert eval_metrics(evaluated) == eval_metrics(final)
    assert "eval/modes" in capsys.readouterr().out


def test_default_generate_redraws_the_last_training_grid(digits_run: Path, tmp_path: Path) -> None:
    """n=64 and seed=0 are the sample callback's settings: the same latents, the same grid."""
    ckpt = digits_run / "checkpoints" / "last.ckpt"
    assert (
        in_process("generate", f"ckpt_path={ckpt}", f"out={tmp_path / 'g.png'}", out=tmp_path) == 0
    )
    ours = np.asarray(Image.open(tmp_path / "g.png"))
    theirs = np.asarray(Image.open(digits_run / "samples" / "step_0000006.png"))
    assert ours.shape == theirs.shape and (ours == theirs).all()


def test_raw_generator_and_overridden_settings(digits_run: Path, tmp_path: Path) -> None:
    ckpt = digits_run / "checkpoints" / "last.ckpt"
    assert (
        in_process("generate", f"ckpt_path={ckpt}", "n=4", "seed=3", "ema=false", out=tmp_path) == 0
    )
    assert (tmp_path / "samples_seed3_raw.png").is_file()
    out = tmp_path / "raw.json"
    argv = [f"ckpt_path={ckpt}", "ema=false", "n_samples=50", "seed=7", f"out={out}"]
    assert in_process("eval", *argv, out=tmp_path) == 0
    evaluated = json.loads(out.read_text())
    assert (evaluated["generator"], evaluated["n_samples"], evaluated["seed"]) == ("raw", 50, 7)
    assert "eval/fcd" in evaluated


class TinyFeatures(torch.nn.Module):
    """A stand-in for Inception (its weights are a download): 2x2 mean colours of the image."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 2).flatten(1)


def test_eval_adds_inception_metrics_on_request(
    digits_run: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr("ganopt.metrics.inception.load_inception", lambda *_: TinyFeatures())
    out = tmp_path / "fid.json"
    argv = [f"ckpt_path={digits_run / 'checkpoints' / 'last.ckpt'}", "inception=true", f"out={out}"]
    assert in_process("eval", *argv, "n_samples=100", "device=cpu", out=tmp_path) == 0
    evaluated = json.loads(out.read_text())
    assert evaluated["inception"] is True and evaluated["eval/fid"] > 0
    assert {"eval/kid", "eval/fcd"} <= evaluated.keys()  # Inception next to the data set's own


def test_eval_reads_the_data_set_from_data_root(make_cfg, tmp_path: Path, caplog) -> None:
    """A run trained on another machine names that machine's data folder; data_root= replaces
    it, and a missing data set is a one-paragraph error that names eval.py's key."""
    cfg = make_cfg("data=mnist", *TINY_DCGAN, "data.root=/elsewhere/data")
    _, module = build(cfg)
    ckpt = tmp_path / "last.ckpt"
    state = {"generator_steps": 0, "iterations": 0, "config": module.config}
    torch.save({"state_dict": module.state_dict(), "ganopt": state}, ckpt)
    assert load_gan(ckpt, data_root=str(tmp_path)).datamodule.root == tmp_path
    assert in_process("eval", f"ckpt_path={ckpt}", f"data_root={tmp_path}", out=tmp_path) == 2
    error = caplog.messages[-1]
    assert str(tmp_path) in error and "data_root=" in error and "data.root=" not in error


# ---- mistakes: one paragraph, exit status 2, no traceback -----------------------------------
@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    foreign = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "epoch": 3}, foreign)
    return {"text": text, "foreign": foreign}


MISTAKES = [
    ("no ckpt_path", lambda files, ckpt: ["seed=3"], "needs the checkpoint of a training run"),
    (
        "missing file",
        lambda files, ckpt: ["ckpt_path=missing/last.ckpt"],
        "ckpt_path=missing/last.ckpt does not exist",
    ),
    (
        "text file",
        lambda files, ckpt: [f"ckpt_path={files['text']}"],
        "is not a PyTorch checkpoint",
    ),
    (
        "foreign checkpoint",
        lambda files, ckpt: [f"ckpt_path={files['foreign']}"],
        "not a ganopt training checkpoint",
    ),
    (
        "unknown key",
        lambda files, ckpt: [f"ckpt_path={ckpt}", "n_sample=10"],
        "the config has no key n_sample",
    ),
    ("not key=value", lambda files, ckpt: [str(ckpt)], "is not an override"),
    (
        "bad value",
        lambda files, ckpt: [f"ckpt_path={ckpt}", "seed=one"],
        "seed='one' is not allowed",
    ),
    (
        "no EMA to use",
        lambda files, ckpt: [f"ckpt_path={ckpt}", "ema=true"],
        "this checkpoint has no EMA generator",
    ),
]


@pytest.mark.parametrize("script", list(WORK))
@pytest.mark.parametrize(("case", "argv", "expected"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistakes_exit_2_with_one_paragraph(
    ring_run: Path, bad_files, caplog, tmp_path: Path, script: str, case: str, argv, expected
) -> None:
    overrides = argv(bad_files, ring_run / "checkpoints" / "last.ckpt")
    if case == "unknown key" and script == "generate":
        overrides[-1] = "sample=10"  # generate.py's nearest key is n; eval.py's n_samples
        expected = "the config has no key sample"
    out = tmp_path / "run"
    assert in_process(script, *overrides, out=out) == 2
    assert caplog.messages[-1].startswith("Configuration error: ")
    assert expected in caplog.messages[-1] and "\n" not in caplog.messages[-1]
    assert not out.exists()  # nothing done: the run directory is removed


@pytest.mark.parametrize(
    ("script", "argv", "expected"),
    [
        ("eval.py", ["ckpt_path={text}"], "is not a PyTorch checkpoint"),
        ("generate.py", ["ckpt_path={ckpt}", "bogus=1"], "the config has no key bogus"),
    ],
)
def test_mistakes_on_the_command_line(
    ring_run: Path, bad_files, tmp_path: Path, script: str, argv: list[str], expected: str
) -> None:
    paths = {"text": bad_files["text"], "ckpt": ring_run / "checkpoints" / "last.ckpt"}
    out = tmp_path / "run"
    result = run_script(script, *(a.format(**paths) for a in argv), f"hydra.run.dir={out}")
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert expected in output and "Traceback" not in output
    assert not out.exists()


def test_help_lists_every_setting() -> None:
    result = run_script("eval.py", "--help")
    assert result.returncode == 0 and "usage: python scripts/eval.py" in result.stdout
    keys = [k for k in TABLES["eval"] if "." not in k and "*" not in k]  # its own settings
    assert keys and all(f"{key}:" in result.stdout for key in keys)


# ---- the loader and interpolation ------------------------------------------------------------
def test_load_gan_rebuilds_the_trained_networks(digits_run: Path) -> None:
    ckpt = digits_run / "checkpoints" / "last.ckpt"
    module, datamodule, config = load_gan(ckpt)
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved.items())
    assert module.generator_steps == 6 and module.ema is not None
    assert datamodule.shape == (1, 16, 16) and config.steps == 6


def test_load_gan_names_a_run_directory_given_instead_of_its_checkpoint(digits_run: Path) -> None:
    with pytest.raises(CheckpointError, match=r"pass ckpt_path=.*checkpoints/last\.ckpt"):
        load_gan(digits_run)


def test_interpolations_end_at_their_codes_and_slerp_keeps_the_norm() -> None:
    z = torch.randn(6, 128, generator=torch.Generator().manual_seed(0))
    assert GENERATE["interpolation"].choices == tuple(INTERPOLATIONS)  # the paths declared
    for mode in INTERPOLATIONS:
        codes = interpolation_latents(z, frames=5, rows=3, mode=mode)
        assert codes.shape == (3, 5, 128)
        torch.testing.assert_close(codes[:, 0], z[0::2])
        torch.testing.assert_close(codes[:, -1], z[1::2])
    t = torch.tensor([0.5])
    middle_norm = slerp(z[:1], z[1:2], t).norm()
    assert middle_norm > 0.95 * min(z[0].norm(), z[1].norm())  # stays on the Gaussian shell
    assert lerp(z[:1], z[1:2], t).norm() < 0.8 * middle_norm  # the straight line cuts inside
    torch.testing.assert_close(slerp(z[:1], z[:1], t)[0, 0], z[0])  # parallel: no division by 0


# ---- experiment configs reproducing published settings --------------------------------------
@pytest.mark.parametrize(
    "name", ["dcgan_cifar10", "sngan_cifar10", "wgan_gp_cifar10", "dcgan_mnist"]
)
def test_published_experiments_cite_their_reference(name: str) -> None:
    text = (CONF / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert "FID" in text and "steps:" in text


def test_sngan_cifar10_has_the_paper_settings(make_cfg) -> None:
    cfg = make_cfg("experiment=sngan_cifar10")
    assert cfg.data._target_.endswith("CIFAR10DataModule") and cfg.data.batch_size == 64
    assert cfg.model.generator._target_.endswith("ResNetGenerator")
    assert cfg.model.discriminator.spectral_norm and not cfg.model.generator.spectral_norm
    assert cfg.loss.discriminator._target_.endswith("hinge_d")
    assert (cfg.steps, cfg.d_steps, cfg.metrics.inception) == (50000, 5, True)
    for network in ("generator", "discriminator"):
        node = cfg.optimizer[network]
        assert node._target_ == "torch.optim.Adam" and node.lr == 2e-4
        assert list(node.betas) == [0.0, 0.9]


def test_wgan_gp_cifar10_has_the_paper_settings(make_cfg) -> None:
    cfg = make_cfg("experiment=wgan_gp_cifar10")
    assert cfg.loss.discriminator._target_.endswith("wasserstein_d")
    assert cfg.regularizer.gp.weight == 10.0 and not cfg.model.discriminator.spectral_norm
    assert cfg.d_steps == 5 and cfg.data.batch_size == 64
    for network in ("generator", "discriminator"):
        assert cfg.optimizer[network].lr == 1e-4 and list(cfg.optimizer[network].betas) == [0, 0.9]


@pytest.mark.parametrize(("name", "data"), [("dcgan_cifar10", "CIFAR10"), ("dcgan_mnist", "MNIST")])
def test_dcgan_experiments_have_the_paper_optimizer(make_cfg, name: str, data: str) -> None:
    cfg = make_cfg(f"experiment={name}")
    assert cfg.data._target_.endswith(f".{data}DataModule") and cfg.data.resolution == 32
    assert cfg.model.generator._target_.endswith("DCGANGenerator")
    assert cfg.loss.generator._target_.endswith("nonsaturating_g")
    for network in ("generator", "discriminator"):
        node = cfg.optimizer[network]
        assert node.lr == 2e-4 and list(node.betas) == [0.5, 0.999]
