"""The study's worker processes: trial after trial, and all of them stop together on a signal,
handing it on to the job around the study; a worker that dies stops the study, never hangs it."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ganopt.errors import RunStopped
from ganopt.study import workers as workers_module
from ganopt.study.workers import Workers


def signal_the_study(task: int) -> int:
    """A task during which the study's main process gets SIGUSR1 (SLURM's time-limit warning)."""
    if task == 1:
        os.kill(os.getppid(), signal.SIGUSR1)
        time.sleep(1)  # the main process passes the stop on as SIGTERM: a worker between
    return task  # trials ignores it, this one finishes (train() would stop after its step)


def die(task: int) -> int:
    """A worker killed in a trial (out of memory, SIGKILL)."""
    os.kill(os.getpid(), signal.SIGKILL)
    return task


def test_a_stop_signal_starts_no_new_task_and_is_handed_on() -> None:
    received: list[int] = []
    outer = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        with Workers(1) as workers:
            assert list(workers.map(signal_the_study, [1, 2, 3, 4])) == [1]
            assert list(workers.map(signal_the_study, [5])) == []  # a later phase: nothing
        assert workers.signum == signal.SIGUSR1 and received == []  # the study stopped first
        workers.hand_over()  # then the job around it acts (submitit: requeue)
        assert received == [signal.SIGUSR1]
        os.kill(os.getpid(), signal.SIGUSR1)
        assert received == [signal.SIGUSR1] * 2  # the outer handler is back
    finally:
        signal.signal(signal.SIGUSR1, outer)


def test_a_worker_that_dies_stops_the_study_with_a_message() -> None:
    with pytest.raises(RunStopped, match=r"a worker process died .* rerun"), Workers(2) as workers:
        list(workers.map(die, [1, 2, 3]))


def test_a_stop_while_the_workers_start_up_ends_the_study_cleanly(monkeypatch) -> None:
    """A worker still importing (seconds) would die of the passed-on SIGTERM: it is not sent
    one, and once started it takes no task, so the study stops instead of failing."""
    monkeypatch.setattr(workers_module, "RESEND_S", 0.05)  # the stop is passed on at once
    received: list[int] = []
    outer = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()  # workers starting
        with Workers(2) as workers:
            assert list(workers.map(signal_the_study, [5, 6, 7])) == []
        assert workers.signum == signal.SIGUSR1
    finally:
        signal.signal(signal.SIGUSR1, outer)
