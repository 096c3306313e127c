"""The bilinear game min_x max_y x·y, whose only equilibrium is (0, 0), played with the real
update schemes of ganopt.updates and the real optimizers: the textbook behaviour of each method.

Gradient descent-ascent rotates around the equilibrium; taken simultaneously the rotation
spirals out, taken alternately it stays on a bounded orbit. Optimism, extragradient and
Lookahead damp the rotation and converge.

Adam-type methods (OptimisticAdam, ExtraAdam, PastExtraAdam) converge here only without
momentum, betas=(0.0, 0.999): with beta1 = 0.5 or 0.9 they do not converge, and with the
default betas (0.9, 0.999) they drift outwards (momentum hurts on games). Even with beta1 = 0
their normalised step does not shrink with the gradient: with beta2 <= 0.99 they settle on a
cycle whose radius is proportional to lr, and with beta2 = 0.999 they converge because the
second moment remembers the larger early gradients, until it forgets them (at lr=0.1 the
distance comes back to order 1 after about 5000 steps). The step counts below stay well inside
the converged window. PastExtraAdam's parameters follow OptimisticAdam's up to rounding: they
are the same method.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pytest
import torch
from torch.optim import Optimizer

from ganopt.errors import ConfigError
from ganopt.optim import (
    ExtraAdam,
    ExtraSGD,
    Lookahead,
    OptimisticAdam,
    OptimisticSGD,
    PastExtraAdam,
)
from ganopt.updates import Alternating, Player, Simultaneous, UpdateScheme

START = math.sqrt(2.0)  # |(1, 1)|


def play(
    make: Callable[[list[torch.Tensor]], Optimizer], scheme: UpdateScheme, steps: int
) -> tuple[float, float]:
    """Play ``steps`` iterations from (1, 1); return the final and the largest distance to 0."""
    x = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    y = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    player_x = Player(make([x]), loss=lambda: x * y)  # x minimises x·y
    player_y = Player(make([y]), loss=lambda: -x * y)  # y maximises it
    largest = START
    for _ in range(steps):
        scheme(player_x, player_y)
        largest = max(largest, math.hypot(x.item(), y.item()))
    return math.hypot(x.item(), y.item()), largest


def test_simultaneous_gradient_descent_ascent_diverges() -> None:
    # each step multiplies the distance by sqrt(1 + lr²): sqrt(2)·1.01**50 = 2.33 after 100
    final, _ = play(lambda p: torch.optim.SGD(p, lr=0.1), Simultaneous(), 100)
    assert final > 1.5 * START


def test_alternating_gradient_descent_ascent_stays_bounded() -> None:
    final, largest = play(lambda p: torch.optim.SGD(p, lr=0.1), Alternating(), 1000)
    assert largest < 2.0
    assert final > 0.5  # bounded, but it does not converge either


CONVERGING: dict[str, tuple[Callable[[list[torch.Tensor]], Optimizer], int]] = {
    "optimistic GD": (lambda p: OptimisticSGD(p, lr=0.2), 400),
    "extragradient": (lambda p: ExtraSGD(p, lr=0.3), 200),
    "OptimisticAdam": (lambda p: OptimisticAdam(p, lr=0.05, betas=(0.0, 0.999)), 1200),
    "PastExtraAdam": (lambda p: PastExtraAdam(p, lr=0.05, betas=(0.0, 0.999)), 1200),
    "ExtraAdam": (lambda p: ExtraAdam(p, lr=0.05, betas=(0.0, 0.999)), 1000),
    "Lookahead-GDA": (
        lambda p: Lookahead(p, functools.partial(torch.optim.SGD, lr=0.2), k=5, alpha=0.5),
        500,
    ),
    "Lookahead-extragradient": (
        lambda p: Lookahead(p, functools.partial(ExtraSGD, lr=0.3), k=5, alpha=0.5),
        100,
    ),
}


@pytest.mark.parametrize("name", list(CONVERGING))
def test_simultaneous_methods_for_games_converge(name: str) -> None:
    make, steps = CONVERGING[name]
    final, largest = play(make, Simultaneous(), steps)
    assert final < 1e-2
    assert largest < 3.0


def test_optimistic_gradient_descent_converges_with_alternating_updates_too() -> None:
    final, _ = play(lambda p: OptimisticSGD(p, lr=0.2), Alternating(), 400)
    assert final < 1e-2


def test_simultaneous_needs_the_same_number_of_gradients() -> None:
    x = torch.nn.Parameter(torch.tensor(1.0))
    y = torch.nn.Parameter(torch.tensor(1.0))
    player_x = Player(ExtraSGD([x], lr=0.1), loss=lambda: x * y)
    player_y = Player(torch.optim.SGD([y], lr=0.1), loss=lambda: -x * y)
    with pytest.raises(ConfigError, match="same number of gradients"):
        Simultaneous()(player_x, player_y)
    # Lookahead forwards its base's count: a Lookahead-wrapped ExtraSGD needs two as well
    player_x = Player(Lookahead([x], functools.partial(ExtraSGD, lr=0.1)), loss=lambda: x * y)
    with pytest.raises(ConfigError, match="same number of gradients"):
        Simultaneous()(player_x, player_y)


@pytest.mark.parametrize("scheme", [Alternating(d_steps=3, g_steps=2), Simultaneous()])
def test_a_scheme_reports_each_networks_last_loss_its_statistics_and_updates_taken(scheme) -> None:
    """What the GAN module logs and counts comes back from the scheme, not through shared state:
    an update whose step was skipped (as the GradScaler skips inf gradients) is not counted."""
    x = torch.nn.Parameter(torch.tensor(1.0))
    y = torch.nn.Parameter(torch.tensor(2.0))
    calls = {"d": 0}

    def d_loss() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        calls["d"] += 1
        return -x * y, {"d/calls": torch.tensor(float(calls["d"]))}

    def every_other_step_taken(optimizer: Optimizer) -> bool:
        optimizer.step()
        return calls["d"] % 2 == 1

    d = Player(torch.optim.SGD([y], lr=0.1), d_loss, step=every_other_step_taken)
    g = Player(
        torch.optim.SGD([x], lr=0.1),
        lambda: x * y,
        backward=lambda loss: loss.backward(inputs=[x]) or {"grad_norm/g": x.grad.abs()},
    )
    d_turn, g_turn = scheme(d, g)
    assert d_turn.stats == {"d/calls": torch.tensor(float(scheme.d_steps))}  # the last update's
    assert d_turn.updates == (2 if scheme.d_steps == 3 else 1)  # calls 1 and 3 taken, 2 not
    assert g_turn.updates == scheme.g_steps
    assert set(g_turn.stats) == {"grad_norm/g"}
    assert not g_turn.loss.requires_grad  # detached: what is logged keeps no graph alive
