"""Reading run directories: metrics.json, the Hydra config and the TensorBoard curves."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ganopt.app.settings import flat

Curve = tuple[np.ndarray, np.ndarray]  # generator steps, values


@dataclass
class Run:
    """One run directory: its config summary, final metrics (None: no metrics.json) and curves."""

    path: Path
    name: str
    config: dict[str, Any]
    metrics: dict[str, float] | None
    overrides: list[str] = field(default_factory=list)
    problem: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # flattened .hydra/config.yaml
    curve_problem: str | None = None
    _curves: dict[str, Curve] | None = field(default=None, repr=False)

    @property
    def seed(self) -> Any:
        return self.config.get("seed", self.settings.get("seed"))

    def value(self, key: str) -> Any:
        """A grouping key's value: the metrics.json summary first, then the full Hydra config."""
        return self.config[key] if key in self.config else self.settings.get(key)

    def curves(self) -> dict[str, Curve]:
        """Scalar curves, read once; a broken event file costs the plot, not the whole table."""
        if self._curves is None:
            try:
                self._curves = read_scalars(self.path)
            except Exception as error:  # any reader failure: report it, keep the table
                self._curves, self.curve_problem = {}, f"{type(error).__name__}: {error}"
        return self._curves


def is_run_dir(path: Path) -> bool:
    """A run directory holds metrics.json (finished) or .hydra/config.yaml (started)."""
    return (path / "metrics.json").is_file() or (path / ".hydra" / "config.yaml").is_file()


def find_runs(paths: Iterable[Path]) -> list[Path]:
    """Every run directory at or below the paths, in natural order (2_… before 10_…)."""
    found: dict[Path, Path] = {}
    for root in paths:
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if is_run_dir(here):
                found.setdefault(here.resolve(), here)
                dirnames.clear()  # checkpoints/, samples/, tensorboard/ hold no runs
                continue
            dirnames[:] = sorted((d for d in dirnames if not d.startswith(".")), key=natural_key)
    return list(found.values())


def load_run(path: Path, root: Path | None = None) -> Run:
    """Read a run directory; a missing or broken metrics.json gives a Run with metrics=None."""
    name = path.name if root is None or path == root else os.path.relpath(path, root)
    overrides = _read_yaml(path / ".hydra" / "overrides.yaml")
    settings = flat(_read_yaml(path / ".hydra" / "config.yaml"))
    run = Run(path, name, {}, None, [str(o) for o in overrides or []], settings=settings)
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file():
        run.problem = "no metrics.json (failed or still running)"
        return run
    try:
        data = json.loads(metrics_file.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        run.problem = f"unreadable metrics.json ({error})"
        return run
    run.config = dict(data["config"]) if isinstance(data.get("config"), dict) else {}
    run.metrics = {
        k: float(v)
        for k, v in data.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return run


def read_scalars(run_dir: Path) -> dict[str, Curve]:
    """Scalar curves from a run's TensorBoard event files, one value per generator step.

    Steps repeat (the final values are logged twice at the last step; a resumed run logs again
    from its checkpoint): the latest write of a step wins.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea

    latest: dict[str, dict[int, tuple[float, float]]] = {}
    for path in sorted(run_dir.rglob("events.out.tfevents.*")):
        events = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0})  # 0: keep all
        events.Reload()
        for tag in events.Tags().get(ea.SCALARS, []):
            by_step = latest.setdefault(tag, {})
            for event in events.Scalars(tag):
                old = by_step.get(event.step)
                if old is None or event.wall_time >= old[0]:
                    by_step[event.step] = (event.wall_time, event.value)
    return {
        tag: (np.array(sorted(s), dtype=np.int64), np.array([s[k][1] for k in sorted(s)]))
        for tag, s in latest.items()
    }


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None


def hashable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def natural_key(value: Any) -> list[Any]:
    """Sort key that puts 2 before 10 in names and numbers alike."""
    return [
        (0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(value)) if t
    ]
