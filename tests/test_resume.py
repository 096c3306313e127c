"""A run of 2N steps equals a run of N steps resumed to 2N: weights, optimizers, data, RNG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import FAST, TINY_DCGAN, TINY_MLP
from test_train import scalars

from ganopt.app.cli import expand_resume
from ganopt.app.train import train
from ganopt.app.trained import evaluation_callback, load_gan
from ganopt.errors import ConfigError
from ganopt.metrics import ModeCoverage


def final_state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


@pytest.mark.parametrize(
    "setup",
    [
        ["data=gaussians_ring", "model=mlp", *TINY_MLP, "optimizer=adam", "d_steps=2"],
        [
            "data=digits",
            "data.resolution=16",
            "data.batch_size=512",
            *TINY_DCGAN,
            "optimizer=rmsprop",
        ],
    ],
    ids=["ring-adam-dsteps2", "digits-rmsprop-epochs"],
)
def test_resumed_run_matches_uninterrupted_run(make_cfg, setup: list[str]) -> None:
    # A schedule whose length does not depend on `steps`, so both runs share it.
    schedule = [
        "scheduler=linear_decay",
        "scheduler.generator.total_iters=20",
        "scheduler.discriminator.total_iters=20",
    ]
    common = [*FAST, *setup, "log_every_n_steps=1", *schedule]
    straight = make_cfg(*common, "steps=8", run="straight")
    first_half = make_cfg(*common, "steps=4", run="first_half")
    train(straight)
    train(first_half)
    # The stream position is the datamodule's own state, saved by Lightning in the checkpoint.
    saved = torch.load(
        Path(first_half.paths.output_dir) / "checkpoints/last.ckpt", weights_only=False
    )
    (position,) = [v["position"] for k, v in saved.items() if k.endswith("DataModule")]
    assert position == saved["ganopt"]["iterations"] == 4
    resumed = make_cfg(
        *common,
        "steps=8",
        f"ckpt_path={Path(first_half.paths.output_dir) / 'checkpoints/last.ckpt'}",
        run="resumed",
    )
    metrics = train(resumed)
    assert metrics["generator_steps"] == 8

    a, b = final_state(Path(straight.paths.output_dir)), final_state(Path(resumed.paths.output_dir))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    logged_a = scalars(Path(straight.paths.output_dir))
    logged_b = scalars(Path(resumed.paths.output_dir))
    for tag in ("loss/d", "loss/g", "lr/g"):
        assert dict(logged_a[tag])[8] == dict(logged_b[tag])[8]
        assert [v for s, v in logged_a[tag] if s > 4] == [v for s, v in logged_b[tag] if s > 4]


def test_resume_with_no_steps_left_says_steps_is_the_new_total(make_cfg) -> None:
    common = [*FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP]
    first = make_cfg(*common, "steps=4", run="first")
    train(first)
    ckpt = Path(first.paths.output_dir) / "checkpoints/last.ckpt"
    again = make_cfg(*common, "steps=4", f"ckpt_path={ckpt}", run="again")
    with pytest.raises(ConfigError, match=r"reached generator step 4, and steps is the new total"):
        train(again)
    assert not Path(again.paths.output_dir).exists()


def test_checkpoints_of_older_versions_resume_load_and_evaluate(make_cfg) -> None:
    """conf/optim became conf/network_optimizer, conf/update conf/update_scheme, and the metrics
    moved from the data classes to metrics.evaluators: a checkpoint written before stores the
    old form in its overrides and config, and still resumes, loads and evaluates alike."""
    overrides = [*FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP, "steps=2"]
    cfg = make_cfg(*overrides, "network_optimizer@optimizer.discriminator=rmsprop")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ckpt, weights_only=False)
    state, config = checkpoint["ganopt"], checkpoint["ganopt"]["config"]
    state["overrides"] = [*overrides, "optim@optimizer.discriminator=rmsprop"]
    config["update"] = config.pop("update_scheme")
    del config["metrics"]["evaluators"], config["callbacks"]["evaluation"]["metrics"]
    config["data"] |= {"hq_sigmas": 2.5, "min_samples_per_mode": 1}
    torch.save(checkpoint, ckpt)

    expanded = expand_resume([f"ckpt_path={ckpt}", "steps=4"])
    assert "network_optimizer@optimizer.discriminator=rmsprop" in expanded
    assert not any(line.startswith("optim@") for line in expanded)
    loaded = load_gan(ckpt)
    assert loaded.module.optimizer_factories["discriminator"].func is torch.optim.RMSprop
    evaluator = evaluation_callback(loaded.config).build(loaded.datamodule)
    (modes,) = evaluator.evaluators
    assert isinstance(modes, ModeCoverage) and modes.hq_sigmas == 2.5
    resumed = train(make_cfg(*expanded, run="resumed"))
    assert resumed["status"] == "finished" and resumed["generator_steps"] == 4
