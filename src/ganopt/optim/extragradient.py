"""Extragradient methods (Gidel et al. 2019, "A Variational Inequality Perspective on GANs").

Extragradient takes the gradient at a look-ahead point: ``θ½ = θ − η·u(g(θ))`` then
``θ ← θ − η·u(g(θ½))``. On games the look-ahead accounts for the opponent's move, which turns
the divergent rotation of gradient descent-ascent into convergence. :class:`ExtraSGD` and
:class:`ExtraAdam` need two gradients per update, so they declare ``gradient_evaluations = 2``
and their ``step()`` alternates the two phases (odd calls extrapolate, even calls update), which
every update scheme of :mod:`ganopt.updates` honours. :class:`PastExtraAdam` reuses the last
gradient to extrapolate, so it needs one gradient per update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ganopt.optim._common import adam_defaults, adam_direction, closure_loss, gradient, sgd_defaults

Params = Iterable[Tensor] | Iterable[dict[str, Any]]

_CALLS_KEY = "extragradient_calls"


class _Extragradient(Optimizer):
    """Two-phase step: odd calls save θ and extrapolate, even calls restore θ and update.

    The saved point lives in ``self.state[p]["iterate"]`` (only between the two phases) and the
    number of calls is saved in ``state_dict()``, so a checkpoint taken between the phases
    resumes exactly.
    """

    gradient_evaluations = 2

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        # mutated in place, never rebound: wrappers that copy __dict__ (Lightning's
        # LightningOptimizer) then still see the current count
        self._progress: dict[str, int] = {"calls": 0}

    @property
    def extrapolation_next(self) -> bool:
        """True when the next ``step()`` extrapolates, False when it completes an update."""
        return self._progress["calls"] % 2 == 0

    def __getstate__(self) -> dict[str, Any]:  # keep the phase through pickle and deepcopy
        return {**super().__getstate__(), "_progress": self._progress}

    def _direction(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        """The update direction u from ``p.grad``: the step is ``-lr * u``."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure_loss(closure)
        extrapolating = self.extrapolation_next
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                state = self.state[p]
                direction: Tensor | None
                if extrapolating:
                    if p.grad is None:
                        continue
                    direction = self._direction(p, group)
                    state["iterate"] = p.detach().clone(memory_format=torch.preserve_format)
                    p.add_(direction, alpha=-lr)
                else:
                    # the gradient was taken at θ½ (weight decay included); the step starts at θ
                    direction = self._direction(p, group) if p.grad is not None else None
                    if "iterate" in state:
                        p.copy_(state.pop("iterate"))
                    if direction is not None:
                        p.add_(direction, alpha=-lr)
        self._progress["calls"] += 1
        return loss

    def state_dict(self) -> dict[str, Any]:
        state_dict = super().state_dict()
        state_dict[_CALLS_KEY] = self._progress["calls"]
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        calls = state_dict.pop(_CALLS_KEY, 0)
        super().load_state_dict(state_dict)
        self._progress["calls"] = int(calls)


class ExtraSGD(_Extragradient):
    """Extragradient with plain gradient steps: ``θ½ = θ − η·g(θ)``, ``θ ← θ − η·g(θ½)``."""

    def __init__(self, params: Params, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(params, sgd_defaults(lr, weight_decay))

    def _direction(self, p: Tensor, group: dict[str, Any]) -> Tensor:
        return gradient(p, group["weight_decay"])


class ExtraAdam(_Extragradient):
    """Extragradient with Adam steps, as in Gidel et al.'s reference ``ExtraAdam``.

    The moment estimates (and Adam's step count, hence the bias correction) are updated at both
    the extrapolation and the update, so one update advances them twice. The normalised step is
    ``m̂/(√v̂+ε)`` (torch.optim.Adam's form; the reference puts ε outside the bias correction,
    a difference of order ε).
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


class PastExtraAdam(Optimizer):
    """Extrapolation from the past with Adam steps (Gidel et al. 2019): one gradient per update.

    Each ``step()`` takes the gradient at the extrapolated point θₜ₋½, computes Adam's direction
    u from it, updates the stored iterate ``θₜ = θₜ₋₁ − η·u`` and immediately extrapolates with
    the same direction, ``θₜ₊½ = θₜ − η·u``, so the next gradient is taken there.

    The parameters held between steps are therefore the *extrapolated* point θₜ₊½, not the
    iterate θₜ: :meth:`iterate` gives the iterate (e.g. to evaluate or average it) and
    :meth:`set_iterate` replaces it (Lookahead uses both). Before the first step the parameters
    are the starting point and serve as both. The moments are updated once per step.
    """

    gradient_evaluations = 1

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, adam_defaults(lr, betas, eps, weight_decay))

    def iterate(self, p: Tensor) -> Tensor:
        """The non-extrapolated point θₜ of parameter ``p`` (``p`` itself before any step)."""
        return self.state[p].get("iterate", p)

    @torch.no_grad()
    def set_iterate(self, p: Tensor, value: Tensor) -> None:
        """Move the iterate of ``p`` to ``value``, keeping the same extrapolation step."""
        state = self.state[p]
        if "iterate" in state:
            offset = p - state["iterate"]
            state["iterate"].copy_(value)
            p.copy_(value).add_(offset)
        else:
            p.copy_(value)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                direction = adam_direction(
                    state, gradient(p, group["weight_decay"]), group["betas"], group["eps"]
                )
                if "iterate" not in state:
                    state["iterate"] = p.detach().clone(memory_format=torch.preserve_format)
                iterate: Tensor = state["iterate"]
                iterate.add_(direction, alpha=-lr)
                p.copy_(iterate).add_(direction, alpha=-lr)
        return loss
