"""Short real trainings: every optimizer on both data kinds, outputs, logging, resume."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import FAST, TINY_DCGAN, TINY_MLP, options
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganopt.app.schema import CONFIGURATION, Role, role
from ganopt.app.settings import leaves
from ganopt.app.train import build, train
from ganopt.errors import ConfigError
from ganopt.metrics import ModeCoverage

RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP]
DIGITS = ["data=digits", "data.resolution=16", *TINY_DCGAN]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar point of the run's event files, in the order it was written (by wall time:
    a run can have two files, and their names need not sort in that order)."""
    points: dict[str, list[tuple[float, int, float]]] = {}
    for path in (run_dir / "tensorboard").glob("events.*"):
        events = EventAccumulator(str(path))
        events.Reload()
        for tag in events.Tags()["scalars"]:
            points.setdefault(tag, []).extend(
                (e.wall_time, e.step, e.value) for e in events.Scalars(tag)
            )
    return {tag: [(step, value) for _, step, value in sorted(p)] for tag, p in points.items()}


@pytest.mark.parametrize("optimizer", options("optimizer"))
@pytest.mark.parametrize("data", ["ring", "digits"])
def test_every_optimizer_trains_on_both_data_kinds(make_cfg, optimizer: str, data: str) -> None:
    cfg = make_cfg(*FAST, *(RING if data == "ring" else DIGITS), f"optimizer={optimizer}")
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6
    assert all(torch.isfinite(torch.tensor(metrics[k])) for k in ("loss/d", "loss/g"))
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["config"]["optimizer"] == optimizer
    if data == "ring":
        assert {"eval/modes", "eval/hq_fraction", "eval/reverse_kl"} <= saved.keys()
        assert 0 <= saved["eval/modes"] <= 8
    else:  # digit data: a classifier trained on the data judges the samples
        assert saved["eval/fcd"] > 0 and 0 <= saved["eval/class_entropy"] <= 2.31


def test_run_directory_holds_every_output(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, "logger=tensorboard")
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "step_0000003.png",
        "step_0000006.png",
    ]
    saved = json.loads((run / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    _, module = build(cfg)
    summary = saved["config"]
    assert list(summary)[:5] == ["optimizer", "data", "model", "loss", "update_scheme"]
    assert summary["optimizer"] == "adam" and summary["data"] == "gaussians_ring"
    assert summary["optimizer.generator"] == summary["optimizer.discriminator"] == "Adam"
    assert summary["optimizer.generator.betas"] == "(0.5, 0.999)"
    assert summary["model.generator.hidden"] == cfg.model.generator.hidden
    assert summary["trainer.precision"] == "32-true" and summary["steps"] == 6
    _, module = build(cfg)
    assert summary["params.generator"] == sum(p.numel() for p in module.generator.parameters())
    # Derived from the roles in ganopt.app.schema: every setting that tells runs apart, a built
    # class under its node's key, and nothing about where or how the run executes.
    telling = {
        key.removesuffix("._target_")
        for key, _ in leaves(cfg)
        if role(key) in CONFIGURATION and not key.endswith("._partial_")
    }
    assert telling <= summary.keys()
    assert not {key for key in summary if role(key) == Role.HOW}
    assert {"seed", "callbacks.evaluation.n_samples", "data.std"} <= telling
    assert not telling & {"threads", "paths.output_dir", "log_every_n_steps", "trainer.devices"}


def test_summary_records_each_networks_optimizer_regularizers_ema_and_scheduler(
    make_cfg,
) -> None:
    cfg = make_cfg(
        *FAST,
        *RING,
        "logger=tensorboard",
        "optimizer=lookahead",
        "network_optimizer@optimizer.discriminator.base=rmsprop",
        "regularizer=[r1]",
        "ema.decay=0.99",
        "scheduler=cosine",
    )
    train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["config"]
    assert next(iter(summary)) == "optimizer"
    assert summary["optimizer.generator"] == summary["optimizer.discriminator"] == "Lookahead"
    assert summary["optimizer.generator.base"] == "Adam"
    assert summary["optimizer.discriminator.base"] == "RMSprop"
    assert summary["optimizer.discriminator.base.momentum"] == 0.0
    assert {"optimizer.generator.k", "optimizer.generator.alpha"} <= summary.keys()
    assert summary["regularizer.r1"] == "R1Penalty" and summary["regularizer.r1.gamma"] == 10.0
    assert summary["ema.decay"] == 0.99
    assert summary["scheduler.generator"] == "CosineAnnealingLR"
    # The HParams tab: one event file, its session start info names the same settings.
    (events,) = (Path(cfg.paths.output_dir) / "tensorboard").glob("events.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    plugin = accumulator.PluginTagToContent("hparams")
    assert b"optimizer.discriminator.base" in plugin["_hparams_/session_start_info"]
    assert b"eval/modes" in plugin["_hparams_/experiment"]


def test_different_optimizer_types_per_network_are_named_as_a_pair(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, "network_optimizer@optimizer.discriminator=rmsprop")
    summary = train(cfg)["config"]
    assert summary["optimizer"] == "adam/rmsprop"
    assert (summary["optimizer.generator"], summary["optimizer.discriminator"]) == (
        "Adam",
        "RMSprop",
    )


def test_tensorboard_holds_the_documented_tags_at_generator_steps(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, "d_steps=2")
    train(cfg)
    assert len(list((Path(cfg.paths.output_dir) / "tensorboard").glob("events.*"))) == 1
    logged = scalars(Path(cfg.paths.output_dir))
    training = {
        "loss/d",
        "loss/g",
        "d/real",
        "d/fake",
        "grad_norm/d",
        "grad_norm/g",
        "lr/d",
        "lr/g",
        "perf/steps_per_sec",
    }
    evaluation = set(ModeCoverage.names)
    assert logged.keys() == training | evaluation
    # x axis = generator steps (6 steps, logged every 2), not Lightning's global_step (18 here);
    # each value once: nothing is re-sent between log steps or added at the end.
    for tag in training:
        assert [step for step, _ in logged[tag]] == [2, 4, 6], tag
    for tag in evaluation:
        assert [step for step, _ in logged[tag]] == [3, 6], tag


def test_lightning_model_checkpoint_keeps_the_best_evaluation(make_cfg) -> None:
    """The issue's command, as a Lightning user writes it: no other override needed."""
    cfg = make_cfg(
        *FAST,
        *RING,
        "steps=9",
        "+callbacks.best._target_=lightning.pytorch.callbacks.ModelCheckpoint",
        "+callbacks.best.monitor=eval/modes",
        "+callbacks.best.mode=max",
        "+callbacks.best.save_top_k=-1",
    )
    metrics = train(cfg)
    saved = sorted(Path(cfg.paths.output_dir).rglob("epoch=*.ckpt"))
    # One checkpoint per evaluation (steps 3, 6, 9), named by the generator step.
    assert [p.name for p in saved] == [f"epoch=0-step={s}.ckpt" for s in (3, 6, 9)]
    assert torch.load(saved[-1], weights_only=False)["ganopt"]["generator_steps"] == 9
    assert metrics["status"] == "finished"


def test_callbacks_best_keeps_one_checkpoint_at_the_best_step(make_cfg) -> None:
    scores = RecordEvaluations()
    cfg = make_cfg(
        *FAST,
        *RING,
        "steps=9",
        "callbacks=best",
        "callbacks.best.monitor=eval/reverse_kl",
        "callbacks.best.mode=min",
    )
    train(cfg, extra_callbacks=[scores])
    best = min(scores.values, key=lambda item: item[1])[0]
    (saved,) = (Path(cfg.paths.output_dir) / "checkpoints").glob("best-*.ckpt")
    assert saved.name == f"best-step={best}.ckpt"
    assert torch.load(saved, weights_only=False)["ganopt"]["generator_steps"] == best


def test_lightning_early_stopping_ends_the_run_and_says_so(make_cfg) -> None:
    cfg = make_cfg(
        *FAST,
        *RING,
        "steps=60",
        "+callbacks.stop._target_=lightning.pytorch.callbacks.EarlyStopping",
        "+callbacks.stop.monitor=eval/hq_fraction",
        "+callbacks.stop.mode=max",
        "+callbacks.stop.patience=0",
        "+callbacks.stop.min_delta=1.0",  # no evaluation improves by a whole fraction
    )
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6  # evaluations at 3 (the first best) and 6 (stop)
    assert metrics["status"] == "finished"
    assert metrics["reason"] == "stopped early by a callback at generator step 6"


class RecordEvaluations(L.Callback):
    """(generator step, eval/reverse_kl) at every evaluation, as monitors see it."""

    def __init__(self) -> None:
        self.values: list[tuple[int, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = float(trainer.callback_metrics["eval/reverse_kl"])
        self.values.append((pl_module.generator_steps, value))


class StepRecorder(L.Callback):
    """Snapshots both networks before every optimizer step, to see what each step changed."""

    def __init__(self) -> None:
        self.snapshots: list[tuple[str, list[torch.Tensor]]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        stepped = "g" if optimizer is pl_module.optimizers()[0].optimizer else "d"
        self.snapshots.append((stepped, [p.detach().clone() for p in pl_module.parameters()]))

    def on_train_end(self, trainer, pl_module) -> None:
        self.snapshots.append(("end", [p.detach().clone() for p in pl_module.parameters()]))


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_each_update_changes_only_the_stepped_network(make_cfg, update: str) -> None:
    cfg = make_cfg(*RING, f"update_scheme={update}", "steps=3")
    datamodule, module = build(cfg)
    recorder = StepRecorder()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        callbacks=[recorder],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=datamodule)
    is_g = [name.startswith("generator.") for name, _ in module.named_parameters()]
    steps = recorder.snapshots
    assert [name for name, _ in steps[:-1]] == ["d", "g"] * 3
    for (stepped, before), (_, after) in itertools.pairwise(steps):
        changed = [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]
        if update == "simultaneous" and stepped == "d":
            continue  # the G step follows before G's own snapshot; checked on the next pair
        owner = [g == (stepped == "g") for g in is_g]
        assert any(changed), f"the {stepped} step changed nothing"
        assert not any(c and not o for c, o in zip(changed, owner, strict=True)), (
            f"{stepped} step moved the other network"
        )


def test_extragradient_trains_with_simultaneous_updates(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, "optimizer=extra_adam", "update_scheme=simultaneous")
    assert train(cfg)["generator_steps"] == 6


def test_simultaneous_update_rejects_mismatched_optimizers(make_cfg) -> None:
    cfg = make_cfg(
        *FAST,
        *RING,
        "optimizer=adam",
        "network_optimizer@optimizer.generator=extra_adam",
        "update_scheme=simultaneous",
    )
    with pytest.raises(ConfigError, match="update_scheme=simultaneous needs both optimizers"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_csv_logger_run_writes_metrics(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, "logger=csv")
    train(cfg)
    assert (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").is_file()
    assert (Path(cfg.paths.output_dir) / "csv" / "hparams.yaml").is_file()


def test_progress_bar_counts_generator_steps_also_after_a_resume(make_cfg, capsys) -> None:
    """A run resumed mid-epoch gets no epoch-start hook: the bar must still show the steps."""
    with_bar = [o for o in FAST if "progress" not in o] + ["callbacks.progress.refresh_rate=1"]
    with_bar += ["callbacks.progress.lines=false"]  # the bar, though pytest's stdout is no terminal
    first = make_cfg(*with_bar, *RING, "steps=3", "logger=none", run="first")
    train(first)
    assert "3/3" in capsys.readouterr().out  # Lightning's bars write to stdout
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    train(make_cfg(*with_bar, *RING, "steps=6", "logger=none", f"ckpt_path={ckpt}", run="resumed"))
    bar = capsys.readouterr().out.rsplit("\r", 1)[-1]
    assert "6 generator steps" in bar and "6/6" in bar


@pytest.mark.parametrize("flush", [True, False])
def test_denormal_floats_are_computed_as_configured(make_cfg, flush: bool) -> None:
    """flush_denormal=true (the default) computes floats below 1.2e-38 as zero on the CPU, where
    they are ~5x slower; false keeps IEEE arithmetic."""
    if not torch.set_flush_denormal(not flush):  # the other mode first: train must switch
        pytest.skip("this CPU has no flush-to-zero mode")
    try:
        train(make_cfg(*FAST, *RING, "steps=1", f"flush_denormal={str(flush).lower()}"))
        tiny = torch.tensor([1e-39]) * 1.0
        assert (tiny.item() == 0.0) == flush
    finally:
        torch.set_flush_denormal(False)
