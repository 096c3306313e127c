"""Mixed precision: bf16-mixed on CPU with every optimizer; 16-mixed (GradScaler) on GPU.

Under 16-mixed one GradScaler serves both optimizers; the module clips and logs by the unscaled
gradient norm, and a generator step that the scaler skips (inf/NaN gradients) is not
counted as a generator step.
"""

from __future__ import annotations

import math
import subprocess
from typing import Any

import lightning as L
import pytest
import torch
from conftest import ROOT, TINY_DCGAN, TINY_MLP, options
from hydra.utils import instantiate
from lightning.pytorch.plugins import MixedPrecision
from omegaconf import DictConfig

from ganopt.app.train import build, train
from ganopt.callbacks.schedule import lightning_cadence
from ganopt.module import GAN

BASE = [
    "trainer=cpu",
    "trainer.enable_model_summary=false",
    "trainer.enable_progress_bar=false",
    "callbacks=none",
    "steps=3",
    "log_every_n_steps=1",
]
QUICK = [*BASE, "logger=none"]
RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP]
DIGITS = ["data=digits", "data.resolution=16", *TINY_DCGAN]
BF16 = ["trainer.precision=bf16-mixed"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def finite(metrics: dict[str, Any], *keys: str) -> bool:
    return all(math.isfinite(metrics[key]) for key in keys)


def fit(cfg: DictConfig, *callbacks: L.Callback, **trainer: Any) -> tuple[L.Trainer, GAN]:
    """Train ``cfg`` with extra callbacks (and Trainer arguments); return trainer and module."""
    L.seed_everything(cfg.seed, verbose=False)  # as train() does: same seed, same run
    datamodule, module = build(cfg)
    cadence = lightning_cadence(cfg, list(callbacks))
    fitted = instantiate(cfg.trainer, callbacks=list(callbacks), logger=False, **cadence, **trainer)
    fitted.fit(module, datamodule=datamodule)
    return fitted, module


# ---- bf16-mixed on CPU: the default suite ----------------------------------------------------
@pytest.mark.parametrize("optimizer", options("optimizer"))
def test_bf16_mixed_trains_every_optimizer(make_cfg, optimizer: str) -> None:
    metrics = train(make_cfg(*QUICK, *RING, *BF16, f"optimizer={optimizer}"))
    assert metrics["generator_steps"] == 3
    assert finite(metrics, "loss/d", "loss/g", "grad_norm/d", "grad_norm/g")


def test_bf16_mixed_trains_a_dcgan_on_digits_with_clipping(make_cfg) -> None:
    cfg = make_cfg(*QUICK, *DIGITS, *BF16, "clip_grad_norm.generator=1.0")
    metrics = train(cfg)
    assert metrics["generator_steps"] == 3
    assert finite(metrics, "loss/d", "loss/g", "grad_norm/d", "grad_norm/g")


class OutputDtypes(L.Callback):
    """Records the dtype of the generator's and discriminator's outputs during training."""

    def __init__(self) -> None:
        self.dtypes: set[tuple[str, torch.dtype]] = set()

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        for name in ("generator", "discriminator"):
            getattr(pl_module, name).register_forward_hook(
                lambda _, __, out, name=name: self.dtypes.add((name, out.dtype))
            )


def test_bf16_mixed_autocasts_and_keeps_float32_weights(make_cfg) -> None:
    dtypes = OutputDtypes()
    _, module = fit(make_cfg(*QUICK, *RING, *BF16), dtypes)
    assert dtypes.dtypes == {("generator", torch.bfloat16), ("discriminator", torch.bfloat16)}
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    # Same seed in fp32: the losses agree to bf16 accuracy.
    full = train(make_cfg(*QUICK, *RING, run="fp32"))
    half = train(make_cfg(*QUICK, *RING, *BF16, run="bf16"))
    for key in ("loss/d", "loss/g"):
        assert half[key] == pytest.approx(full[key], rel=0.02)


# ---- 16-mixed: GradScaler ----------------------------------------------------------------------
class ScalerProbe(L.Callback):
    """Records which optimizers the GradScaler stepped, each G gradient norm that reached the
    optimizer (after unscaling and clipping), and G's weights around a poisoned G step.

    ``poison_at``: the generator step whose gradient is set to inf right after G's backward,
    before the scaler looks for inf/NaN.
    """

    def __init__(self, poison_at: int | None = None) -> None:
        self.poison_at, self.poisoned = poison_at, False
        self.stepped: list[tuple[str, bool]] = []  # (network, skipped for inf/NaN)
        self.g_norms_at_step: list[float] = []
        self.scalers: set[int] = set()
        self.around_poison: list[list[torch.Tensor]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        scaler = trainer.precision_plugin.scaler
        self.scalers.add(id(scaler))
        step, g_optimizer = scaler.step, pl_module.optimizers()[0].optimizer

        def recording_step(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            # The gradients are unscaled (and clipped) now; the scaler skips non-finite ones.
            grads = [
                p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None
            ]
            skipped = not all(torch.isfinite(g).all() for g in grads)
            self.stepped.append(("g" if optimizer is g_optimizer else "d", skipped))
            if optimizer is g_optimizer:
                self.g_norms_at_step.append(float(torch.stack([g.norm() for g in grads]).norm()))
            return step(optimizer, *args, **kwargs)

        scaler.step = recording_step

    def on_after_backward(self, trainer: L.Trainer, pl_module: GAN) -> None:
        g_backward = not any(p.requires_grad for p in pl_module.discriminator.parameters())
        if g_backward and pl_module.generator_steps == self.poison_at and not self.poisoned:
            self.poisoned = True
            self.around_poison.append(
                [p.detach().clone() for p in pl_module.generator.parameters()]
            )
            next(pl_module.generator.parameters()).grad.fill_(math.inf)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_: Any) -> None:
        if self.poisoned and len(self.around_poison) == 1:
            self.around_poison.append(
                [p.detach().clone() for p in pl_module.generator.parameters()]
            )


def fp16_cpu() -> dict[str, Any]:
    """Trainer arguments for fp16 autocast + GradScaler on CPU (torch supports both there;
    Lightning's precision="16-mixed" would switch a CPU run to bf16-mixed)."""
    return {"precision": None, "plugins": [MixedPrecision("16-mixed", "cpu")]}


DEVICES = [
    pytest.param("cuda", marks=[pytest.mark.gpu, CUDA]),
    pytest.param("cpu", id="cpu-fp16-scaler"),
]


def on_device(device: str) -> list[str]:
    """Overrides that put a run on ``device`` in fp32."""
    return ["trainer=gpu"] if device == "cuda" else []


def fp16_scaled(device: str) -> tuple[list[str], dict[str, Any]]:
    """Overrides and Trainer arguments for 16-mixed (fp16 autocast + GradScaler) on ``device``."""
    if device == "cuda":
        return ["trainer=gpu", "trainer.precision=16-mixed"], {}
    return [], fp16_cpu()


class LoggedGradNorms(L.Callback):
    """The ``grad_norm/g`` the module logs at every step (with log_every_n_steps=1), as
    Lightning holds it: updated after the batch-end hooks, so read at the next batch's start."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *_: Any) -> None:
        if "grad_norm/g" in trainer.callback_metrics:
            self.values.append(float(trainer.callback_metrics["grad_norm/g"]))

    def on_train_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self.on_train_batch_start(trainer)


@pytest.mark.parametrize("device", DEVICES)
def test_16_mixed_does_not_count_a_generator_step_skipped_on_inf(make_cfg, device: str) -> None:
    overrides, trainer = fp16_scaled(device)
    probe = ScalerProbe(poison_at=1)
    fitted, module = fit(make_cfg(*QUICK, *RING, *overrides, "steps=4"), probe, **trainer)
    # One scaler steps both optimizers; every skipped step halved its scale (fp16 can also
    # overflow on its own at the initial scale of 2**16, so count the skips rather than assume).
    scaler = fitted.precision_plugin.scaler
    assert probe.scalers == {id(scaler)}
    assert {net for net, _ in probe.stepped} == {"g", "d"}
    assert scaler.get_scale() == 2.0**16 / 2 ** sum(skipped for _, skipped in probe.stepped)
    # The poisoned G step changed nothing and did not count: each skipped G step cost a batch.
    before, after = probe.around_poison
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    g_skips = sum(skipped for net, skipped in probe.stepped if net == "g")
    assert g_skips >= 1
    assert module.generator_steps == 4
    assert module.iterations == 4 + g_skips


@pytest.mark.parametrize("device", DEVICES)
def test_16_mixed_clips_and_logs_unscaled_generator_gradients(make_cfg, device: str) -> None:
    common = [*QUICK, *RING, "steps=4"]
    full, half = LoggedGradNorms(), LoggedGradNorms()
    fit(make_cfg(*common, *on_device(device), run="fp32"), full)
    overrides, trainer = fp16_scaled(device)
    fit(make_cfg(*common, *overrides, run="fp16"), half, **trainer)
    # The logged norm is measured after unscaling: fp32's, not 2**16 times it (a step that
    # overflowed in fp16, skipped by the scaler, logs inf; compare the first finite one).
    first = next(i for i, norm in enumerate(half.values) if math.isfinite(norm))
    assert half.values[first] == pytest.approx(full.values[first], rel=0.05)
    # Clipping works on unscaled gradients: what reaches the optimizer has norm max_norm
    # (clipping scaled gradients would leave 2**-16 of that after unscaling).
    max_norm = full.values[0] / 10
    probe = ScalerProbe()
    clipped = make_cfg(*common, *overrides, f"clip_grad_norm.generator={max_norm}", run="clip")
    fit(clipped, probe, **trainer)
    applied = [norm for norm in probe.g_norms_at_step if math.isfinite(norm)]
    assert applied
    assert applied == pytest.approx([max_norm] * len(applied), rel=1e-3)


def test_gpu_check_script_is_valid_bash() -> None:
    """scripts/gpu_check.sh runs on GPU machines only; here it must at least parse."""
    script = ROOT / "scripts" / "gpu_check.sh"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
