"""Gradient penalties and weight clipping: hand-computed values, laziness, real trainings."""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path

import pytest
import torch
from conftest import FAST, TINY_MLP, options
from torch import Tensor, nn

from ganopt.app.train import build, train
from ganopt.errors import ConfigError
from ganopt.optim import ExtraSGD, Lookahead
from ganopt.regularizers import (
    GradientPenalty,
    R1Penalty,
    Regularizer,
    WeightClip,
    as_named,
    gradient_penalty,
    r1_penalty,
)

RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP]


class LinearD(nn.Module):
    """D(x) = w·flatten(x) + b: its input gradient is w everywhere."""

    def __init__(self, weight: list[float], bias: float = 0.3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))
        self.bias = nn.Parameter(torch.tensor(bias))

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight + self.bias


class QuadraticD(nn.Module):
    """D(x) = ½‖x‖²: its input gradient is x itself."""

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * x.flatten(1).pow(2).sum(1)


def batch(n: int = 5, shape: tuple[int, ...] = (4,)) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, *shape, generator=generator), torch.randn(n, *shape, generator=generator)


# ---- gradient penalty -------------------------------------------------------------------------
def test_gp_vanishes_for_a_unit_norm_linear_discriminator() -> None:
    d = LinearD(torch.nn.functional.normalize(torch.tensor([1.0, -2.0, 0.5, 3.0]), dim=0).tolist())
    real, fake = batch()
    assert gradient_penalty(d, real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_gp_matches_hand_computation_for_a_linear_discriminator() -> None:
    d = LinearD([3.0, 4.0, 0.0, 0.0])  # ‖∇D‖ = 5 everywhere: (5 - 1)² = 16
    real, fake = batch(shape=(1, 2, 2))  # image-shaped input, flattened inside
    penalty = GradientPenalty(weight=10.0)(d, real, fake, step=0)
    assert penalty.item() == pytest.approx(160.0)
    penalty.backward()  # create_graph: the penalty trains D. d/dw 10(‖w‖-1)² = 20·4·w/5
    assert d.weight.grad.tolist() == pytest.approx([48.0, 64.0, 0.0, 0.0])


def test_gp_is_taken_on_interpolates() -> None:
    real, fake = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    # ∇(½‖x‖²) = x̂ = α·real: ‖x̂‖ = 2α, so α = 0.5 gives 0 and α = 1 gives (2 - 1)² = 1.
    assert gradient_penalty(QuadraticD(), real, fake, torch.tensor([0.5])).item() == 0.0
    assert gradient_penalty(QuadraticD(), real, fake, torch.tensor([1.0])).item() == 1.0


# ---- R1 ---------------------------------------------------------------------------------------
def test_r1_matches_hand_computation() -> None:
    d = LinearD([3.0, 4.0])
    real = torch.randn(6, 2)
    penalty = R1Penalty(gamma=10.0)(d, real, real, step=0)
    assert penalty.item() == pytest.approx(5.0 * 25.0)  # γ/2·‖w‖²
    penalty.backward()  # d/dw 5‖w‖² = 10w
    assert d.weight.grad.tolist() == pytest.approx([30.0, 40.0])
    assert d.bias.grad is None  # the bias does not change the input gradient


def test_r1_is_the_mean_squared_input_gradient() -> None:
    real = torch.tensor([[1.0, 2.0], [3.0, 0.0]])  # ∇(½‖x‖²) = x: mean(5, 9) = 7
    assert r1_penalty(QuadraticD(), real).item() == pytest.approx(7.0)
    assert R1Penalty(gamma=1.0)(QuadraticD(), real, real, step=0).item() == pytest.approx(3.5)


def test_lazy_r1_applies_every_k_steps_scaled_by_k() -> None:
    d, real = LinearD([3.0, 4.0]), torch.randn(4, 2)
    r1 = R1Penalty(gamma=2.0, every=4)
    values = [r1(d, real, real, step=step) for step in range(9)]
    assert [step for step, v in enumerate(values) if v is not None] == [0, 4, 8]
    assert all(values[s].item() == pytest.approx(4 * 25.0) for s in (0, 4, 8))  # k·γ/2·‖w‖²


def test_lazy_r1_in_the_module_follows_generator_steps(make_cfg) -> None:
    _, module = build(make_cfg(*RING, "regularizer=[r1]", "regularizer.r1.every=3"))
    module._log_batch = True  # statistics are made on the batches that log them
    real = torch.randn(8, 2)
    applied, last = [], None
    for step in range(7):
        module.generator_steps = step
        _, stats = module.d_loss(real)
        applied.append(stats["reg/r1"] is not last)  # between applications: the last value
        last = stats["reg/r1"]
    assert applied == [True, False, False, True, False, False, True]


def test_penalties_need_no_gradient_context_and_leave_the_input_alone() -> None:
    d, real = LinearD([3.0, 4.0]), torch.randn(4, 2)
    with torch.no_grad():  # e.g. a penalty evaluated for logging
        assert R1Penalty()(d, real, real, step=0).item() == pytest.approx(125.0)
    assert not real.requires_grad and real.grad is None


def test_d_loss_adds_the_penalties_and_trains_only_d(make_cfg) -> None:
    _, module = build(make_cfg(*RING, "regularizer=[gp,r1]"))
    module._log_batch = True  # statistics are made on the batches that log them
    for p in module.generator.parameters():  # as the module's toggling does for D's update
        p.requires_grad_(False)
    torch.manual_seed(0)
    loss, stats = module.d_loss(torch.randn(8, 2))
    assert {"reg/gp", "reg/r1"} <= stats.keys()
    loss.backward()
    assert all(p.grad is not None for p in module.discriminator.parameters())
    assert all(p.grad is None for p in module.generator.parameters())


# ---- weight clipping --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make_optimizer",
    [
        partial(torch.optim.SGD, lr=10.0),
        partial(Lookahead, base=partial(torch.optim.SGD, lr=10.0), k=2),
        partial(ExtraSGD, lr=10.0),
    ],
    ids=["sgd", "lookahead", "extragradient"],
)
def test_weight_clip_runs_after_every_optimizer_step(make_optimizer) -> None:
    d = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = make_optimizer(d.parameters())
    WeightClip(clip=0.05).attach(optimizer, d)
    assert all(p.detach().abs().max() <= 0.05 for p in d.parameters())  # clipped once on attach
    for _ in range(4):
        optimizer.zero_grad()
        d(torch.randn(16, 3)).pow(2).mean().mul(-1).backward()
        optimizer.step()
        assert all(p.detach().abs().max() <= 0.05 for p in d.parameters())
    assert any(p.detach().abs().max().item() == pytest.approx(0.05) for p in d.parameters())


def test_weight_clip_follows_grad_scaler_steps_including_skipped_ones() -> None:
    d = nn.Linear(3, 1)
    nn.init.zeros_(d.weight)  # so that the first (large) step surely moves and clips them
    optimizer = torch.optim.SGD(d.parameters(), lr=10.0)
    WeightClip(clip=0.05).attach(optimizer, d)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)  # what 16-mixed steps through
    for overflow in (False, True):
        before = [p.detach().clone() for p in d.parameters()]
        optimizer.zero_grad()
        loss = d(torch.randn(8, 3)).mean() * (math.inf if overflow else 1.0)
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped on inf: no update, so nothing to clip
        scaler.update()
        after = list(d.parameters())
        assert all(p.detach().abs().max() <= 0.05 for p in after)
        assert overflow == all(torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_wgan_training_keeps_every_d_weight_clipped(make_cfg) -> None:
    cfg = make_cfg(
        *FAST, *RING, "loss=wasserstein", "regularizer=[weight_clip]", "optimizer=rmsprop",
        "d_steps=2",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6
    checkpoint = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False
    )
    weights = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("discriminator.")}
    assert weights and all(v.abs().max() <= 0.01 for v in weights.values())
    assert max(v.abs().max() for v in weights.values()) == pytest.approx(0.01)


# ---- configs ----------------------------------------------------------------------------------
def test_no_regularizer_by_default(make_cfg) -> None:
    assert build(make_cfg(*RING))[1].regularizers == {}


@pytest.mark.parametrize("name", options("regularizer"))
def test_every_regularizer_option_composes_and_trains(make_cfg, name: str) -> None:
    cfg = make_cfg(*FAST, *RING, f"regularizer=[{name}]")
    assert list(cfg.regularizer) == [name]
    _, module = build(cfg)
    assert list(module.regularizers) == [name]
    assert isinstance(module.regularizers[name], Regularizer)
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6 and math.isfinite(metrics["loss/d"])
    if name != "weight_clip":
        assert math.isfinite(metrics[f"reg/{name}"])


def test_regularizers_combine(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, "loss=wasserstein", "regularizer=[gp,r1,weight_clip]")
    _, module = build(cfg)
    assert [type(r) for r in module.regularizers.values()] == [
        GradientPenalty,
        R1Penalty,
        WeightClip,
    ]
    metrics = train(cfg)
    assert math.isfinite(metrics["reg/gp"]) and math.isfinite(metrics["reg/r1"])


def test_gp_trains_an_image_model(make_cfg) -> None:
    cfg = make_cfg(
        *FAST, "data=digits", "data.resolution=16", "model.generator.width=8",
        "model.discriminator.width=8", "model.generator.latent_dim=8", "regularizer=[gp]",
        "loss=wasserstein", "~callbacks.evaluation",
    )  # fmt: skip
    assert math.isfinite(train(cfg)["reg/gp"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("regularizer.r1.every=0", "regularizer.r1.every"),
        ("regularizer.r1.gamma=-1", "regularizer.r1.gamma"),
        ("regularizer.gp.weight=-10", "regularizer.gp.weight"),
        ("regularizer.weight_clip.clip=0", "regularizer.weight_clip.clip"),
    ],
)
def test_bad_regularizer_values_name_the_key(make_cfg, override: str, key: str) -> None:
    name = key.split(".")[1]
    with pytest.raises(ConfigError, match=re.escape(key)):
        build(make_cfg(*RING, f"regularizer=[{name}]", override))


def test_a_list_of_regularizers_is_named_by_class() -> None:
    assert list(as_named([R1Penalty(), WeightClip()])) == ["r1_penalty", "weight_clip"]
    with pytest.raises(ConfigError, match=r"regularizer\.x"):
        as_named({"x": nn.Linear(1, 1)})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_regularizers_under_mixed_precision_on_gpu(make_cfg, precision: str) -> None:
    cfg = make_cfg(
        *FAST, *RING, "trainer=gpu", f"trainer.precision={precision}", "loss=wasserstein",
        "regularizer=[gp,r1,weight_clip]", "d_steps=2",
    )  # fmt: skip
    metrics = train(cfg)
    assert math.isfinite(metrics["reg/gp"]) and math.isfinite(metrics["reg/r1"])
    checkpoint = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False
    )
    weights = [v for k, v in checkpoint["state_dict"].items() if k.startswith("discriminator.")]
    assert all(v.abs().max() <= 0.01 for v in weights)
