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

Stats = dict[str, Tensor]  # scalars to log, e.g. {"d/real": mean logit on real data}


def plain_step(optimizer: Any) -> bool:
    """Step, and count the step as taken."""
    optimizer.step()
    return True


@dataclass(frozen=True)
class Turn:
    """What one network's updates in a batch left: the last loss and the statistics its loss
    and backward pass reported, and how many updates its optimizer took, as its ``step`` says
    (under 16-mixed the GradScaler skips an update whose gradients are not finite)."""

    loss: Tensor
    stats: Stats
    updates: int


@dataclass
class Player:
    """One network's side of the game: its loss, its optimizer and how to backpropagate.

    ``loss`` returns the loss, or ``(loss, stats)``; ``backward`` may return statistics of the
    gradients it made (norms); ``step`` steps the optimizer and says whether the step was taken.
    """

    optimizer: Any  # a torch Optimizer or Lightning's wrapper: zero_grad() and step()
    loss: Callable[[], Tensor | tuple[Tensor, Stats]]
    backward: Callable[[Tensor], Stats | None] | None = None  # default: autograd, own params
    toggled: Callable[[], AbstractContextManager] = field(default=nullcontext)
    step: Callable[[Any], bool] = plain_step
    gradient_evaluations: int = field(init=False)  # per update: 2 for extragradient methods

    def __post_init__(self) -> None:
        inner = getattr(self.optimizer, "optimizer", self.optimizer)  # unwrap Lightning's wrapper
        self.gradient_evaluations = getattr(inner, "gradient_evaluations", 1)

    def compute_gradients(self) -> tuple[Tensor, Stats]:
        """Fill this player's .grad with the gradient of its loss; only its parameters get one."""
        with self.toggled():
            self.optimizer.zero_grad(set_to_none=True)
            result = self.loss()
            loss, stats = result if isinstance(result, tuple) else (result, {})
            if self.backward is None:
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                loss.backward(inputs=params)
            else:
                stats = {**stats, **(self.backward(loss) or {})}
        return loss.detach(), stats

    def update(self) -> Turn:
        """One full update: as many gradient evaluations and steps as the optimizer needs."""
        taken = True
        for _ in range(self.gradient_evaluations):
            loss, stats = self.compute_gradients()
            taken &= self.step(self.optimizer)
        return Turn(loss, stats, int(taken))


def in_turn(turns: list[Turn]) -> Turn:
    """Several updates of one network as one turn: the last loss and statistics, every update."""
    return Turn(turns[-1].loss, turns[-1].stats, sum(turn.updates for turn in turns))


class UpdateScheme(Protocol):
    d_steps: int
    g_steps: int

    def check(self, d_evaluations: int, g_evaluations: int) -> None:
        """Raise ConfigError if the scheme cannot step optimizers taking these gradient counts
        per update (called when the run is built, before anything is written)."""

    def __call__(self, d: Player, g: Player) -> tuple[Turn, Turn]: ...


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

    def __call__(self, d: Player, g: Player) -> tuple[Turn, Turn]:
        d_turn = in_turn([d.update() for _ in range(self.d_steps)])
        return d_turn, in_turn([g.update() for _ in range(self.g_steps)])


@dataclass
class Simultaneous:
    """Both gradients at the same point, then both steps: gradient descent-ascent as analysed
    in the game-dynamics literature (and the form extragradient methods are defined in)."""

    d_steps: int = 1
    g_steps: int = 1

    def __post_init__(self) -> None:
        if (self.d_steps, self.g_steps) != (1, 1):
            raise ConfigError(
                f"update_scheme=simultaneous moves both networks together, so d_steps and g_steps "
                f"must be 1 (got d_steps={self.d_steps}, g_steps={self.g_steps}); use "
                f"update_scheme=alternating for several discriminator steps per generator step."
            )

    def check(self, d_evaluations: int, g_evaluations: int) -> None:
        if d_evaluations != g_evaluations:
            raise ConfigError(
                "update_scheme=simultaneous needs both optimizers to take the same number of "
                f"gradients per update (discriminator: {d_evaluations}, generator: "
                f"{g_evaluations}); give both networks an extragradient optimizer, or use "
                "update_scheme=alternating."
            )

    def __call__(self, d: Player, g: Player) -> tuple[Turn, Turn]:
        self.check(d.gradient_evaluations, g.gradient_evaluations)
        d_taken = g_taken = True
        for _ in range(d.gradient_evaluations):
            (d_loss, d_stats), (g_loss, g_stats) = d.compute_gradients(), g.compute_gradients()
            d_taken &= d.step(d.optimizer)
            g_taken &= g.step(g.optimizer)
        return Turn(d_loss, d_stats, int(d_taken)), Turn(g_loss, g_stats, int(g_taken))
