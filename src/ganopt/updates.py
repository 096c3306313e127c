"""Update schemes: the order in which the two players compute gradients and step.

The schemes are plain torch code, shared by the GAN LightningModule and by the exact tests on
games with known answers, so a test of a scheme is a test of what training runs.

An optimizer that needs more than one gradient per update (extragradient: one gradient to
extrapolate, one to update) says so with a class attribute ``gradient_evaluations = 2``; its
``step()`` alternates between the two phases. Every scheme honours it, so no scheme has an
``if optimizer is ...`` branch.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import Tensor

from ganopt.errors import ConfigError


@dataclass
class Player:
    """One network's side of the game: its loss, its optimizer and how to backpropagate."""

    optimizer: Any  # a torch Optimizer or Lightning's wrapper: zero_grad() and step()
    loss: Callable[[], Tensor]
    backward: Callable[[Tensor], None] | None = None  # default: autograd on own parameters only
    toggled: Callable[[], AbstractContextManager] = field(default=nullcontext)

    @property
    def gradient_evaluations(self) -> int:
        inner = getattr(self.optimizer, "optimizer", self.optimizer)  # unwrap Lightning's wrapper
        return getattr(inner, "gradient_evaluations", 1)

    def compute_gradients(self) -> Tensor:
        """Fill this player's .grad with the gradient of its loss; only its parameters get one."""
        with self.toggled():
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss()
            if self.backward is None:
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                loss.backward(inputs=params)
            else:
                self.backward(loss)
        return loss.detach()

    def update(self) -> Tensor:
        """One full update: as many gradient evaluations and steps as the optimizer needs."""
        for _ in range(self.gradient_evaluations):
            loss = self.compute_gradients()
            self.optimizer.step()
        return loss


class UpdateScheme(Protocol):
    d_steps: int
    g_steps: int

    def check(self, d_evaluations: int, g_evaluations: int) -> None:
        """Raise ConfigError if the scheme cannot step optimizers taking these gradient counts
        per update (called when the run is built, before anything is written)."""

    def __call__(self, d: Player, g: Player) -> tuple[Tensor, Tensor]: ...


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{name}={value!r} is not allowed: it is the number of updates of that network per "
            f"batch and must be a whole number >= 1 (e.g. {name}=5 for a WGAN critic)."
        )


@dataclass
class Alternating:
    """``d_steps`` discriminator updates, then ``g_steps`` generator updates (Goodfellow et al.)."""

    d_steps: int = 1
    g_steps: int = 1

    def __post_init__(self) -> None:
        _check_positive("d_steps", self.d_steps)
        _check_positive("g_steps", self.g_steps)

    def check(self, d_evaluations: int, g_evaluations: int) -> None:
        pass  # each player takes its own gradients: any pair works

    def __call__(self, d: Player, g: Player) -> tuple[Tensor, Tensor]:
        for _ in range(self.d_steps):
            d_loss = d.update()
        for _ in range(self.g_steps):
            g_loss = g.update()
        return d_loss, g_loss


@dataclass
class Simultaneous:
    """Both gradients at the same point, then both steps: gradient descent-ascent as analysed
    in the game-dynamics literature (and the form extragradient methods are defined in)."""

    d_steps: int = 1
    g_steps: int = 1

    def __post_init__(self) -> None:
        if (self.d_steps, self.g_steps) != (1, 1):
            raise ConfigError(
                f"update=simultaneous moves both networks together, so d_steps and g_steps must "
                f"be 1 (got d_steps={self.d_steps}, g_steps={self.g_steps}); use "
                f"update=alternating for several discriminator steps per generator step."
            )

    def check(self, d_evaluations: int, g_evaluations: int) -> None:
        if d_evaluations != g_evaluations:
            raise ConfigError(
                "update=simultaneous needs both optimizers to take the same number of gradients "
                f"per update (discriminator: {d_evaluations}, generator: {g_evaluations}); give "
                "both networks an extragradient optimizer, or use update=alternating."
            )

    def __call__(self, d: Player, g: Player) -> tuple[Tensor, Tensor]:
        self.check(d.gradient_evaluations, g.gradient_evaluations)
        for _ in range(d.gradient_evaluations):
            d_loss, g_loss = d.compute_gradients(), g.compute_gradients()
            d.optimizer.step()
            g.optimizer.step()
        return d_loss, g_loss
