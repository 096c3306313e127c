"""Every option of every config group composes, and builds what it says."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from conftest import options
from hydra.utils import instantiate

from ganopt.app.train import build
from ganopt.regularizers import R1Penalty

GROUPS = [
    "data",
    "model",
    "optimizer",
    "loss",
    "regularizer",
    "update_scheme",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "debug",
    "experiment",
]


ALL = [(group, option) for group in GROUPS for option in options(group)]


@pytest.mark.parametrize(("group", "option"), ALL, ids=[f"{g}={o}" for g, o in ALL])
def test_every_option_composes_and_builds(make_cfg, group: str, option: str) -> None:
    needs_mlp = group == "data" and option.startswith("gaussians")
    cfg = make_cfg(f"{group}={option}", *(["model=mlp"] if needs_mlp else []))
    datamodule, module = build(cfg)
    generator = module.generator
    z = torch.randn(3, generator.latent_dim)
    assert generator(z).shape == (3, *datamodule.shape)
    assert module.discriminator(generator(z)).shape == (3,)
    if group != "trainer" or option != "gpu" or torch.cuda.is_available():
        assert isinstance(instantiate(cfg.trainer, logger=False), L.Trainer)


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_option_sets_both_networks(make_cfg, name: str) -> None:
    cfg = make_cfg(f"optimizer={name}")
    assert set(cfg.optimizer) >= {"generator", "discriminator"}
    _, module = build(cfg)
    opt_g, opt_d = module.configure_optimizers()[0]
    assert {id(p) for g in opt_g.param_groups for p in g["params"]} == {
        id(p) for p in module.generator.parameters()
    }
    assert {id(p) for g in opt_d.param_groups for p in g["params"]} == {
        id(p) for p in module.discriminator.parameters()
    }


def test_rmsprop_builds_torch_rmsprop_for_both_networks(make_cfg) -> None:
    _, module = build(make_cfg("optimizer=rmsprop"))
    opt_g, opt_d = module.configure_optimizers()[0]
    assert type(opt_g) is torch.optim.RMSprop and type(opt_d) is torch.optim.RMSprop


def test_per_network_learning_rates_reach_the_optimizers(make_cfg) -> None:
    cfg = make_cfg(
        "optimizer=adam", "optimizer.generator.lr=1e-4", "optimizer.discriminator.lr=4e-4"
    )
    opt_g, opt_d = build(cfg)[1].configure_optimizers()[0]
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(4e-4)
    assert opt_g.param_groups[0]["betas"] == (0.5, 0.999)


def test_different_optimizer_types_per_network(make_cfg) -> None:
    cfg = make_cfg("optimizer=adam", "network_optimizer@optimizer.discriminator=rmsprop")
    opt_g, opt_d = build(cfg)[1].configure_optimizers()[0]
    assert type(opt_g) is torch.optim.Adam and type(opt_d) is torch.optim.RMSprop


def test_dcgan_defaults_match_the_paper(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.optimizer.generator.lr == 2e-4 and list(cfg.optimizer.generator.betas) == [
        0.5,
        0.999,
    ]


def test_scheduler_configs_step_per_generator_step(make_cfg) -> None:
    _, module = build(make_cfg("scheduler=linear_decay", "steps=10"))
    optimizers, schedulers = module.configure_optimizers()
    assert len(schedulers) == 2
    for _ in range(10):
        for optimizer in optimizers:
            optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    assert optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)


def test_multirun_folder_names_stay_short_and_flat() -> None:
    from ganopt.app.config import safe_dirname

    assert safe_dirname("optimizer=adam,seed=1") == "optimizer=adam,seed=1"
    assert "/" not in safe_dirname("data.root=/data/faces,seed=1")
    assert len(safe_dirname("optimizer.generator.lr=0.0001," * 20)) == 120


def test_digits_quality_experiment_adds_lazy_r1_and_an_ema_generator(make_cfg) -> None:
    _, module = build(make_cfg("experiment=dcgan_digits_r1_ema"))
    (r1,) = module.regularizers.values()
    assert isinstance(r1, R1Penalty) and (r1.gamma, r1.every) == (1.0, 16)
    assert module.ema is not None and (module.ema.decay, module.ema.start) == (0.999, 1000)
