"""An equal-budget optimizer study (Lucic et al. 2018's protocol), driven by Optuna.

Phase 1 searches each optimizer's hyperparameters with the same number of trials and the same
sampler policy (a seeded TPE sampler per optimizer, median pruning on the intermediate
``eval/*`` values); phase 2 re-runs each optimizer's best phase-1 configuration on fresh seeds,
and only phase 2 ranks the optimizers (the *tuned* ruleset). Phase ``untuned`` runs each preset
exactly as shipped on the same seeds, with no search (the *untuned* ruleset, DeepOBS's and
AlgoPerf's self-tuning baseline).

Every trial is a slot: (optimizer, index) in phase 1, (optimizer, seed) in phases 2 and
untuned. Trials are persisted in an Optuna journal file that several processes (or SLURM jobs)
share; a worker
takes the next slot no trial holds, and a slot held by two trials counts its lower-numbered
one only, so a killed and restarted study redoes nothing that finished and no optimizer gets
more trials than another. A run that diverges is a failed trial with its reason; a
configuration error stops the study at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.storages.journal import JournalFileBackend

from ganopt.app.compose import app_searchpath, compose_config, group_options, searchpath_override
from ganopt.app.config import plain
from ganopt.app.train import gradient_evaluations_per_step, train, user_errors
from ganopt.errors import ConfigError, RunInterrupted, RunStopped
from ganopt.study.workers import Workers

if TYPE_CHECKING:
    from ganopt.module import GAN

log = logging.getLogger(__name__)

PHASES = (1, 2, "untuned")
SEARCH_SEED = 0  # phase 1 trains every configuration with this seed; phase 2 uses 1..S
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass(frozen=True)
class Slot:
    phase: int | str  # 1, 2 or "untuned"
    optimizer: str
    index: int  # phase 1: the trial's index; phases 2 and untuned: the seed

    @property
    def study_name(self) -> str:
        return study_name(self.optimizer, self.phase)


def study_name(optimizer: str, phase: int | str) -> str:
    """The Optuna study of one optimizer and phase: adam/phase1, adam/phase2, adam/untuned."""
    return f"{optimizer}/{phase}" if phase == "untuned" else f"{optimizer}/phase{phase}"


def storage(where: str | Path) -> optuna.storages.BaseStorage:
    """A journal file (committed with the study), or any Optuna storage URL (``sqlite:///…``,
    ``postgresql://…``) for clusters without a shared file system."""
    if "://" in str(where):
        return optuna.storages.RDBStorage(str(where))
    path = Path(where)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def trial_score(trial: optuna.trial.FrozenTrial) -> float:
    """A completed trial's objective value (Optuna types it optional: unset until it ends)."""
    assert trial.value is not None, f"trial {trial.number} has no value"
    return trial.value


def load_study(
    cfg: DictConfig, name: str, store: optuna.storages.BaseStorage, slot: int = 0
) -> optuna.Study:
    """The study of one optimizer and phase. Each worker builds its own sampler, so TPE's seed
    is the slot's: the same policy for every optimizer, a different draw per trial, and the same
    draws when the study is run again; quasi-random search (``study.sampler=qmc``, AlgoPerf's
    baselines) takes the next point of the optimizer's one scrambled Sobol sequence. An existing
    study is loaded, not created again: Optuna's ``create_study(load_if_exists=True)`` appends a
    creation record to the journal on every call, so rerunning a finished study would change its
    committed file."""
    optimizer = name.split("/")[0]
    seed = 1000 * sorted(cfg.study.optimizers).index(optimizer)
    sampler: optuna.samplers.BaseSampler
    if cfg.study.get("sampler", "tpe") == "qmc":  # one scrambled sequence per optimizer
        with warnings.catch_warnings():  # experimental in Optuna, and chosen on purpose here
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(
            seed=seed + slot, n_startup_trials=cfg.study.startup_trials
        )
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if cfg.study.pruning.enabled:
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=cfg.study.pruning.startup_trials,
            n_warmup_steps=cfg.study.pruning.warmup_steps,
        )
    try:
        return optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)
    except KeyError:  # not there yet; a worker creating it at the same moment is fine
        return optuna.create_study(
            study_name=name,
            storage=store,
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )


def holders(study: optuna.Study) -> dict[int, optuna.trial.FrozenTrial]:
    """Each slot's trial: the lowest-numbered one that finished or still runs; trials abandoned
    by a dead worker, stopped by a signal or failed without a result (a reason) hold nothing.
    A run that finished before time to target was recorded gives way to a later one of its slot
    (the same configuration and seed, run again for its time: see ``untimed``)."""
    chosen: dict[int, optuna.trial.FrozenTrial] = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        slot = trial.user_attrs.get("slot")
        reason = str(trial.user_attrs.get("reason", ""))
        failed_without_result = trial.state == optuna.trial.TrialState.FAIL and not reason
        stopped = reason.startswith("interrupted") or failed_without_result
        if slot is None or trial.user_attrs.get("abandoned") or stopped:
            continue
        if slot not in chosen or (untimed(chosen[slot]) and not untimed(trial)):
            chosen[slot] = trial
    return chosen


def held_trials(
    store: optuna.storages.BaseStorage, name: str
) -> dict[int, optuna.trial.FrozenTrial]:
    """``holders`` of a study, read only: reports must not change a committed journal, so a
    study never started has no trials rather than being created."""
    try:
        return holders(optuna.load_study(study_name=name, storage=store))
    except KeyError:
        return {}


def results(
    store: optuna.storages.BaseStorage, study: DictConfig, optimizer: str, phase: int | str
) -> list[optuna.trial.FrozenTrial]:
    """An optimizer's held trials of one phase within the slots the study config runs now (a
    study cut from 5 seeds to 3 reports seeds 1..3), by slot; none where it does not run that
    phase (an ``untuned_only`` optimizer has no search)."""
    if optimizer not in optimizers(study, phase):
        return []
    held = held_trials(store, study_name(optimizer, phase))
    return [held[i] for i in slot_indices(study, phase) if i in held]


def optimizers(study: DictConfig, phase: int | str) -> list[str]:
    """The optimizers a phase runs: all of them untuned; the tuned ruleset (phases 1 and 2)
    leaves out those the study runs untuned only (a budget cut its config states)."""
    if phase == "untuned":
        return list(study.optimizers)
    return [o for o in study.optimizers if o not in (study.get("untuned_only") or [])]


def slot_indices(study: DictConfig, phase: int | str) -> range:
    """Phase 1: trial indices 0..trials-1; phases 2 and untuned: seeds 1..seeds."""
    return range(study.trials) if phase == 1 else range(1, study.seeds + 1)


def untimed(trial: optuna.trial.FrozenTrial) -> bool:
    """A finished run from before 2026-12-06, whose metrics lack the time to target: its final
    quality stands, but the leaderboard needs its time, so phase 2 runs its slot again."""
    metrics = trial.user_attrs.get("metrics")
    return metrics is not None and "target_step" not in metrics


def needs_run(slot: Slot, held: dict[int, optuna.trial.FrozenTrial]) -> bool:
    """No trial holds the slot, or (phases 2 and untuned, which the leaderboard times) only an
    untimed one does."""
    if slot.index not in held:
        return True
    return slot.phase != 1 and untimed(held[slot.index])


# ---- the search space ---------------------------------------------------------------------------
def preset(cfg: DictConfig, optimizer: str) -> DictConfig:
    """A run's config before the search changes it: the study's base with this optimizer."""
    return compose_config([*cfg.study.base, f"optimizer={optimizer}"], Path(cfg.runs_dir))


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: an Optuna parameter and the config keys it sets (one value
    for all of them, e.g. beta1 for both networks), as an optimizer's ``search`` declares it."""

    name: str
    at: tuple[str, ...]  # keys under ``optimizer``; ``betas.0`` is an element of a list
    low: float | None = None
    high: float | None = None
    log: bool = False
    int: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def allows(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} {list(self.choices)}"
        return f"{self.name} [{self.low:g}, {self.high:g}]"


def search_space(cfg: DictConfig, optimizer: str, base: DictConfig | None = None) -> list[Param]:
    """The optimizer's declared space (``optimizer.search`` in conf/optimizer/<name>.yaml), with
    this study's changes (``study.space.<name>``: a range, or choices, for every optimizer that
    declares the parameter, or only those in its ``optimizers`` list)."""
    base = preset(cfg, optimizer) if base is None else base
    declared = base.optimizer.get("search")
    if not declared:
        raise ConfigError(
            f"study.optimizers names {optimizer}, whose conf/optimizer/{optimizer}.yaml declares "
            "no search space: add an optimizer.search block (each parameter's keys, range and "
            "scale, as in conf/optimizer/adam.yaml)."
        )
    space = {str(name): plain(spec) for name, spec in declared.items()}
    changes = cfg.study.get("space")
    for name, change in (plain(changes) if changes else {}).items():
        change = dict(change)
        only = change.pop("optimizers", None)
        if name in space and (only is None or optimizer in only):
            space[name].update(change)
    params = []
    for name, spec in space.items():
        at = spec.pop("at")
        choices = spec.pop("choices", None)
        params.append(
            Param(
                name,
                tuple([at] if isinstance(at, str) else at),
                choices=tuple(choices) if choices is not None else None,
                **spec,
            )
        )
    return params


def search_overrides(cfg: DictConfig, optimizer: str, trial: optuna.Trial) -> list[str]:
    """Sample this trial's settings from the optimizer's search space, as overrides."""
    base = preset(cfg, optimizer)
    return [
        override(base, f"optimizer.{key}", value)
        for param in search_space(cfg, optimizer, base)
        for value in [param.suggest(trial)]
        for key in param.at
    ]


def override(base: DictConfig, key: str, value: Any) -> str:
    """``key=value`` on the command line; an element of a list (``betas.0``) sets the list."""
    parent, _, last = key.rpartition(".")
    if last.isdigit():
        values = list(preset_value(base, parent))
        values[int(last)] = value
        return f"{parent}=[{','.join(_text(v) for v in values)}]"
    return f"{key}={_text(value)}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def preset_value(base: DictConfig, key: str) -> Any:
    value = OmegaConf.select(base, key, default=_ABSENT)
    if value is _ABSENT:
        raise ConfigError(
            f"the search space of this optimizer sets {key}, which its preset does not have: "
            "fix the 'at' keys of optimizer.search in its conf/optimizer file."
        )
    return value


_ABSENT = object()


def presets_out_of_reach(cfg: DictConfig) -> list[str]:
    """The presets' own values that their search spaces leave out: a space that cannot sample
    an optimizer's own setting handicaps it (Adagrad's lr 1e-2 under [3e-5, 3e-3])."""
    missed = []
    for optimizer in cfg.study.optimizers:
        base = preset(cfg, optimizer)
        for param in search_space(cfg, optimizer, base):
            for key in param.at:
                value = preset_value(base, f"optimizer.{key}")
                if not param.allows(value):
                    missed.append(
                        f"{optimizer} optimizer.{key}={_text(value)} ({param.describe()})"
                    )
    return missed


def check_study(cfg: DictConfig) -> None:
    """The study's settings before anything is written: each value against its declaration
    (``ganopt.app.schema``), the optimizers as presets, each ``study.space`` range low below high,
    the phases, and a storage that can be read."""
    from hydra.errors import HydraException

    from ganopt.app.cli import nearest
    from ganopt.app.config import validate
    from ganopt.app.schema import STUDY
    from ganopt.app.settings import check
    from ganopt.errors import one_line
    from ganopt.targets import check_target

    check(cfg, STUDY)
    presets = group_options("optimizer", [o for o in cfg.study.base if o.startswith("hydra.")])
    for name in cfg.study.optimizers:
        if name not in presets:
            raise ConfigError(
                f"study.optimizers names {name}, which is no optimizer preset"
                f"{nearest(name, presets)}; the presets (conf/optimizer and the search path) "
                f"are {', '.join(presets)}."
            )
    for name, change in (cfg.study.get("space") or {}).items():
        low, high = change.get("low"), change.get("high")
        if low is not None and high is not None and not low < high:
            raise ConfigError(
                f"study.space.{name}={{low: {low}, high: {high}}} is not allowed: a range's low "
                "end must be below its high end."
            )
    if unknown := [phase for phase in cfg.phases if phase not in PHASES]:
        raise ConfigError(
            f"phases={list(cfg.phases)} names {', '.join(map(str, unknown))}: allowed are 1 (the "
            "search), 2 (its best on fresh seeds) and untuned (the presets on those seeds), or "
            "[] to only write the report."
        )
    if stray := [o for o in cfg.study.get("untuned_only") or [] if o not in cfg.study.optimizers]:
        raise ConfigError(
            f"study.untuned_only names {', '.join(stray)}, which study.optimizers does not list "
            f"({', '.join(cfg.study.optimizers)}): it only takes some of them out of the tuned "
            "ruleset."
        )
    check_target(cfg.study.target or {}, "study.target")
    if cfg.phases:  # each optimizer's runs compose and pass train.py's checks
        for name in cfg.study.optimizers:
            try:
                validate(preset(cfg, name))
            except ConfigError as error:
                raise ConfigError(f"study.base with optimizer={name}: {error}") from None
            except HydraException as error:
                raise ConfigError(
                    f"study.base with optimizer={name} does not compose: {one_line(error)}"
                ) from None
    where = str(cfg.storage)
    if "://" in where or Path(where).exists():
        try:
            optuna.get_all_study_names(storage(where))
        except Exception as error:
            raise ConfigError(
                f"storage={where} cannot be read ({type(error).__name__}: {error}): it is not an "
                "Optuna journal or database, or it was damaged. Restore it (a committed journal: "
                f"git checkout -- {where}) or give another file with storage=<path>."
            ) from None


def check_space(cfg: DictConfig) -> None:
    """A ``study.space`` entry that no optimizer of the study declares is a typo (the sampler
    and every other value are checked against their declarations by ``check_study``)."""
    declared = {
        name
        for optimizer in cfg.study.optimizers
        for name in (preset(cfg, optimizer).optimizer.get("search") or {})
    }
    if unknown := sorted(set(cfg.study.get("space") or {}) - declared):
        raise ConfigError(
            f"study.space changes {', '.join(unknown)}, which none of this study's optimizers "
            f"searches; they search {', '.join(sorted(declared))} (optimizer.search in "
            "conf/optimizer/<name>.yaml)."
        )


# ---- one trial ----------------------------------------------------------------------------------
class Pruning(L.Callback):
    """After each evaluation (Lightning's validation loop), reports the study's objective from
    ``trainer.callback_metrics`` at the generator step and raises TrialPruned when the pruner
    says so. Optuna's PyTorchLightningPruningCallback reports at ``current_epoch``, which is 0
    for the whole of ganopt's single endless epoch."""

    def __init__(self, trial: optuna.Trial, objective: dict[str, float]) -> None:
        self.trial, self.objective = trial, objective

    def on_validation_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        if trainer.should_stop:
            return  # the final evaluation is the trial's value, not an intermediate one
        step = pl_module.generator_steps
        # score() names a weighted metric the runs do not report: at the first evaluation, not
        # after a whole trial.
        self.trial.report(score(trainer.callback_metrics, self.objective), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at generator step {step}")


def score(metrics: Any, objective: dict[str, float]) -> float:
    """The objective, higher is better: a weighted sum of final metrics (e.g. -1 x KL)."""
    if missing := [key for key in objective if key not in metrics]:
        reported = sorted(key for key in metrics if key.startswith("eval/"))
        raise ConfigError(
            f"study.objective weights {', '.join(missing)}, which this study's runs do not "
            f"report; they report {', '.join(reported) or 'no eval/ metric'}. Weight those "
            "(e.g. study.objective={eval/fcd: -1.0}) or give the runs that metric."
        )
    return float(sum(weight * float(metrics[key]) for key, weight in objective.items()))


def run_slot(cfg: DictConfig, slot: Slot) -> str:
    """Run one slot unless a trial already holds it; returns what happened, in words."""
    store = storage(cfg.storage)
    study = load_study(cfg, slot.study_name, store, slot.index)
    if not needs_run(slot, holders(study)):
        return "done before"
    trial = study.ask()
    trial.set_user_attr("slot", slot.index)
    for key, value in (
        ("host", socket.gethostname()),
        ("pid", os.getpid()),
        ("started", time.time()),
    ):
        trial.set_user_attr(key, value)
    if holders(study)[slot.index].number != trial.number:  # another worker took it first
        trial.set_user_attr("abandoned", True)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "taken by another worker"
    objective = plain(cfg.study.objective)
    if slot.phase == 1:
        settings, seed = search_overrides(cfg, slot.optimizer, trial), SEARCH_SEED
    elif slot.phase == "untuned":
        settings, seed = [], slot.index
    else:
        best = best_trial(cfg, slot.optimizer, store)
        if best is None:  # not a result: the slot stays free for when phase 1 has one
            trial.set_user_attr("abandoned", True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return "skipped: no phase-1 trial finished"
        settings, seed = list(best.user_attrs["settings"]), slot.index
    trial.set_user_attr("settings", settings)
    # One directory per trial: a slot rerun after an interrupted trial starts afresh.
    run_name = f"{slot.study_name.split('/')[1]}_{slot.index:03d}_trial{trial.number:03d}"
    out = Path(cfg.runs_dir) / slot.optimizer / run_name
    overrides = [
        *cfg.study.base,
        f"optimizer={slot.optimizer}",
        *settings,
        f"seed={seed}",
        "threads=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    run_cfg = compose_config(overrides, out)
    with open_dict(run_cfg):
        run_cfg.target = cfg.study.target  # time to target: its first evaluation meeting it
    with user_errors():
        per_step = gradient_evaluations_per_step(run_cfg, instantiate(run_cfg.optimizer))
    pruning = [Pruning(trial, objective)] if slot.phase == 1 else []
    started = time.perf_counter()
    try:
        metrics = train(run_cfg, extra_callbacks=pruning)
    except optuna.TrialPruned as pruned:
        step = int(str(pruned).rsplit(" ", 1)[-1])
        trial.set_user_attr("gradient_evaluations", step * per_step)
        trial.set_user_attr("wall_time_s", time.perf_counter() - started)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return f"pruned at step {step}"
    except RunStopped as stopped:
        trial.set_user_attr("reason", f"{stopped.status}: {stopped}")
        trial.set_user_attr("gradient_evaluations", stopped.step * per_step)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if isinstance(stopped, RunInterrupted):
            return (
                f"interrupted ({stopped.signal_name} at step {stopped.step}): the slot runs again"
            )
        return f"failed ({stopped.status})"
    except ConfigError:
        trial.set_user_attr("abandoned", True)  # not a result: the slot stays free
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    value = score(metrics, objective)
    results = {k: v for k, v in metrics.items() if k.startswith(("eval/", "target_"))}
    trial.set_user_attr("metrics", results)
    trial.set_user_attr("gradient_evaluations", metrics["generator_steps"] * per_step)
    trial.set_user_attr("wall_time_s", time.perf_counter() - started)
    study.tell(trial, value)
    return f"score {value:.4g}"


def best_trial(
    cfg: DictConfig, optimizer: str, store: optuna.storages.BaseStorage
) -> optuna.trial.FrozenTrial | None:
    """The best finished phase-1 trial; None when every one diverged or was pruned."""
    study = load_study(cfg, f"{optimizer}/phase1", store)
    finished = [t for t in holders(study).values() if t.state == optuna.trial.TrialState.COMPLETE]
    return max(finished, key=trial_score) if finished else None


# ---- the whole study -------------------------------------------------------------------------
def unheld(cfg: DictConfig, todo: list[Slot]) -> list[Slot]:
    """The slots no trial holds yet (a worker checks again: another process may take one)."""
    store = storage(cfg.storage)
    names = {slot.study_name for slot in todo}
    held = {name: holders(load_study(cfg, name, store)) for name in names}
    return [slot for slot in todo if needs_run(slot, held[slot.study_name])]


def slots(cfg: DictConfig, phase: int | str) -> list[Slot]:
    """Round-robin over optimizers, so all of them advance together."""
    return [
        Slot(phase, optimizer, index)
        for index in slot_indices(cfg.study, phase)
        for optimizer in optimizers(cfg.study, phase)
    ]


def quiet() -> None:
    """Workers print one line per trial, not Lightning's and Optuna's banners."""
    import warnings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def _work(args: tuple[dict[str, Any], Slot]) -> tuple[Slot, str]:
    quiet()
    return args[1], run_slot(OmegaConf.create(args[0]), args[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(trial: optuna.trial.FrozenTrial, stale_after_s: float) -> bool:
    """A RUNNING trial nobody runs any more: its worker's process on this host is gone, or
    (another host: a SLURM job) it started longer ago than any trial takes."""
    attrs = trial.user_attrs
    if attrs.get("host") == socket.gethostname() and "pid" in attrs:
        return not _alive(attrs["pid"])
    return time.time() - attrs.get("started", 0.0) > stale_after_s


def abandon_stale(cfg: DictConfig) -> int:
    """Trials left RUNNING by a killed study: marked failed (abandoned) so their slots rerun."""
    store, count = storage(cfg.storage), 0
    for summary in optuna.get_all_study_summaries(store):
        study = optuna.load_study(study_name=summary.study_name, storage=store)
        for trial in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
            if is_stale(trial, cfg.study.stale_after_s):
                store.set_trial_user_attr(trial._trial_id, "abandoned", True)
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                count += 1
    return count


def run_study(cfg: DictConfig) -> None:
    """The phases in ``cfg.phases`` (1, 2, untuned; [] only reports), ``cfg.workers``
    processes at a time; resumes from the storage."""
    quiet()
    extra = [o for o in searchpath_override(app_searchpath()) if o not in cfg.study.base]
    with open_dict(cfg):  # trials compose on the app's search path, as train.py's would
        cfg.study.base = [*cfg.study.base, *extra]
    check_study(cfg)
    if 1 in cfg.phases:
        check_space(cfg)  # before anything is written
        if unreachable := presets_out_of_reach(cfg):
            log.warning(
                "the search spaces leave out %s: phase 1 cannot try the setting each of these "
                "optimizers is configured with, which handicaps it; widen study.space.<name> "
                "(or optimizer.search in its conf/optimizer file).",
                ", ".join(unreachable),
            )
    if cfg.phases and (stale := abandon_stale(cfg)) > 0:
        log.info("%d trials of a stopped run of this study will be run again", stale)
    settings, workers = plain(cfg), Workers(cfg.workers)
    with workers:  # one set of worker processes for every phase
        for phase in cfg.phases:
            every = slots(cfg, phase)
            todo = unheld(cfg, every)  # no worker process (seconds of imports) for a finished slot
            log.info(
                "phase %s: %d of %d slots to run, %d workers",
                *(phase, len(todo), len(every), cfg.workers),
            )
            # Each worker runs trial after trial: a fresh process per trial cost ~8 s of imports,
            # 7 % of a 2D trial. ``train`` seeds every run, so a worker's second trial trains as
            # it would in a fresh process (tested).
            for slot, outcome in workers.map(_work, [(settings, s) for s in todo]):
                log.info("phase %s %-16s #%-3d %s", phase, slot.optimizer, slot.index, outcome)
            if workers.signum is not None:
                break
    if workers.signum is not None:
        workers.hand_over()
        name = signal.Signals(workers.signum).name
        raise RunInterrupted(
            f"the study stopped on {name} in phase {phase}, with {len(unheld(cfg, every))} "
            f"of its {len(every)} slots still to run (the trials it interrupted among them). "
            "Everything that finished is in the journal; rerun the same command to continue.",
            step=0,
            signum=workers.signum,
        )
