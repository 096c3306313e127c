"""DDP on CPU (2 processes, gloo): outputs from rank 0 only, identical networks on every rank,
averaged metrics, resume, and both update schemes.

Most tests start the ranks the way torchrun or SLURM does (processes created outside Lightning,
``LOCAL_RANK``/``WORLD_SIZE`` in the environment), forked from the test process so that nothing
is imported twice; each rank runs ``train(cfg)``, the function scripts/train.py runs. One test
goes through the command line, where Lightning re-runs scripts/train.py for rank 1.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import FAST, ROOT, TINY_DCGAN, TINY_MLP, compose_config
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.strategies import DDPStrategy
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from test_train import scalars

from ganopt.app.train import train
from ganopt.module import GAN

WORLD = 2
DDP_CPU = ["trainer=ddp_cpu", f"trainer.devices={WORLD}", "threads=1"]
RING = ["data=gaussians_ring", "model=mlp", *TINY_MLP]
DIGITS = ["data=digits", "data.resolution=16", *TINY_DCGAN]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))) if grads else 0


def _wrap(owner: Any, name: str, record: Callable[..., None]) -> None:
    """Make ``owner.name`` call ``record(*args, **kwargs)`` before doing its work."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def _rank_main(cfg: DictConfig, rank: int, port: int, out: Path) -> None:
    """One DDP rank: join the process group through the environment, as under torchrun or
    SLURM, train, and save a record of what happened (the patches live in this process only)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(WORLD),
        NODE_RANK="0",
        LOCAL_RANK=str(rank),
    )
    record: dict[str, Any] = {"writes": [], "reduced": [], "backward": []}

    def backward(module: GAN, loss: torch.Tensor, *_: Any, **__: Any) -> None:
        network = (
            "g" if not any(p.requires_grad for p in module.discriminator.parameters()) else "d"
        )
        record["backward"].append((network, float(loss.detach())))

    def after_backward(module: GAN) -> None:  # D's gradient after each backward
        record["backward"][-1] += (grad_norm(module.discriminator),)

    def reduce(_: DDPStrategy, value: Any, *__: Any, **___: Any) -> None:
        if isinstance(value, torch.Tensor) and value.dim() == 1:  # the logged scalars
            record["reduced"].append(value.tolist())  # before the in-place all-reduce

    def written(path: Any) -> None:
        record["writes"].append(str(path))

    def state(module: GAN) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    def start(module: GAN) -> None:  # after a checkpoint was restored
        record["start"] = state(module)

    def end(module: GAN) -> None:
        record["state"], record["generator_steps"] = state(module), module.generator_steps
        record["world_size"] = module.trainer.world_size
        record["global_rank"] = module.trainer.global_rank

    _wrap(GAN, "manual_backward", backward)
    _wrap(GAN, "on_after_backward", after_backward)
    _wrap(DDPStrategy, "reduce", reduce)
    _wrap(TorchCheckpointIO, "save_checkpoint", lambda _, __, path, **___: written(path))
    _wrap(Figure, "savefig", lambda _, path, **__: written(path))
    _wrap(GAN, "on_train_start", start)
    _wrap(GAN, "on_train_end", end)
    record["metrics"] = train(cfg)
    torch.save(record, out / f"rank{rank}.pt")


def run_ddp(cfg: DictConfig, timeout: float = 120) -> list[dict[str, Any]]:
    """Train ``cfg`` on WORLD forked CPU processes; return each rank's record."""
    out = Path(cfg.paths.output_dir).parent / f"ranks_{Path(cfg.paths.output_dir).name}"
    out.mkdir(parents=True, exist_ok=True)
    port, context = free_port(), mp.get_context("fork")
    ranks = [context.Process(target=_rank_main, args=(cfg, r, port, out)) for r in range(WORLD)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout)
    for process in ranks:  # a rank that failed leaves the other one waiting in a collective
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in ranks] == [0] * WORLD, "a rank failed: see the captured stderr"
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def assert_same_parameters(records: list[dict[str, Any]]) -> None:
    """Every rank holds the same weights. BatchNorm running statistics are left out: each rank
    updates its own from its own batch, and DDP copies rank 0's over them at every step."""
    zero, *others = records
    for other in others:
        assert zero["state"].keys() == other["state"].keys()
        for key, value in zero["state"].items():
            if "running_" not in key and "num_batches_tracked" not in key:
                assert torch.equal(value, other["state"][key]), key


def moved(record: dict[str, Any], prefix: str) -> bool:
    """Whether training changed some parameter whose name starts with ``prefix``."""
    start, end = record["start"], record["state"]
    return any(not torch.equal(start[k], end[k]) for k in start if k.startswith(prefix))


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """One 6-step DDP run on the ring with every callback, scalars logged at every step."""
    run = tmp_path_factory.mktemp("ddp") / "run"
    cfg = compose_config([*FAST, *RING, *DDP_CPU, "log_every_n_steps=1"], run)
    GlobalHydra.instance().clear()
    return run, run_ddp(cfg)


def test_ddp_rank_zero_alone_writes_the_outputs(ring_run) -> None:
    run, records = ring_run
    assert [(r["global_rank"], r["world_size"]) for r in records] == [(0, WORLD), (1, WORLD)]
    assert all(r["generator_steps"] == 6 for r in records)
    # Checkpoints (steps 3 and 6) and sample pictures (steps 3 and 6) come from rank 0 only.
    assert records[1]["writes"] == []
    assert sorted(Path(p).name for p in records[0]["writes"]) == [
        "last.ckpt.tmp",
        "last.ckpt.tmp",
        "step_0000003.png",
        "step_0000006.png",
    ]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not list(run.rglob("*.tmp"))
    assert len(list((run / "tensorboard").glob("events.*"))) == 1  # scalars and HParams
    assert json.loads((run / "metrics.json").read_text())["generator_steps"] == 6


def test_ddp_ranks_hold_identical_networks(ring_run) -> None:
    """Gradients are averaged over the ranks in every backward, so every step is the same."""
    _, records = ring_run
    assert_same_parameters(records)
    assert moved(records[0], "generator.") and moved(records[0], "discriminator.")


def test_ddp_logged_metrics_are_averaged_over_ranks(ring_run) -> None:
    run, records = ring_run
    local = torch.tensor([r["reduced"] for r in records])  # rank, step, scalar
    assert local.shape[:2] == (WORLD, 6)
    # The ranks train on different real batches: their discriminator losses differ ...
    assert (local[0, :, 0] != local[1, :, 0]).all()
    # ... and what is logged (by rank 0) and kept (by both) is their mean.
    mean = local.mean(0)
    logged = scalars(run)
    for column, tag in enumerate(("loss/d", "loss/g")):
        by_step = dict(logged[tag])  # generator step -> value
        assert [by_step[s] for s in range(1, 7)] == pytest.approx(mean[:, column].tolist())
    for record in records:
        assert record["metrics"]["loss/d"] == pytest.approx(float(mean[-1, 0]))


def test_ddp_ranks_draw_their_own_latent_codes(ring_run) -> None:
    """Each rank's generator loss is computed on its own codes: with shared codes (and the same
    networks) every rank would compute the same G loss, and the G batch would not grow with
    the number of devices."""
    _, records = ring_run
    g_losses = [[loss for net, loss, _ in r["backward"] if net == "g"] for r in records]
    assert all(a != b for a, b in zip(*g_losses, strict=True))


def test_ddp_simultaneous_update_moves_the_discriminator(make_cfg) -> None:
    cfg = make_cfg(*FAST, *RING, *DDP_CPU, "update_scheme=simultaneous", "~callbacks.evaluation")
    records = run_ddp(cfg)
    assert_same_parameters(records)
    for record in records:
        # D's gradient, computed first, survives G's backward: DDP (find_unused_parameters)
        # leaves the gradients of parameters that no rank used in a backward untouched.
        backward = record["backward"]
        assert [net for net, _, _ in backward] == ["d", "g"] * 6
        for (_, _, after_d), (_, _, after_g) in zip(backward[::2], backward[1::2], strict=True):
            assert after_d > 0
            assert after_g == after_d
        assert moved(record, "discriminator.") and moved(record, "generator.")


def test_ddp_resume_continues_from_the_checkpoint(make_cfg) -> None:
    """A DCGAN (BatchNorm) on digits: a 3-step DDP run resumed to 6 steps in DDP."""
    common = [*FAST, *DIGITS, *DDP_CPU, "~callbacks.evaluation", "~callbacks.samples"]
    first = make_cfg(*common, "steps=3", run="first")
    run_ddp(first)
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=False)
    assert saved["ganopt"]["generator_steps"] == 3
    resumed = run_ddp(make_cfg(*common, "steps=6", f"ckpt_path={ckpt}", run="resumed"))
    for record in resumed:  # both ranks start from the checkpoint and finish the 6 steps
        assert all(torch.equal(record["start"][k], v) for k, v in saved["state_dict"].items())
        assert record["generator_steps"] == 6
        assert moved(record, "generator.")
    assert_same_parameters(resumed)


@pytest.mark.slow
def test_ddp_from_the_command_line_shares_one_run_directory(tmp_path: Path) -> None:
    """scripts/train.py trainer=ddp_cpu: Lightning starts rank 1 by re-running the script with
    the same overrides plus hydra.run.dir=<rank 0's run dir>."""
    overrides = [*FAST[1:], *RING, *DDP_CPU, f"paths.log_dir={tmp_path}"]
    result = subprocess.run(
        [sys.executable, "scripts/train.py", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (p.parent for p in tmp_path.rglob("metrics.json"))
    assert json.loads((run / "metrics.json").read_text())["generator_steps"] == 6
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_0000003.png",
        "step_0000006.png",
    ]
    assert (run / "train_ddp_process_1.log").is_file()  # rank 1 ran in the same directory
    assert "Starting with 2 processes" in result.stdout + result.stderr


# ---- SLURM: hydra/launcher=slurm sends the same runs to a cluster -----------------------------
def launcher_config(*overrides: str, app: str = "train") -> dict[str, Any]:
    """hydra.launcher as composed for ``overrides``, with the trainer-derived fields resolved."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(app, overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    return {key: launcher[key] for key in launcher if key != "submitit_folder"}


def test_slurm_launcher_requests_what_the_trainer_config_uses() -> None:
    single = launcher_config()
    assert single["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert (single["nodes"], single["tasks_per_node"], single["gpus_per_node"]) == (1, 1, 1)
    assert single["timeout_min"] > 0 and single["name"] == "train"
    ddp = launcher_config("trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2")
    assert (ddp["nodes"], ddp["tasks_per_node"], ddp["gpus_per_node"]) == (2, 4, 4)


def test_a_study_as_slurm_jobs_asks_for_a_core_per_worker_and_no_gpu() -> None:
    study = launcher_config("study=grid", "workers=16", "+job=0", app="study")
    assert (study["nodes"], study["tasks_per_node"], study["gpus_per_node"]) == (1, 1, 0)
    assert study["cpus_per_task"] == 16 and study["name"] == "study"


def test_slurm_launcher_composes_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/train.py", "hydra/launcher=slurm", "--cfg", "hydra"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    launcher = OmegaConf.create(result.stdout).hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert {"timeout_min", "nodes", "tasks_per_node", "gpus_per_node", "partition"} <= set(launcher)


@pytest.mark.parametrize(
    ("data", "generator", "discriminator"),
    [
        (DIGITS, "muon", "schedulefree_adamw"),
        (RING, "prodigy", "lion"),
        (RING, "soap", "ademamix"),
        (RING, "adafactor", "muon"),
    ],
    ids=[
        "digits-muon-schedulefree",
        "ring-prodigy-lion",
        "ring-soap-ademamix",
        "ring-adafactor-muon",
    ],
)
def test_ddp_trains_the_modern_optimizers_in_step(
    make_cfg, data: list[str], generator: str, discriminator: str
) -> None:
    """Every rank ends with the same networks (gradients synchronised; each optimizer's own
    statistics, e.g. Prodigy's d or SOAP's eigenbases, computed alike on every rank)."""
    cfg = make_cfg(
        *FAST,
        *data,
        *DDP_CPU,
        f"optimizer={generator}",
        f"network_optimizer@optimizer.discriminator={discriminator}",
        "~callbacks.samples",
    )
    records = run_ddp(cfg)
    assert_same_parameters(records)
    for record in records:
        assert record["generator_steps"] == 6
        assert moved(record, "generator.") and moved(record, "discriminator.")
