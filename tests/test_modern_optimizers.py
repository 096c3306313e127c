"""The optimizers from after 2021: each update against its paper's formula (or a reference
implementation) on a tiny problem, Muon's parameter groups, Schedule-Free's train/eval modes
around evaluation and checkpoints, exact resume, mixed precision and a missing package."""

from __future__ import annotations

import copy as copy_module
import functools
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from conftest import FAST, ROOT, TINY_DCGAN, TINY_MLP
from test_precision import QUICK, fit, fp16_cpu
from test_resume import final_state
from torch import nn

from ganopt.app.train import build, train
from ganopt.errors import EXIT_CONFIG_ERROR
from ganopt.models.common import apply_spectral_norm
from ganopt.module import GAN
from ganopt.optim import Muon, Split

MODERN = ["muon", "schedulefree_adamw", "prodigy", "lion", "soap", "ademamix", "adafactor"]
RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP]
DIGITS = ["data=digits", "data.resolution=16", *TINY_DCGAN]


def steps(optimizer: torch.optim.Optimizer, p: torch.Tensor, grads: list[torch.Tensor]) -> None:
    for grad in grads:
        p.grad = grad.clone()
        optimizer.step()


# ---- single updates against the papers -------------------------------------------------------
@pytest.mark.parametrize("adjust_lr_fn", ["original", "match_rms_adamw"])
@pytest.mark.parametrize("shape", [(8, 5), (5, 8)])
def test_muon_on_a_matrix_is_torchs_muon_bit_for_bit(shape: tuple[int, int], adjust_lr_fn: str):
    torch.manual_seed(0)
    ours, theirs = torch.randn(shape, requires_grad=True), None
    theirs = ours.detach().clone().requires_grad_()
    settings = dict(lr=0.02, weight_decay=0.1, adjust_lr_fn=adjust_lr_fn)
    grads = [torch.randn(shape) for _ in range(3)]
    steps(Muon([ours], **settings, ns_dtype="bfloat16"), ours, grads)
    steps(torch.optim.Muon([theirs], **settings), theirs, grads)
    assert torch.equal(ours, theirs)


def test_muon_treats_a_kernel_as_the_matrix_of_its_rows() -> None:
    """A [out, in, k, k] kernel moves as torch's Muon moves the out x in*k*k matrix."""
    torch.manual_seed(0)
    kernel = torch.randn(6, 3, 2, 2, requires_grad=True)
    matrix = kernel.detach().reshape(6, 12).clone().requires_grad_()
    grads = [torch.randn(6, 3, 2, 2) for _ in range(3)]
    steps(Muon([kernel], lr=0.02, ns_dtype="bfloat16"), kernel, grads)
    steps(
        torch.optim.Muon([matrix], lr=0.02, weight_decay=0.0),
        matrix,
        [g.reshape(6, 12) for g in grads],
    )
    assert torch.equal(kernel.detach().reshape(6, 12), matrix.detach())


@pytest.mark.parametrize("ns_dtype", ["auto", "bfloat16"])
def test_muons_direction_is_nearly_orthogonal(ns_dtype: str) -> None:
    """On a CPU ``auto`` iterates in float32 (bfloat16 products are far slower there): the same
    band around 1 as torch's bfloat16 iteration."""
    torch.manual_seed(0)
    p = torch.zeros(16, 32, requires_grad=True)
    steps(Muon([p], lr=1.0, momentum=0.0, ns_dtype=ns_dtype), p, [torch.randn(16, 32)])
    singular = torch.linalg.svdvals(-p.detach())
    assert singular.min() > 0.5 and singular.max() < 1.3  # NS5's band around 1 (Jordan 2024)


def test_schedule_free_adamw_follows_the_three_sequences_of_the_paper() -> None:
    """Defazio et al. 2024, Alg. 1: z ← z − γ·u(y), x ← (1 − c)x + c·z, y = (1 − β)z + β·x, with
    u Adam's normalised gradient and c = γ²/Σγ² (weight_lr_power 2; γ includes the bias
    correction). Training holds y; eval() holds x."""
    from schedulefree import AdamWScheduleFree

    torch.manual_seed(0)
    p0, grads = torch.randn(4), [torch.randn(4) for _ in range(3)]
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-8
    p = p0.clone().requires_grad_()
    optimizer = AdamWScheduleFree([p], lr=lr, betas=(beta1, beta2), eps=eps, warmup_steps=0)
    optimizer.train()
    x, z, v, weights = p0.clone(), p0.clone(), torch.zeros(4), 0.0
    for t, grad in enumerate(grads, start=1):
        steps(optimizer, p, [grad])
        v = beta2 * v + (1 - beta2) * grad**2
        u = grad / ((v / (1 - beta2**t)).sqrt() + eps)
        z = z - lr * u
        weights += lr**2
        c = lr**2 / weights
        x = (1 - c) * x + c * z
        assert torch.allclose(p.detach(), (1 - beta1) * z + beta1 * x, atol=1e-6)
    optimizer.eval()
    assert torch.allclose(p.detach(), x, atol=1e-6)


def test_prodigy_starts_at_d0_and_grows_d_no_faster_than_its_cap() -> None:
    """Mishchenko & Defazio 2024: the first step is Adam's at step size d0·lr; d then jumps to its
    first estimate and grows by at most ``growth_rate`` per step (the cap a game needs)."""
    from prodigyopt import Prodigy

    torch.manual_seed(0)
    p0, grad = torch.randn(5), torch.randn(5)
    p = p0.clone().requires_grad_()
    optimizer = Prodigy([p], lr=1.0, betas=(0.9, 0.999), d0=1e-6, growth_rate=1.02)
    steps(optimizer, p, [grad])
    adam = (1 - 0.9) * grad / (math.sqrt(1 - 0.999) * grad.abs() + 1e-8)
    assert torch.allclose(p.detach(), p0 - 1e-6 * adam)
    ds = []
    for _ in range(30):
        steps(optimizer, p, [torch.randn(5)])
        ds.append(optimizer.param_groups[0]["d"])
    assert max(b / a for a, b in itertools.pairwise(ds[1:])) <= 1.02 + 1e-12
    assert ds[-1] > 1e-6


def test_lion_steps_by_the_sign_of_the_interpolated_momentum() -> None:
    """Chen et al. 2023, Alg. 2: c = β1·m + (1 − β1)·g, θ ← θ − η·sign(c), m ← β2·m + (1 − β2)·g."""
    from pytorch_optimizer import Lion

    torch.manual_seed(0)
    p0, grads = torch.randn(6), [torch.randn(6) for _ in range(3)]
    p = p0.clone().requires_grad_()
    steps(Lion([p], lr=0.01, betas=(0.9, 0.99)), p, grads)
    theta, m = p0.clone(), torch.zeros(6)
    for grad in grads:
        theta -= 0.01 * torch.sign(0.9 * m + 0.1 * grad)
        m = 0.99 * m + 0.01 * grad
    assert torch.allclose(p.detach(), theta)


def test_ademamix_adds_a_slow_momentum_to_adam() -> None:
    """Pagliardini et al. 2024, Alg. 1 (no warm-up): θ ← θ − η·(m̂1 + α·m2)/(√v̂ + ε)."""
    from pytorch_optimizer import AdEMAMix

    torch.manual_seed(0)
    p0, grads = torch.randn(6), [torch.randn(6) for _ in range(3)]
    betas, alpha, lr, eps = (0.9, 0.999, 0.9999), 5.0, 1e-3, 1e-8
    p = p0.clone().requires_grad_()
    steps(AdEMAMix([p], lr=lr, betas=betas, alpha=alpha, eps=eps), p, grads)
    theta, m1, m2, v = p0.clone(), torch.zeros(6), torch.zeros(6), torch.zeros(6)
    for t, grad in enumerate(grads, start=1):
        m1 = betas[0] * m1 + (1 - betas[0]) * grad
        m2 = betas[2] * m2 + (1 - betas[2]) * grad
        v = betas[1] * v + (1 - betas[1]) * grad**2
        denom = (v / (1 - betas[1] ** t)).sqrt() + eps
        theta -= lr * (m1 / (1 - betas[0] ** t) + alpha * m2) / denom
    assert torch.allclose(p.detach(), theta, atol=1e-7)


def test_soap_on_a_vector_is_adam_after_its_first_statistics_step() -> None:
    """Vyas et al. 2024: SOAP is Adam in the preconditioner's eigenbasis; a 1-D parameter is
    not rotated (precondition_1d off), and the first step only collects statistics."""
    from pytorch_optimizer import SOAP

    torch.manual_seed(0)
    p0, grads = torch.randn(5), [torch.randn(5) for _ in range(4)]
    p, q = p0.clone().requires_grad_(), p0.clone().requires_grad_()
    steps(SOAP([p], lr=1e-2, betas=(0.95, 0.95), weight_decay=0.0), p, grads)
    steps(torch.optim.Adam([q], lr=1e-2, betas=(0.95, 0.95)), q, grads[1:])
    assert torch.allclose(p.detach(), q.detach())


def test_adafactors_first_step_is_relative_to_the_weights_scale() -> None:
    """Shazeer & Stern 2018: β2 decay 1 − t^-0.8 is 0 at t = 1, so the step is sign(g) times
    max(eps2, RMS(θ))·min(lr, 1/√t)."""
    torch.manual_seed(0)
    p0, grad = torch.randn(5), torch.randn(5)
    p = p0.clone().requires_grad_()
    steps(torch.optim.Adafactor([p], lr=1e-2), p, [grad])
    scale = max(1e-3, float(p0.pow(2).mean().sqrt())) * 1e-2
    assert torch.allclose(p.detach(), p0 - scale * grad.sign())


# ---- Muon's parameter groups ----------------------------------------------------------------
class Generatorish(nn.Module):
    """Latent projection, a hidden conv-transpose, a norm, a hidden conv, the output conv."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Linear(4, 8 * 2 * 2)
        self.up = nn.ConvTranspose2d(8, 6, 4, 2, 1)
        self.norm = nn.BatchNorm2d(6)
        self.hidden = nn.Conv2d(6, 6, 3, padding=1)
        self.linear = nn.Linear(6, 6)
        self.out = nn.Conv2d(6, 3, 3, padding=1)


def groups(optimizer: Split) -> dict[str, set[int]]:
    return {
        name: {id(p) for g in part.param_groups for p in g["params"]}
        for name, part in optimizer.parts.items()
    }


MUON = functools.partial(Muon, lr=0.02)
ADAMW = functools.partial(torch.optim.AdamW, lr=2e-4)


def test_split_gives_muon_the_hidden_matrices_and_kernels_and_adamw_the_rest() -> None:
    net = Generatorish()
    parts = groups(Split(net.parameters(), MUON, ADAMW))
    hidden = {id(net.up.weight), id(net.hidden.weight), id(net.linear.weight)}
    assert parts["matrices"] == hidden  # first (latent projection) and last (output) excluded
    assert parts["rest"] == {id(p) for p in net.parameters()} - hidden  # biases, norm gains
    no_kernels = groups(Split(net.parameters(), MUON, ADAMW, kernels=False))
    assert no_kernels["matrices"] == {id(net.linear.weight)}
    with_ends = groups(Split(net.parameters(), MUON, ADAMW, ends=True))
    assert with_ends["matrices"] == hidden | {id(net.project.weight), id(net.out.weight)}


def test_split_puts_a_spectrally_normalised_weight_where_its_layer_belongs() -> None:
    net = apply_spectral_norm(Generatorish())
    original = net.hidden.parametrizations.weight.original
    parts = groups(Split(net.parameters(), MUON, ADAMW))
    assert id(original) in parts["matrices"]
    assert id(net.hidden.bias) in parts["rest"]


def test_split_steps_both_parts_and_its_state_dict_restores_both() -> None:
    torch.manual_seed(0)
    net = Generatorish()
    optimizer = Split(net.parameters(), MUON, ADAMW)
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {
        id(p) for p in net.parameters()
    }
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    before = [p.detach().clone() for p in net.parameters()]
    optimizer.step()
    assert all(not torch.equal(a, p) for a, p in zip(before, net.parameters(), strict=True))
    copy = Generatorish()
    copy.load_state_dict(net.state_dict())
    restored = Split(copy.parameters(), MUON, ADAMW)
    restored.load_state_dict(copy_module.deepcopy(optimizer.state_dict()))  # as from a file
    for p, q in zip(net.parameters(), copy.parameters(), strict=True):
        g = torch.randn_like(p)
        p.grad, q.grad = g, g.clone()
    optimizer.step()
    restored.step()
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), copy.parameters(), strict=True))


# ---- training paths --------------------------------------------------------------------------
# AdEMAMix warms up over the run's length (${steps}): a schedule that both runs share
WARM_UP_LENGTH = {
    "ademamix": ["optimizer.generator.t_alpha_beta3=20", "optimizer.discriminator.t_alpha_beta3=20"]
}


@pytest.mark.parametrize(
    "setup",
    [
        *[[*RING, f"optimizer={name}", *WARM_UP_LENGTH.get(name, [])] for name in MODERN],
        [*DIGITS, "optimizer=muon"],
        [*DIGITS, "optimizer=schedulefree_adamw", "ema.decay=0.9", "ema.start=2"],
    ],
    ids=[*(f"ring-{name}" for name in MODERN), "digits-muon", "digits-schedulefree-ema"],
)
def test_a_resumed_run_equals_the_uninterrupted_one(make_cfg, setup: list[str]) -> None:
    common = [*FAST, *setup, "logger=none"]
    straight = make_cfg(*common, "steps=8", run="straight")
    first_half = make_cfg(*common, "steps=4", run="first_half")
    train(straight)
    train(first_half)
    ckpt = Path(first_half.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_cfg(*common, "steps=8", f"ckpt_path={ckpt}", run="resumed")
    assert train(resumed)["generator_steps"] == 8
    a, b = final_state(Path(straight.paths.output_dir)), final_state(Path(resumed.paths.output_dir))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class ModeProbe(L.Callback):
    """The Schedule-Free modes of both optimizers when evaluation scores and when a checkpoint
    is written, and at every training batch."""

    def __init__(self) -> None:
        self.at_evaluation: list[tuple[bool, bool]] = []
        self.at_training: set[tuple[bool, bool]] = set()

    @staticmethod
    def modes(pl_module: GAN) -> tuple[bool, bool]:
        return tuple(o.optimizer.param_groups[0]["train_mode"] for o in pl_module.optimizers())

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self.at_evaluation.append(self.modes(pl_module))

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: GAN, *_: Any) -> None:
        self.at_training.add(self.modes(pl_module))


def test_schedule_free_evaluates_and_saves_the_averaged_weights_and_trains_in_train_mode(
    make_cfg,
) -> None:
    cfg = make_cfg(*FAST, *DIGITS, "optimizer=schedulefree_adamw", "logger=none")
    probe = ModeProbe()
    metrics = train(cfg, extra_callbacks=[probe])
    assert metrics["status"] == "finished"
    assert probe.at_training == {(True, True)}
    assert probe.at_evaluation == [(False, False)] * 2  # steps 3 and 6: x, not y
    saved = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert [g["train_mode"] for s in saved["optimizer_states"] for g in s["param_groups"]] == [
        False,
        False,
    ]
    # The checkpoint holds x: moving its weights to y with the saved z gives another point.
    _, module = build(cfg)
    module.load_state_dict(saved["state_dict"])
    weight = module.generator.state_dict()
    key = next(k for k in weight if k.endswith("weight") and weight[k].dim() == 4)
    z = saved["optimizer_states"][0]["state"][0]["z"]
    y = torch.lerp(weight[key], z, 1 - 0.9) if z.shape == weight[key].shape else None
    assert y is not None and not torch.equal(y, weight[key])


@pytest.mark.parametrize("name", MODERN)
def test_16_mixed_with_a_grad_scaler_trains_every_new_optimizer(make_cfg, name: str) -> None:
    _, module = fit(make_cfg(*QUICK, *RING, f"optimizer={name}"), **fp16_cpu())
    assert module.generator_steps == 3
    weights = torch.cat([p.detach().flatten() for p in module.parameters()])
    assert torch.isfinite(weights).all()


@pytest.mark.parametrize("name", MODERN)
def test_every_new_optimizer_trains_a_dcgan_on_digits(make_cfg, name: str) -> None:
    metrics = train(make_cfg(*QUICK, *DIGITS, f"optimizer={name}", "callbacks=default"))
    assert metrics["status"] == "finished" and metrics["generator_steps"] == 3
    assert math.isfinite(metrics["eval/fcd"])


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_muon_trains_mlp_and_dcgan_and_gives_muon_their_hidden_layers(make_cfg, model: str):
    data = RING if model == "mlp" else DIGITS
    cfg = make_cfg(*FAST, *data, f"model={model}", "optimizer=muon", "logger=none")
    _, module = build(cfg)
    opt_g, _ = module.configure_optimizers()[0]
    muon = opt_g.parts["matrices"]
    shapes = [tuple(p.shape) for g in muon.param_groups for p in g["params"]]
    assert shapes and all(len(s) >= 2 for s in shapes)
    assert train(cfg)["status"] == "finished"


def test_a_missing_optional_package_is_exit_2_with_the_pip_command(tmp_path: Path) -> None:
    """schedulefree made unimportable in a child process: one paragraph naming the pip command,
    and no run directory."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'schedulefree':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Blocked())\n"
    )
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(block)}
    done = subprocess.run(
        [
            sys.executable,
            "scripts/train.py",
            "optimizer=schedulefree_adamw",
            f"hydra.run.dir={run}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_CONFIG_ERROR
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.stdout
    assert "pip install schedulefree" in last and "Traceback" not in done.stderr
    assert not run.exists()
