"""How much does ganopt's training path cost over a hand-written PyTorch loop doing the same work?

Two measurements of steady-state generator steps per second, interleaved in one process:

(a) ``full``: the real :func:`ganopt.app.train.train` on a config composed from ``conf/`` exactly as
    ``python scripts/train.py`` composes it (default callbacks, TensorBoard logger, progress bar),
    with one extra callback, :class:`StepTimer`, appended to read the clock;
(b) ``hand``: a minimal loop with the same networks, optimizers, losses, batch stream, seed,
    ``requires_grad`` toggling, device and precision, and nothing else. It runs as a script
    without Lightning and Hydra would: it calls the loss functions themselves (not Hydra's
    policy-checking partials) and without the NVML variable that importing Lightning sets.

Both are timed from the end of generator step ``warmup`` to the end of the last step, so setup,
the first (slow) steps and the end-of-training callbacks are outside the window. Rounds alternate
(a, b, a, b, ...) and the ratio (a)/(b) is taken within each round, so a machine whose load drifts
affects both sides of a ratio alike. ``python scripts/benchmark.py --help`` runs it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from ganopt.app.compose import compose_config
from ganopt.app.runtime import cpu_arithmetic
from ganopt.cuda_probe import without_nvml_probe
from ganopt.losses import plain_callable

if TYPE_CHECKING:
    from ganopt.module import GAN


# The data/model pairs; the optimizer is Adam for all (the default). ``overhead_mlp`` has 8-unit
# networks and batch 8: almost no arithmetic, so what it measures is the framework's per-step
# cost, which a GPU would turn into the step time.
CASES: dict[str, list[str]] = {
    "grid_mlp": ["data=gaussians_grid", "model=mlp", "optimizer=adam"],
    "digits_dcgan": ["data=digits", "model=dcgan", "optimizer=adam"],
    "overhead_mlp": [
        "data=gaussians_grid",
        "model=mlp",
        "optimizer=adam",
        "model.generator.hidden=8",
        "model.discriminator.hidden=8",
        "data.batch_size=8",
    ],
}
# Enough timed steps for a few seconds per run on a 2-core CPU, and fewer than the default
# checkpoint/sample/evaluation cadence (500), so the window holds only per-step work.
DEFAULT_STEPS = {"grid_mlp": 300, "digits_dcgan": 60, "overhead_mlp": 480}
DEFAULT_WARMUP = {"grid_mlp": 30, "digits_dcgan": 10, "overhead_mlp": 40}
TARGETS = {"grid_mlp": 0.97, "digits_dcgan": 0.98, "overhead_mlp": 0.80}  # CPU, issue 24
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")

_TIMERS: dict[int, StepTimer] = {}
_timer_ids = itertools.count()


# ---- configuration ---------------------------------------------------------------------------
def effective_precision(device: str, precision: str) -> str:
    """Lightning runs ``16-mixed`` on a CPU as ``bf16-mixed`` (fp16 autocast is GPU-only); the
    hand loop must do the same to do the same work."""
    return "bf16-mixed" if device == "cpu" and precision == "16-mixed" else precision


def case_overrides(case: str, steps: int, device: str, precision: str) -> list[str]:
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; choose one of {', '.join(CASES)}")
    return [
        *CASES[case],
        f"steps={steps}",
        f"trainer.accelerator={device}",
        f"trainer.precision={precision}",
    ]


def check_hand_loop_matches(cfg: DictConfig) -> None:
    """The hand loop implements one D then one G update, no extras: refuse configs it would not
    reproduce, rather than compare different work."""
    extras = {
        "update_scheme": cfg.update_scheme._target_ != "ganopt.updates.Alternating",
        "d_steps/g_steps": (cfg.d_steps, cfg.g_steps) != (1, 1),
        "regularizer": bool(cfg.get("regularizer")),
        "scheduler": any(v is not None for v in cfg.scheduler.values()),
        "clip_grad_norm": any(v is not None for v in cfg.clip_grad_norm.values()),
        "ema.decay": cfg.ema.decay is not None,
        "ckpt_path": cfg.ckpt_path is not None,
        "compile": bool(cfg.get("compile")),
        "channels_last": bool(cfg.get("channels_last")),
    }
    differing = [key for key, differs in extras.items() if differs]
    if differing:
        raise ValueError(
            f"the hand-written loop does not reproduce {', '.join(differing)}; benchmark the "
            "default alternating D/G update without them"
        )


# ---- (a) the full ganopt path ------------------------------------------------------------------
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(L.Callback):
    """Reads the clock at the end of generator step ``warmup`` and of the last step.

    Appended after the default callbacks, so its batch-end hook runs after theirs and the window
    holds every per-step cost of the default run. It synchronises the GPU at those two steps only.
    Hydra builds it from the config, so it registers itself under ``key`` for the caller.
    """

    def __init__(self, key: int, warmup: int) -> None:
        self.warmup = warmup
        self.start: tuple[int, float] | None = None
        self.end: tuple[int, float] | None = None
        self.loggers: list[Any] = []
        _TIMERS[key] = self

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self.loggers = list(trainer.loggers)  # to close them before the temp run dir goes

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_: Any) -> None:
        step = pl_module.generator_steps
        if step == self.warmup:
            _synchronize(pl_module.device)
            self.start = (step, time.perf_counter())
        elif step > self.warmup and trainer.should_stop:
            _synchronize(pl_module.device)
            self.end = (step, time.perf_counter())

    def rate(self) -> float:
        if self.start is None or self.end is None:
            raise RuntimeError("the run ended before the timed window (steps <= warmup?)")
        return (self.end[0] - self.start[0]) / (self.end[1] - self.start[1])


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Keep the progress bar, Lightning's start-up messages and warnings out of the report.

    The bar still formats and writes every refresh (to /dev/null), so its cost stays measured.
    """
    if not enabled:
        yield
        return
    names = ("lightning.pytorch", "lightning.fabric", "ganopt")
    levels = {name: logging.getLogger(name).level for name in names}
    with (
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


@dataclass
class RunResult:
    rate: float  # generator steps per second in the timed window
    losses: tuple[float, float]  # (D, G) losses of the last step: both paths must agree


def run_full(overrides: Sequence[str], warmup: int, verbose: bool = False) -> RunResult:
    """(a): ``ganopt.app.train.train`` on the composed config plus a StepTimer, in a temp dir."""
    from ganopt.app.train import train  # imported late: scripts/benchmark.py --help stays fast

    key = next(_timer_ids)
    with tempfile.TemporaryDirectory(prefix="ganopt-bench-") as tmp:
        cfg = compose_config(overrides, Path(tmp) / "run")
        with open_dict(cfg):
            cfg.callbacks["benchmark_timer"] = {
                "_target_": f"{__name__}.StepTimer",
                "key": key,
                "warmup": warmup,
            }
        try:
            with quiet(not verbose):
                metrics = train(cfg)
        finally:
            timer = _TIMERS.pop(key, None)  # None: train() failed before building callbacks
            # train() writes the hparams after fit, which reopens TensorBoard's writer and its
            # flushing thread; close it while the run dir still exists.
            for logger in timer.loggers if timer is not None else []:
                logger.finalize("success")
    assert timer is not None
    return RunResult(timer.rate(), (metrics["loss/d"], metrics["loss/g"]))


# ---- (b) the hand-written loop -------------------------------------------------------------------
def _set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for param in params:
        param.requires_grad_(flag)


@dataclass
class HandStep:
    """One generator step of the hand-written loop: its data, networks and the step itself."""

    datamodule: Any
    modules: torch.nn.ModuleList  # G and D, for the Lightning floor (c) to hold
    device: torch.device
    step: Any  # real batch -> (D loss, G loss)


def hand_step(cfg: DictConfig) -> HandStep:
    """The same work as one step of ``train(cfg)`` in plain PyTorch, without logging or callbacks.

    Seeded and built in the same order as :func:`ganopt.app.train.build` (data, G, D), so on a CPU
    it draws the same weights, noise and batches and ends with the same losses as (a).
    """
    check_hand_loop_matches(cfg)
    cpu_arithmetic(cfg)
    device = torch.device("cpu" if cfg.trainer.accelerator == "cpu" else "cuda")
    precision = effective_precision(device.type, str(cfg.trainer.precision))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    generator = instantiate(cfg.model.generator, shape=datamodule.shape).to(device)
    discriminator = instantiate(cfg.model.discriminator, shape=datamodule.shape).to(device)
    loss = instantiate(cfg.loss)  # e.g. ganopt.losses.nonsaturating_d / nonsaturating_g
    d_loss_fn, g_loss_fn = plain_callable(loss.discriminator), plain_callable(loss.generator)
    factories = instantiate(cfg.optimizer)
    opt_g = factories["generator"](generator.parameters())
    opt_d = factories["discriminator"](discriminator.parameters())
    g_params, d_params = list(generator.parameters()), list(discriminator.parameters())
    generator.train()
    discriminator.train()

    scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
    if precision == "32-true":
        autocast: AbstractContextManager = nullcontext()
    else:  # as Lightning's MixedPrecision plugin: autocast around the whole training step
        dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
        autocast = torch.autocast(device.type, dtype=dtype, cache_enabled=False)

    def backward_and_step(value: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if scaler is None:
            value.backward()
            optimizer.step()
        else:  # one scaler for both networks, updated after each step, as Lightning does
            scaler.scale(value).backward()
            scaler.step(optimizer)
            scaler.update()

    latent_dim = generator.latent_dim

    def step(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(real)
        with autocast:
            _set_requires_grad(g_params, False)  # D update: only D's parameters get gradients
            opt_d.zero_grad(set_to_none=True)
            with torch.no_grad():
                fake = generator(torch.randn(n, latent_dim, device=device))
            d_loss = d_loss_fn(discriminator(real), discriminator(fake))
            backward_and_step(d_loss, opt_d)
            _set_requires_grad(g_params, True)

            _set_requires_grad(d_params, False)  # G update: D's weights get no gradient
            opt_g.zero_grad(set_to_none=True)
            g_loss = g_loss_fn(discriminator(generator(torch.randn(n, latent_dim, device=device))))
            backward_and_step(g_loss, opt_g)
            _set_requires_grad(d_params, True)
        return d_loss, g_loss

    modules = torch.nn.ModuleList([generator, discriminator])
    return HandStep(datamodule, modules, device, step)


def run_hand(cfg: DictConfig, warmup: int) -> RunResult:
    """(b): the hand-written loop, batches straight from the datamodule's stream."""
    if cfg.steps <= warmup:
        raise RuntimeError("the run ended before the timed window (steps <= warmup?)")
    hand = hand_step(cfg)
    start = (0, 0.0)
    for index in range(cfg.steps):
        d_loss, g_loss = hand.step(hand.datamodule.make_batch(index).to(hand.device))
        if index + 1 == warmup:
            _synchronize(hand.device)
            start = (warmup, time.perf_counter())
    _synchronize(hand.device)
    rate = (cfg.steps - start[0]) / (time.perf_counter() - start[1])
    return RunResult(rate, (d_loss.item(), g_loss.item()))


class LightningFloor(L.LightningModule):
    """(c): the hand loop's step as the whole training step of a bare LightningModule (manual
    optimization, no callbacks, logger, checkpoints or progress bar): what Lightning's own loop
    costs per batch, which no LightningModule can avoid."""

    def __init__(self, hand: HandStep, steps: int, warmup: int) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.hand, self.nets, self.steps, self.warmup = hand, hand.modules, steps, warmup
        self.done, self.start = 0, 0.0
        self.losses = (torch.zeros(()), torch.zeros(()))

    def configure_optimizers(self) -> None:
        return None  # the hand loop's optimizers, stepped by hand

    def training_step(self, batch: Any) -> None:
        self.losses = self.hand.step(batch)
        self.done += 1
        if self.done == self.warmup:
            _synchronize(self.hand.device)
            self.start = time.perf_counter()
        if self.done >= self.steps:
            _synchronize(self.hand.device)
            self.trainer.should_stop = True


def run_floor(cfg: DictConfig, warmup: int) -> RunResult:
    hand = hand_step(cfg)
    module = LightningFloor(hand, cfg.steps, warmup)
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        precision="32-true",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        max_epochs=-1,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=hand.datamodule)
    rate = (module.done - warmup) / (time.perf_counter() - module.start)
    return RunResult(rate, (float(module.losses[0]), float(module.losses[1])))


def run_hand_from_overrides(overrides: Sequence[str], warmup: int) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="ganopt-bench-") as tmp:
        cfg = compose_config(overrides, Path(tmp) / "run")
        with without_nvml_probe():
            return run_hand(cfg, warmup)


def run_floor_from_overrides(overrides: Sequence[str], warmup: int) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="ganopt-bench-") as tmp, quiet():
        cfg = compose_config(overrides, Path(tmp) / "run")
        with without_nvml_probe():  # as ganopt's CPU runs (train.no_nvml_probes)
            return run_floor(cfg, warmup)


# ---- rounds and the report -----------------------------------------------------------------------
@dataclass
class CaseReport:
    case: str
    overrides: list[str]
    steps: int
    warmup: int
    batch_size: int
    full: list[float] = field(default_factory=list)  # (a) steps/s per round
    hand: list[float] = field(default_factory=list)  # (b) steps/s per round
    floor: list[float] = field(default_factory=list)  # (c) steps/s per round (32-true only)
    max_loss_difference: float = 0.0  # |(a) - (b)| and |(c) - (b)| of the last step's losses

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.full, self.hand, strict=True)]

    @property
    def overheads_us(self) -> list[float]:
        """Extra microseconds per generator step of (a) over (b): the overhead itself, which
        does not shrink or grow with the size of the networks as the ratio does."""
        return extra_us(self.full, self.hand)

    @property
    def ratio_summary(self) -> tuple[float, float, float]:
        """(min, median, max) of the per-round ratios."""
        ratios = self.ratios
        return min(ratios), statistics.median(ratios), max(ratios)


def benchmark_case(
    case: str,
    rounds: int = 5,
    steps: int | None = None,
    warmup: int | None = None,
    device: str = "cpu",
    precision: str = "32-true",
    threads: int | None = None,
    extra_overrides: Sequence[str] = (),
    verbose: bool = False,
) -> CaseReport:
    """Alternate (a) and (b) ``rounds`` times on one case; the rates and ratios per round."""
    steps = steps or DEFAULT_STEPS.get(case, 200)
    warmup = DEFAULT_WARMUP.get(case, 20) if warmup is None else warmup
    if not 0 < warmup < steps:
        raise ValueError(f"need 0 < warmup < steps, got warmup={warmup}, steps={steps}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if threads:
        torch.set_num_threads(threads)
    overrides = case_overrides(case, steps, device, precision)
    if threads:
        overrides.append(f"threads={threads}")
    overrides += list(extra_overrides)
    with tempfile.TemporaryDirectory(prefix="ganopt-bench-") as tmp:
        cfg = compose_config(overrides, Path(tmp) / "run")
        check_hand_loop_matches(cfg)
        batch_size = int(cfg.data.batch_size)
    report = CaseReport(case, overrides, steps, warmup, batch_size)
    for _ in range(rounds):
        full = run_full(overrides, warmup, verbose)
        hand = run_hand_from_overrides(overrides, warmup)
        report.full.append(full.rate)
        report.hand.append(hand.rate)
        runs = [full]
        if precision == "32-true":  # the floor runs Lightning's 32-bit loop only
            runs.append(run_floor_from_overrides(overrides, warmup))
            report.floor.append(runs[-1].rate)
        for run in runs:
            difference = max(abs(a - b) for a, b in zip(run.losses, hand.losses, strict=True))
            report.max_loss_difference = max(report.max_loss_difference, difference)
    return report


def extra_us(slower: list[float], faster: list[float]) -> list[float]:
    """Per round, the extra microseconds per step of rates ``slower`` over ``faster``."""
    return [1e6 * (1 / a - 1 / b) for a, b in zip(slower, faster, strict=True)]


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not on every platform
        return "n/a"


def machine_facts(device: str, precision: str) -> list[str]:
    if device == "cuda" and torch.cuda.is_available():
        where = f"cuda ({torch.cuda.get_device_name()})"
    else:
        where = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs)"
    effective = effective_precision(device, precision)
    shown = precision if effective == precision else f"{precision} (run as {effective})"
    return [
        f"python {platform.python_version()}, torch {torch.__version__}, lightning {L.__version__}",
        f"device {where}, torch threads {torch.get_num_threads()}, "
        f"interop threads {torch.get_num_interop_threads()}, precision {shown}",
    ]


def format_case(report: CaseReport, device: str) -> list[str]:
    timed = report.steps - report.warmup
    floor = report.floor or [math.nan] * len(report.full)
    lines = [
        f"case {report.case}: {' '.join(report.overrides)}",
        f"  batch {report.batch_size}, {report.steps} generator steps per run, warm-up "
        f"{report.warmup}, timed {timed} steps; steps/s:",
        f"  {'round':>5}  {'(a) ganopt':>10}  {'(b) hand':>10}  {'(c) floor':>10}  "
        f"{'(a)/(b)':>7}  {'(a)-(b) us/step':>15}",
    ]
    rows = zip(report.full, report.hand, floor, report.ratios, report.overheads_us, strict=True)
    for i, (a, b, c, ratio, extra) in enumerate(rows, 1):
        lines.append(f"  {i:>5}  {a:>10.2f}  {b:>10.2f}  {c:>10.2f}  {ratio:>7.3f}  {extra:>15.0f}")
    low, mid, high = report.ratio_summary
    lines.append(f"  ratio (a)/(b): min {low:.3f}  median {mid:.3f}  max {high:.3f}")
    extra = statistics.median(report.overheads_us)
    lines.append(f"  overhead of (a) per generator step: median {extra:.0f} us")
    if report.floor:
        lightning = statistics.median(extra_us(report.floor, report.hand))
        ganopt = statistics.median(extra_us(report.full, report.floor))
        lines.append(
            f"  of which Lightning's own loop (c)-(b): median {lightning:.0f} us; ganopt's "
            f"module, callbacks and logging (a)-(c): median {ganopt:.0f} us"
        )
    target = TARGETS.get(report.case)
    if target is not None:
        verdict = "met" if mid >= target else "NOT met"
        note = "" if device == "cpu" else " (the target is for CPU)"
        lines.append(f"  target median >= {target:.2f}: {verdict}{note}")
    same = "identical" if report.max_loss_difference == 0 else "differ"
    lines.append(
        f"  last-step losses of (a), (c) and (b): {same} "
        f"(max |difference| {report.max_loss_difference:.2e}; equal on CPU = same work)"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Steady-state generator steps/s of ganopt's full training path (a) against "
        "a hand-written PyTorch loop doing the same work (b), interleaved over rounds.",
    )
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, help="generator steps per run (default per case)")
    parser.add_argument("--warmup", type=int, help="untimed first steps (default per case)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="32-true")
    parser.add_argument("--threads", type=int, help="torch threads for both (default: torch's)")
    parser.add_argument("--verbose", action="store_true", help="show Lightning's output")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="extra Hydra overrides for both paths, e.g. model.generator.hidden=128 logger=none",
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = list(CASES) if args.case == "all" else [args.case]

    print(
        "ganopt benchmark: (a) ganopt.app.train.train vs (b) a hand-written loop, generator steps/s"
    )
    for line in machine_facts(args.device, args.precision):
        print(line)
    print(f"load average (1, 5, 15 min) at start: {load_average()}")
    print(
        "(b) calls ganopt.losses directly and runs without PYTORCH_NVML_BASED_CUDA_CHECK (set "
        "by importing Lightning), as a PyTorch script would"
    )
    busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1) - 0.5
    if busy and torch.get_num_threads() > 1:
        print(
            "note: the machine is busy; with several torch threads the timings swing widely "
            "(threads wait for each other): --threads 1 gives steadier ratios"
        )
    sys.stdout.flush()
    for case in cases:
        report = benchmark_case(
            case,
            rounds=args.rounds,
            steps=args.steps,
            warmup=args.warmup,
            device=args.device,
            precision=args.precision,
            threads=args.threads,
            extra_overrides=args.overrides,
            verbose=args.verbose,
        )
        print()
        print("\n".join(format_case(report, args.device)))
        print(f"  load average after this case: {load_average()}")
        sys.stdout.flush()
    return 0
