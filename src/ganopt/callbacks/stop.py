"""Stop at the end of the current step when the process is asked to stop, instead of dying.

SIGTERM (Kubernetes, ``timeout``, SLURM preemption), SIGINT (Ctrl-C), SIGUSR1 (SLURM's
pre-timeout signal with ``--signal=USR1@90``) and SIGUSR2 (the one submitit asks SLURM for)
each set a flag; the step in progress finishes, ``trainer.should_stop`` ends the fit loop, and
the checkpoint callback writes ``last.ckpt`` at the step reached. Lightning's own handlers are
replaced while training: on SIGTERM it raises ``SIGTERMException`` (a ``SystemExit`` with
status 0) and under SLURM it saves an ``hpc_ckpt`` in the middle of a step.

After the run is saved, ``hand_over()`` passes the signal to whoever handled it before training
(submitit's handler checkpoints its job and requeues it) or, for SIGUSR1 inside a SLURM job,
requeues the job with ``scontrol requeue``; a requeued job run with ``ckpt_path=auto``
continues from the saved step. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from types import FrameType
from typing import TYPE_CHECKING, Any

import lightning as L

if TYPE_CHECKING:
    from ganopt.module import GAN

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class GracefulStop(L.Callback):
    def __init__(self) -> None:
        self.signum: int | None = None  # the first stop signal received (None on a DDP rank
        # that stops on another rank's signal: the module's ``interrupted`` says it stopped)
        self._outer: dict[int, Any] = {}  # handlers from before training (submitit's, ...)

    def on_fit_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        # Before Lightning installs its handlers, so these are the ones of the job around us.
        self._outer = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def on_train_start(self, trainer: L.Trainer, pl_module: GAN) -> None:
        # Lightning has installed its own by now; ours replace them until its teardown.
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._request_stop)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:  # impatient Ctrl-C: stop now, without saving
                raise KeyboardInterrupt
            return
        self.signum = signum
        log.warning(
            "Received %s: stopping after this step and saving last.ckpt (Ctrl-C again to stop "
            "at once, without saving).",
            signal.Signals(signum).name,
        )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: GAN, *_) -> None:
        stop = self.signum is not None
        if trainer.world_size > 1:  # a signal may reach one rank only; all must stop together
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            pl_module.interrupted = True
            trainer.should_stop = True

    def hand_over(self) -> None:
        """Let the job around the run act on the signal, now that the run is saved."""
        if self.signum is not None:
            hand_over(self.signum, self._outer.get(self.signum))


def hand_over(signum: int, outer: Any) -> None:
    """Pass ``signum`` to ``outer``, the handler from before (submitit's: checkpoint, requeue,
    exit); under plain sbatch, SIGUSR1 (``--signal=USR1@90``) requeues the job itself."""
    if callable(outer) and outer is not signal.default_int_handler:
        outer(signum, None)
    elif signum == signal.SIGUSR1 and (job := slurm_job_id()) is not None:
        try:
            result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
        except FileNotFoundError:
            log.error("SLURM job %s not requeued: scontrol is not on PATH.", job)
            return
        if result.returncode == 0:
            log.info(
                "Requeued SLURM job %s: a run continues with ckpt_path=auto, a study from its "
                "journal.",
                job,
            )
        else:
            log.error("scontrol requeue %s failed: %s", job, result.stderr.strip())


def slurm_job_id() -> str | None:
    """This SLURM job's id (array jobs: <array id>_<task id>), or None outside SLURM."""
    if (array := os.environ.get("SLURM_ARRAY_JOB_ID")) is not None:
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")
