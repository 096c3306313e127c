"""Optimistic methods: one gradient per update, plus a correction with the previous step.

On bilinear games plain simultaneous gradient descent-ascent spirals out; subtracting the last
step (``-2η·uₜ + η·uₜ₋₁``) anticipates the opponent and makes the iterates converge (Daskalakis
et al. 2018, "Training GANs with Optimism"). It costs one gradient per update, unlike
extragradient, and is the same algorithm as extrapolation from the past up to a shift of index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ganopt.optim._common import adam_defaults, adam_direction, closure_loss, gradient, sgd_defaults

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


class _Optimistic(Optimizer):
    """``θ ← θ − 2η·uₜ + η·uₜ₋₁`` for a direction ``u`` given by the subclass; the previous
    direction is kept per parameter and is zero before the first step."""

    gradient_evaluations = 1

    def _direction(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                direction = self._direction(p, group)
                p.add_(direction, alpha=-2 * lr)
                if "previous_direction" in state:
                    p.add_(state["previous_direction"], alpha=lr)
                state["previous_direction"] = direction.clone(memory_format=torch.preserve_format)
        return loss


class OptimisticSGD(_Optimistic):
    """Optimistic gradient descent ("ogd"): ``θ ← θ − 2η·gₜ + η·gₜ₋₁``, so the first step is
    ``θ − 2η·g₁``."""

    def __init__(self, params: Params, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(params, sgd_defaults(lr, weight_decay))

    def _direction(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        return gradient(p, group["weight_decay"])


class OptimisticAdam(_Optimistic):
    """Optimistic Adam (Daskalakis et al. 2018): Adam's normalised step, used optimistically.

    ``θ ← θ − 2η·m̂ₜ/(√v̂ₜ+ε) + η·m̂ₜ₋₁/(√v̂ₜ₋₁+ε)``. Moments and bias correction are Adam's.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, adam_defaults(lr, betas, eps, weight_decay))

    def _direction(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        return adam_direction(
            self.state[p], gradient(p, group["weight_decay"]), group["betas"], group["eps"]
        )
