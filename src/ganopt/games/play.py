"""Play a game with one optimizer pair and update scheme; judge the trajectory.

The players are stepped by the same ``ganopt.updates`` schemes and ``Player`` objects as the
networks in training, with optimizers built from the same ``conf/network_optimizer`` factories, so
``optimizer=oadam update_scheme=simultaneous`` means the same thing here and in ``train.py``.

Verdict, from the distance d to the equilibrium (docs/games.md states the rule):
``diverges`` when d becomes non-finite or ends above ``diverge_ratio`` (10) times its start,
``converges`` when it ends below ``converge_ratio`` (1e-3) times its start, ``cycles``
otherwise (it neither leaves nor reaches the equilibrium). The empirical rate is the geometric
mean factor of d per gradient evaluation over the second half of the run (< 1: contracting).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ganopt.games.zoo import Game
from ganopt.optim.modes import eval_mode, train_mode
from ganopt.updates import Player, UpdateScheme

OptimizerFactory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]


@dataclass
class Trajectory:
    label: str
    points: list[tuple[float, float]]  # after each update, the start first
    evaluations: list[int]  # gradient evaluations (both players) spent before each point
    lr: dict[str, float | None] = field(default_factory=dict)  # None: a method without lr

    @property
    def distances(self) -> list[float]:
        return [math.hypot(*p) for p in self.points]

    def verdict(self, converge_ratio: float = 1e-3, diverge_ratio: float = 10.0) -> str:
        start, end = self.distances[0], self.distances[-1]
        if not math.isfinite(end) or end > diverge_ratio * start:
            return "diverges"
        return "converges" if end < converge_ratio * start else "cycles"

    def rate(self) -> float:
        """d's factor per gradient evaluation over the second half (geometric mean)."""
        d, n = self.distances, len(self.distances)
        a, b = n // 2, n - 1
        spent = self.evaluations[b] - self.evaluations[a]
        if spent <= 0 or not (math.isfinite(d[b]) and d[a] > 0 and d[b] > 0):
            return math.nan
        return (d[b] / d[a]) ** (1.0 / spent)


def play(
    game: Game,
    make_x: OptimizerFactory,
    make_y: OptimizerFactory,
    scheme: UpdateScheme,
    steps: int,
    label: str = "",
    blowup: float = 1e6,
) -> Trajectory:
    """``steps`` updates of both players by ``scheme``; stops early once d exceeds ``blowup``."""
    opt_x, opt_y = make_x(list(game.x.parameters())), make_y(list(game.y.parameters()))
    game.attach(opt_y)
    train_mode([opt_x, opt_y])  # schedule-free: trained at y, read at its average x
    player_x, player_y = Player(opt_x, game.loss_x), Player(opt_y, game.loss_y)
    per_update = (
        scheme.d_steps * player_y.gradient_evaluations
        + scheme.g_steps * player_x.gradient_evaluations
    )
    points, evaluations = [game.point], [0]
    for step in range(1, steps + 1):
        game.step = step
        scheme(player_y, player_x)  # the maximiser plays the discriminator's part
        with eval_mode([opt_x, opt_y]):
            points.append(game.point)
        evaluations.append(step * per_update)
        d = math.hypot(*points[-1])
        if not math.isfinite(d) or d > blowup:
            break
    lr = {"x": opt_x.param_groups[0].get("lr"), "y": opt_y.param_groups[0].get("lr")}
    return Trajectory(label, points, evaluations, lr)
