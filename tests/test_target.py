"""Time to target: the first evaluation that meets the workload's target, in generator steps,
gradient evaluations and wall time; null when none did; kept across a resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import FAST, TINY_MLP
from torch import Tensor

from ganopt.app.train import train
from ganopt.callbacks import StepCheckpoint
from ganopt.errors import ConfigError
from ganopt.module import GAN
from ganopt.targets import holds, meets


class Counting:
    """A fake evaluator: ``eval/calls`` is how many evaluations this run has made."""

    def __init__(self, datamodule: object) -> None:
        self.calls = 0

    def __call__(self, samples: Tensor) -> dict[str, float]:
        self.calls += 1
        return {"eval/calls": float(self.calls)}


COUNTED = [
    *FAST,
    "data=gaussians_ring",
    "model=mlp",
    *TINY_MLP,
    "logger=none",
    "~metrics.evaluators.modes",
    f"+metrics.evaluators.calls._target_={__name__}.Counting",
    "+metrics.evaluators.calls._partial_=true",
]


def test_rules_read_as_written() -> None:
    assert holds(8, ">= 8") and not holds(7.9, ">= 8") and holds(0.04, "<= 0.05")
    assert not holds(None, ">= 0")
    assert meets({"a": 1.0, "b": 5.0}, {"a": ">= 1", "b": "<= 5"})
    assert not meets({"a": 1.0}, {"a": ">= 1", "b": "<= 5"})


def test_the_first_evaluation_that_meets_the_target_is_recorded(make_cfg) -> None:
    """Evaluations at steps 3, 6 and 9: the second one (step 6) is the first with calls >= 2."""
    metrics = train(make_cfg(*COUNTED, "steps=9", "target={eval/calls: '>= 2'}"))
    assert metrics["target_step"] == 6
    assert metrics["target_gradient_evaluations"] == 6 * 2  # one D and one G gradient a step
    assert 0 < metrics["target_wall_time_s"] < metrics["wall_time_s"] + 1


def test_extragradient_pays_for_its_second_gradient(make_cfg) -> None:
    cfg = make_cfg(*COUNTED, "steps=3", "optimizer=extra_adam", "target={eval/calls: '>= 1'}")
    metrics = train(cfg)
    assert metrics["target_step"] == 3 and metrics["target_gradient_evaluations"] == 3 * 4


def test_a_run_that_never_meets_its_target_records_null(make_cfg) -> None:
    metrics = train(make_cfg(*COUNTED, "target={eval/calls: '>= 100'}"))
    assert metrics["status"] == "finished"
    assert metrics["target_step"] is None and metrics["target_wall_time_s"] is None


def test_a_resumed_run_keeps_the_step_its_first_part_reached(make_cfg) -> None:
    """Reached at step 3; last.ckpt holds step 6 (saved after step 6's evaluation)."""
    target = "target={eval/calls: '>= 1'}"
    first = make_cfg(*COUNTED, "steps=6", target, run="first")
    assert train(first)["target_step"] == 3
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    # the resumed run's evaluator counts again from 1 at step 9: only the saved state says 3
    resumed = train(make_cfg(*COUNTED, "steps=9", target, f"ckpt_path={ckpt}", run="resumed"))
    assert resumed["target_step"] == 3


def test_a_checkpoint_at_an_evaluated_step_holds_what_its_evaluation_decided(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed run does not evaluate its checkpoint's step again, so the checkpoint is written
    after that evaluation: at step 3 mid-run (a copy of each save is kept) and at the last step,
    where a run resumed to step 6 (its evaluator counting again from 1) keeps step 3."""
    save = StepCheckpoint.run

    def keep_each(self: StepCheckpoint, trainer: L.Trainer, pl_module: GAN) -> None:
        save(self, trainer, pl_module)
        shutil.copy(self.path, self.path.with_name(f"step{pl_module.generator_steps}.ckpt"))

    monkeypatch.setattr(StepCheckpoint, "run", keep_each)
    target = "target={eval/calls: '>= 1'}"
    mid = make_cfg(*COUNTED, "steps=6", target, run="mid")
    train(mid)
    saved = torch.load(Path(mid.paths.output_dir) / "checkpoints/step3.ckpt", weights_only=False)
    (state,) = [v for k, v in saved["callbacks"].items() if k.startswith("TimeToTarget")]
    assert state["reached"]["target_step"] == 3
    last = make_cfg(*COUNTED, "steps=3", target, run="last")
    assert train(last)["target_step"] == 3
    ckpt = Path(last.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = train(make_cfg(*COUNTED, "steps=6", target, f"ckpt_path={ckpt}", run="resumed"))
    assert resumed["target_step"] == 3


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("target={eval/calls: '> 2'}", r"target.eval/calls='> 2' is not allowed"),
        ("target={eval/fcd: '<= 5'}", r"target names eval/fcd, which this run's evaluation"),
    ],
)
def test_a_target_that_cannot_be_read_is_a_config_error(make_cfg, target: str, match: str):
    with pytest.raises(ConfigError, match=match):
        train(make_cfg(*COUNTED, target))
