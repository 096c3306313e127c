"""Train and eval modes of schedule-free optimizers (Defazio et al. 2024), which train at one
point y and are evaluated at another, the average x: ``eval()`` puts x in the parameters and
``train()`` y. Other optimizers have no modes and are left alone."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


def with_modes(optimizers: Iterable[Any]) -> list[Any]:
    return [o for o in optimizers if callable(getattr(o, "eval", None))]


def train_mode(optimizers: Iterable[Any]) -> None:
    for optimizer in with_modes(optimizers):
        optimizer.train()


@contextmanager
def eval_mode(optimizers: Iterable[Any]) -> Iterator[None]:
    """The averaged weights in the parameters for the block; the training point after it."""
    switching = with_modes(optimizers)
    for optimizer in switching:
        optimizer.eval()
    try:
        yield
    finally:
        train_mode(switching)
