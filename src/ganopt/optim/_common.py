"""Argument checks and the Adam direction shared by the optimizers of this package."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ganopt.errors import ConfigError


def wrapped(factory: Any) -> list[Any]:
    """An optimizer factory and the base optimizers it wraps (Lookahead's ``base``), outermost
    first: ``[Lookahead, Adam]``."""
    chain = [factory]
    while (base := getattr(chain[-1], "keywords", {}).get("base")) is not None:
        chain.append(base)
    return chain


def closure_loss(closure: Callable[[], Any] | None) -> Any:
    """The loss a ``step(closure)`` returns, computed with gradients on (torch's convention)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def check_lr(lr: float) -> None:
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr={lr!r} is not allowed: the learning rate must be a number > 0.")


def check_betas(betas: tuple[float, float]) -> None:
    if len(betas) != 2:
        raise ConfigError(f"betas={betas!r} is not allowed: give two numbers (beta1, beta2).")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ConfigError(
                f"betas[{i}]={beta!r} is not allowed: each beta is a moving-average decay and "
                f"must satisfy 0 <= beta < 1 (e.g. betas=(0.9, 0.999))."
            )


def check_eps(eps: float) -> None:
    if not eps >= 0.0:
        raise ConfigError(f"eps={eps!r} is not allowed: it must be >= 0 (e.g. 1e-8).")


def check_weight_decay(weight_decay: float) -> None:
    if not weight_decay >= 0.0:
        raise ConfigError(
            f"weight_decay={weight_decay!r} is not allowed: the L2 penalty must be >= 0."
        )


def sgd_defaults(lr: float, weight_decay: float) -> dict[str, Any]:
    """Checked defaults of the SGD-like optimizers here."""
    check_lr(lr)
    check_weight_decay(weight_decay)
    return {"lr": lr, "weight_decay": weight_decay}


def adam_defaults(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> dict[str, Any]:
    """Checked defaults of the Adam-like optimizers here."""
    check_betas(betas)
    check_eps(eps)
    return {**sgd_defaults(lr, weight_decay), "betas": tuple(betas), "eps": eps}


def gradient(p: Tensor, weight_decay: float) -> Tensor:
    """The loss gradient plus that of the L2 penalty ``weight_decay/2·|p|²`` (coupled, as Adam)."""
    assert p.grad is not None
    if p.grad.is_sparse:
        raise RuntimeError("ganopt optimizers do not support sparse gradients.")
    if weight_decay != 0:
        return p.grad.add(p, alpha=weight_decay)
    return p.grad


def adam_direction(
    state: dict[str, Any], grad: Tensor, betas: tuple[float, float], eps: float
) -> Tensor:
    """Update Adam's moments in ``state`` with ``grad`` and return ``m̂ / (√v̂ + eps)``.

    The step is ``-lr`` times the returned tensor; ``state`` is initialised on first use.
    """
    if "step" not in state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
    beta1, beta2 = betas
    state["step"] += 1
    step = state["step"]
    exp_avg: Tensor = state["exp_avg"]
    exp_avg_sq: Tensor = state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = (exp_avg_sq / bias_correction2).sqrt_().add_(eps)
    return (exp_avg / bias_correction1).div_(denom)
