"""The study's worker processes: each runs trial after trial, and all of them stop together.

The study's main process decides when to stop. A stop signal reaching it (Ctrl-C, SIGTERM from
``kill`` or SLURM, SIGUSR1/2) is passed on to the workers as SIGTERM, so a worker in a trial
stops it as ``train.py`` stops a run (after the step, saved, recorded as interrupted: its slot
runs again), and no worker starts another trial. Between trials the workers ignore stop signals
themselves (Ctrl-C reaches every process of the terminal's group), and a signal that arrives
while a trial is still being set up is sent again until every worker is done. Only workers that
have started are signalled: one still starting up (seconds of imports) would be killed by the
signal, and it starts no trial once the study is stopping anyway.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Any, TypeVar

from ganopt.callbacks.stop import STOP_SIGNALS, hand_over
from ganopt.errors import RunStopped

log = logging.getLogger(__name__)

Task = TypeVar("Task")
Result = TypeVar("Result")
RESEND_S = 5.0  # how often the stop is sent again to workers still busy

_stopping: Event | None = None  # in a worker: set by the main process when the study stops


class Workers:
    """``processes`` spawned workers (not forked: torch and threads do not survive a fork), started
    at the first task and kept for every ``map`` until the ``with`` block ends: each start costs
    seconds of imports. The stop signals are the study's for as long as the block lasts."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.signum: int | None = None  # the stop signal received, if any
        self._outer: dict[int, Any] = {}  # the handlers from before (submitit's, ...)
        self._context = multiprocessing.get_context("spawn")
        self._stopping = self._context.Event()
        self._started = self._context.SimpleQueue()
        self._ready: set[int] = set()
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        self._outer = {signum: signal.signal(signum, self._request_stop) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        for signum, handler in self._outer.items():
            signal.signal(signum, handler)

    def map(self, work: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """``work(task)`` for each task, results in the order they finish; after a stop signal,
        the results of the trials that were running, and then nothing more."""
        if not tasks:
            return
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes,
                mp_context=self._context,
                initializer=_start_worker,
                initargs=(self._stopping, self._started),
            )
        pending = {self._executor.submit(_unless_stopping, work, t) for t in tasks}
        try:
            while pending:
                done, pending = wait(pending, timeout=RESEND_S, return_when=FIRST_COMPLETED)
                if self._stopping.is_set():
                    self._signal_workers()
                for future in done:
                    if (result := future.result()) is not None:
                        yield result
        except BrokenProcessPool as broken:
            self._stopping.set()
            raise RunStopped(
                f"a worker process died ({broken}), and with it the study; the trials in flight "
                "stay marked as running and run again when the same command is rerun.",
                step=0,
            ) from None
        except BaseException:  # a worker's ConfigError, or the caller stopped reading: stop all
            self._stopping.set()
            raise
        finally:
            for future in pending:
                future.cancel()  # not started yet
            while self._stopping.is_set() and not all(f.done() for f in pending):
                self._signal_workers()
                wait(pending, timeout=RESEND_S)

    def hand_over(self) -> None:
        """After a stop, outside the ``with`` block: let the job around the study act on the
        signal (submitit requeues the job, and the requeued job's study continues from the
        journal)."""
        if self.signum is not None:
            hand_over(self.signum, self._outer.get(self.signum))

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            log.warning(
                "Received %s: stopping the trials in flight (each saves and is recorded as "
                "interrupted); no new trial starts.",
                signal.Signals(signum).name,
            )
        self._stopping.set()

    def _signal_workers(self) -> None:
        while not self._started.empty():
            self._ready.add(self._started.get())
        _signal_workers(self._ready)


def _signal_workers(ready: set[int]) -> None:
    for child in multiprocessing.active_children():
        if child.pid in ready:
            with contextlib.suppress(ProcessLookupError):  # it may have just exited
                os.kill(child.pid, signal.SIGTERM)  # in ready: started, has a pid


def _start_worker(stopping: Event, started: Any) -> None:
    global _stopping
    _stopping = stopping
    for signum in STOP_SIGNALS:  # train() handles them during a trial, and restores these
        signal.signal(signum, signal.SIG_IGN)
    started.put(os.getpid())  # from now on a stop signal is safe to send


def _unless_stopping(work: Callable[[Task], Result], task: Task) -> Result | None:
    """A task taken from the queue after the study began to stop is not started."""
    return None if _stopping is not None and _stopping.is_set() else work(task)
