"""compile=... compiles G and D in place: checkpoints keep plain keys and resume works."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import FAST, TINY_MLP

from ganopt.app.train import train


def test_compiled_run_checkpoints_plain_keys_and_resumes(make_cfg) -> None:
    # aot_eager exercises torch.compile's tracing without a C++ build, which keeps this fast.
    common = [*FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP, "compile=aot_eager"]
    first = make_cfg(*common, "steps=3", run="first")
    train(first)
    ckpt = Path(first.paths.output_dir) / "checkpoints/last.ckpt"
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    assert not any("_orig_mod" in key for key in state)
    resumed = make_cfg(*common, "steps=5", f"ckpt_path={ckpt}", run="resumed")
    assert train(resumed)["generator_steps"] == 5


def test_channels_last_trains_a_conv_model(make_cfg) -> None:
    cfg = make_cfg(
        *FAST,
        "data=digits",
        "data.resolution=16",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "channels_last=true",
    )
    assert train(cfg)["generator_steps"] == 6
