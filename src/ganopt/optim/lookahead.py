"""Lookahead (Zhang et al. 2019) and its use on games, Lookahead-minmax (Chavdarova et al. 2021).

A base optimizer moves fast weights θ; every k completed updates the slow weights move part of
the way towards them, ``φ ← φ + α(θ − φ)``, and θ restarts from φ. On games the averaging damps
the rotation of the fast dynamics, so it stabilises e.g. gradient descent-ascent; give both
players the same k so that they are synchronised at the same iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ganopt.errors import ConfigError

Params = Iterable[Tensor] | Iterable[dict[str, Any]]

_BASE_KEY = "base"
_CALLS_KEY = "lookahead_calls"


class Lookahead(Optimizer):
    """Wrap the optimizer ``base(params)`` with slow weights synchronised every ``k`` updates.

    ``base`` is a factory (Hydra passes e.g. ``functools.partial(torch.optim.Adam, lr=2e-4)``).
    The wrapper shares ``param_groups`` with the base (so schedulers act on it) and forwards its
    ``gradient_evaluations``: with an extragradient base one update is two ``step()`` calls,
    and the synchronisation happens after every ``k`` completed updates, never between an
    extrapolation and its update. With a base that holds extrapolated parameters between steps
    (:class:`~ganopt.optim.PastExtraAdam`), the slow weights follow its iterate instead.

    ``k`` counts this optimizer's own updates: the two players synchronise at the same iteration
    when each makes one update per iteration (with ``d_steps=5`` the discriminator reaches k
    five times sooner than the generator).
    """

    def __init__(
        self,
        params: Params,
        base: Callable[[Params], Optimizer],
        k: int = 5,
        alpha: float = 0.5,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(
                f"k={k!r} is not allowed: Lookahead synchronises every k updates, so k must be "
                f"a whole number >= 1 (e.g. k=5)."
            )
        if not (isinstance(alpha, (int, float)) and 0.0 < alpha <= 1.0):
            raise ConfigError(
                f"alpha={alpha!r} is not allowed: the slow-weight step must satisfy "
                f"0 < alpha <= 1 (alpha=1 is the base optimizer alone; e.g. alpha=0.5)."
            )
        if not callable(base):
            raise ConfigError(
                f"base={base!r} is not allowed: give a factory that builds the base optimizer "
                f"from the parameters, e.g. functools.partial(torch.optim.Adam, lr=2e-4)."
            )
        self.base = base(params)
        if not isinstance(self.base, Optimizer):
            raise ConfigError(
                f"Lookahead's base factory returned {type(self.base).__name__}, not a "
                f"torch.optim.Optimizer."
            )
        self.k = k
        self.alpha = float(alpha)
        super().__init__(self.base.param_groups, {})
        self._share_groups()
        # set last: add_param_group forwards to the base once it exists. Mutated in place, never
        # rebound, so wrappers that copy __dict__ (LightningOptimizer) see the current count.
        self._progress: dict[str, int] = {"calls": 0}

    def _share_groups(self) -> None:
        self.param_groups = self.base.param_groups
        self.defaults = self.base.defaults

    @property
    def gradient_evaluations(self) -> int:
        """Gradients per update of the base optimizer: ``step()`` calls per completed update."""
        return getattr(self.base, "gradient_evaluations", 1)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if hasattr(self, "_progress"):  # after __init__: the group belongs to the base
            self.base.add_param_group(param_group)
            self._share_groups()
        else:
            super().add_param_group(param_group)

    def _iterate(self, p: Tensor) -> Tensor:
        iterate = getattr(self.base, "iterate", None)
        return iterate(p) if iterate is not None else p

    @torch.no_grad()
    def _synchronise(self) -> None:
        set_iterate = getattr(self.base, "set_iterate", None)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "slow" not in state:
                    continue
                slow: Tensor = state["slow"]
                slow.lerp_(self._iterate(p), self.alpha)
                if set_iterate is not None:
                    set_iterate(p, slow)
                else:
                    p.copy_(slow)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if "slow" not in state:  # lazily, so the slow weights are on p's device
                        state["slow"] = self._iterate(p).detach().clone()
        loss = self.base.step(closure)
        self._progress["calls"] += 1
        if self._progress["calls"] % (self.k * self.gradient_evaluations) == 0:
            self._synchronise()
        return loss

    def __getstate__(self) -> dict[str, Any]:  # keep the base and counters through pickle
        extra = ("base", "k", "alpha", "_progress")
        return {**super().__getstate__(), **{key: self.__dict__[key] for key in extra}}

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        state_dict = super().state_dict()
        state_dict[_BASE_KEY] = self.base.state_dict()
        state_dict[_CALLS_KEY] = self._progress["calls"]
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        base_state = state_dict.pop(_BASE_KEY)
        calls = state_dict.pop(_CALLS_KEY)
        super().load_state_dict(state_dict)
        self.base.load_state_dict(base_state)
        self._share_groups()  # loading replaces the group dicts: share the base's again
        self._progress["calls"] = int(calls)
