"""The leaderboard's results, read from the study journals (nothing is created or written
there): per workload, ruleset (tuned: phase 2; untuned: the presets as shipped) and optimizer,
one value per seed of its time to target, wall time and final score, and the seeds off target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
from omegaconf import DictConfig

from ganopt.study.runner import optimizers, results, storage, untimed

State = optuna.trial.TrialState
RULESETS: dict[str, int | str] = {"tuned": 2, "untuned": "untuned"}  # ruleset -> its phase


@dataclass
class Entry:
    """One optimizer on one workload under one ruleset: one value per seed."""

    evaluations: list[float] = field(default_factory=list)  # to target; inf: missed or diverged
    wall_s: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # the objective, seeds that finished
    untimed: int = 0  # finished before time to target was recorded
    missed: list[str] = field(default_factory=list)  # seeds off target: "3", "4 diverged"

    @property
    def time(self) -> float:
        return float(np.median(self.evaluations))

    @property
    def reached(self) -> int:
        return sum(math.isfinite(e) for e in self.evaluations)


@dataclass
class Workload:
    name: str
    target: str
    entries: dict[str, dict[str, Entry]]  # ruleset -> optimizer -> entry
    planned: dict[str, list[str]]  # ruleset -> the optimizers its study runs there
    seeds: int  # each one's runs under a ruleset

    def timed(self, ruleset: str) -> dict[str, float]:
        return {o: e.time for o, e in self.entries[ruleset].items() if e.evaluations}

    def runs(self, ruleset: str) -> tuple[int, int]:
        """Timed runs in and planned: the ratios to the fastest, and so score B, are final only
        when every planned optimizer has every seed in (the fastest may not have run yet)."""
        entries = self.entries[ruleset]
        done = sum(len(entry.evaluations) for entry in entries.values())
        return done, len(self.planned[ruleset]) * self.seeds

    def progress(self, ruleset: str) -> str:
        return "{} of {}".format(*self.runs(ruleset))

    def complete(self, ruleset: str) -> bool:
        done, planned = self.runs(ruleset)
        return planned > 0 and done == planned


def collect(study: DictConfig) -> Workload:
    """A workload's results from its study's storage, read only: no study is created there."""
    target = ", ".join(f"{metric} {rule}" for metric, rule in study.study.target.items())
    workload = Workload(
        study.study.name,
        target,
        {ruleset: {} for ruleset in RULESETS},
        {ruleset: optimizers(study.study, phase) for ruleset, phase in RULESETS.items()},
        study.study.seeds,
    )
    if "://" not in str(study.storage) and not Path(study.storage).exists():
        return workload
    store = storage(study.storage)
    for ruleset, phase in RULESETS.items():
        for optimizer in optimizers(study.study, phase):
            if trials := results(store, study.study, optimizer, phase):
                entry = Entry()
                for trial in trials:
                    add(entry, trial)
                workload.entries[ruleset][optimizer] = entry
    return workload


def add(entry: Entry, trial: optuna.trial.FrozenTrial) -> None:
    """One seed: its time to target, or inf when it diverged or never met the target."""
    if trial.state == State.COMPLETE and untimed(trial):
        entry.untimed += 1
    elif trial.state == State.COMPLETE:
        assert trial.value is not None
        metrics = trial.user_attrs["metrics"]
        entry.scores.append(trial.value)
        reached = metrics["target_gradient_evaluations"] is not None
        entry.evaluations.append(metrics["target_gradient_evaluations"] if reached else math.inf)
        entry.wall_s.append(metrics["target_wall_time_s"] if reached else math.inf)
        if not reached:
            entry.missed.append(str(trial.user_attrs["slot"]))
    elif trial.state == State.FAIL:  # diverged: a result, never on target
        entry.evaluations.append(math.inf)
        entry.wall_s.append(math.inf)
        entry.missed.append(f"{trial.user_attrs['slot']} diverged")
