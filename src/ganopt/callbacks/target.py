"""Time to target (AlgoPerf, Dahl et al. 2023): when a run's evaluation first meets its
workload's target, in generator steps, gradient evaluations and wall time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import lightning as L

from ganopt.errors import ConfigError
from ganopt.targets import check_target, meets

if TYPE_CHECKING:
    from ganopt.module import GAN

UNREACHED = {"target_step": None, "target_gradient_evaluations": None, "target_wall_time_s": None}


class TimeToTarget(L.Callback):
    """Checks ``target`` after every evaluation (Lightning's validation loop) and keeps the
    first generator step at which all its rules held, the gradient evaluations spent by then
    (``per_step`` per generator step: extragradient pays its second gradient) and the training
    wall time. Its state is saved in checkpoints, so a resumed run keeps an earlier answer;
    wall time counts the sessions' training time."""

    def __init__(self, target: Mapping[str, str], per_step: int) -> None:
        check_target(target)
        self.target, self.per_step = dict(target), per_step
        self.reached: dict[str, Any] = dict(UNREACHED)
        self._elapsed, self._clock = 0.0, 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        self._clock = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: GAN) -> None:
        done = self.reached["target_step"] is not None
        if done or trainer.sanity_checking or getattr(pl_module, "interrupted", False):
            return  # a run stopped by a signal skips its final evaluation
        metrics = trainer.callback_metrics
        if missing := [metric for metric in self.target if metric not in metrics]:
            reported = sorted(key for key in metrics if key.startswith("eval/"))
            raise ConfigError(
                f"target names {', '.join(missing)}, which this run's evaluation does not "
                f"report; it reports {', '.join(reported) or 'no eval/ metric'}."
            )
        if meets({k: float(v) for k, v in metrics.items()}, self.target):
            step = pl_module.generator_steps
            self.reached = {
                "target_step": step,
                "target_gradient_evaluations": step * self.per_step,
                "target_wall_time_s": round(self.wall_time(), 2),
            }

    def wall_time(self) -> float:
        return self._elapsed + time.perf_counter() - self._clock

    def state_dict(self) -> dict[str, Any]:
        return {"reached": self.reached, "elapsed": self.wall_time()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.reached, self._elapsed = dict(state_dict["reached"]), float(state_dict["elapsed"])
