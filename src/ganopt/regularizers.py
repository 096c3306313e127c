"""Discriminator regularizers: gradient penalties added to D's loss, and weight clipping.

Chosen with the multi-select config group ``regularizer`` (``regularizer=[r1]``,
``regularizer=[gp]``, ``regularizer=[weight_clip]``, or several at once), each option one named
entry, so the module receives ``{name: Regularizer}`` already built. The module calls every
regularizer in ``d_loss`` (a penalty term, or ``None`` on a step where it is off) and lets each
``attach`` itself to the discriminator optimizer in ``configure_optimizers`` (weight clipping
runs after every D step there, so it also runs under mixed precision and any update scheme).

Penalties differentiate D with respect to its *input* with ``create_graph=True``, so the
penalty's own gradient reaches D's parameters; the input is a fresh leaf, which works whatever
requires_grad Lightning's optimizer toggling has set on the generator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from ganopt.errors import ConfigError


# ---- pure functions ---------------------------------------------------------------------------
def input_gradients(discriminator: nn.Module, x: Tensor) -> Tensor:
    """Per-sample ∇ₓD(x), flattened to (N, features) and kept in the graph (create_graph) so a
    penalty on it trains D. ``x`` is detached into a new leaf: only D is differentiated."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = discriminator(x)
        # Samples are independent, so the gradient of the sum holds each sample's gradient.
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.flatten(1).float()  # norms in float32, also under mixed precision


def interpolate(real: Tensor, fake: Tensor, alpha: Tensor | None = None) -> Tensor:
    """Points on straight lines between real and fake samples, one uniform α per sample."""
    if alpha is None:
        alpha = torch.rand(len(real), device=real.device, dtype=real.dtype)
    alpha = alpha.view(-1, *[1] * (real.dim() - 1))
    return alpha * real.detach() + (1.0 - alpha) * fake.detach()


def gradient_penalty(
    discriminator: nn.Module, real: Tensor, fake: Tensor, alpha: Tensor | None = None
) -> Tensor:
    """E[(‖∇D(x̂)‖ − 1)²] on random interpolates x̂ (WGAN-GP, Gulrajani et al. 2017)."""
    grad = input_gradients(discriminator, interpolate(real, fake, alpha))
    return (torch.linalg.vector_norm(grad, dim=1) - 1.0).pow(2).mean()


def r1_penalty(discriminator: nn.Module, real: Tensor) -> Tensor:
    """E[‖∇D(x)‖²] on real data (R1, Mescheder et al. 2018), without the γ/2 factor."""
    return input_gradients(discriminator, real).pow(2).sum(dim=1).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of ``module`` to [-clip, clip] in place (the original WGAN)."""
    for parameter in module.parameters():
        parameter.clamp_(-clip, clip)


# ---- configurable regularizers ----------------------------------------------------------------
class Regularizer:
    """Base class: no penalty, nothing after the step. Subclasses override one or both.

    Plain classes, not dataclasses: OmegaConf would turn a dataclass instance that Hydra puts
    back into the config tree into a config node instead of keeping the object.
    """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def __call__(self, discriminator: nn.Module, real: Tensor, fake: Tensor, step: int) -> Any:
        """The term added to D's loss at generator step ``step``, or None when off."""
        return None

    def attach(self, optimizer: Optimizer, discriminator: nn.Module) -> None:
        """Hook into the discriminator's optimizer once it is built (configure_optimizers)."""


def _check_number(key: str, value: Any, *, positive: bool, example: str) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(
            f"{key}={value!r} is not allowed: it must be a number {bound}, {example}."
        )


class GradientPenalty(Regularizer):
    """WGAN-GP: ``weight``·E[(‖∇D(x̂)‖ − 1)²] on real/fake interpolates (λ = 10 in the paper)."""

    def __init__(self, weight: float = 10.0) -> None:
        _check_number("regularizer.gp.weight", weight, positive=False, example="e.g. 10.0")
        self.weight = weight

    def __call__(self, discriminator: nn.Module, real: Tensor, fake: Tensor, step: int) -> Tensor:
        return self.weight * gradient_penalty(discriminator, real, fake)


class R1Penalty(Regularizer):
    """R1: γ/2·E[‖∇D(x_real)‖²]. Lazy when ``every`` = k > 1: applied only on every k-th
    generator step, scaled by k, so its average strength is unchanged (StyleGAN2)."""

    def __init__(self, gamma: float = 10.0, every: int = 1) -> None:
        _check_number("regularizer.r1.gamma", gamma, positive=False, example="e.g. 10.0")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(
                f"regularizer.r1.every={every!r} is not allowed: it is how many generator "
                f"steps apart the penalty is applied, a whole number >= 1 (1 = every step, "
                f"16 = lazy as in StyleGAN2)."
            )
        self.gamma, self.every = gamma, every

    def __call__(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, step: int
    ) -> Tensor | None:
        if step % self.every:
            return None
        return (self.gamma / 2 * self.every) * r1_penalty(discriminator, real)


class WeightClip(Regularizer):
    """The original WGAN's Lipschitz constraint: D's parameters clamped to [-clip, clip] after
    every discriminator optimizer step (and once when the optimizer is built)."""

    def __init__(self, clip: float = 0.01) -> None:
        _check_number("regularizer.weight_clip.clip", clip, positive=True, example="e.g. 0.01")
        self.clip = clip

    def attach(self, optimizer: Optimizer, discriminator: nn.Module) -> None:
        clip_weights(discriminator, self.clip)
        # A post-step hook runs inside optimizer.step(), so it follows every real update: also
        # under AMP (a step the GradScaler skips changes no weight) and for multi-step optimizers.
        optimizer.register_step_post_hook(lambda *_: clip_weights(discriminator, self.clip))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def as_named(
    regularizers: Mapping[str, Regularizer] | Sequence[Regularizer] | None,
) -> dict[str, Regularizer]:
    """``{name: regularizer}`` from the config's dict (or a plain list, named by class)."""
    if regularizers is None:
        return {}
    if isinstance(regularizers, Mapping):
        named = {str(name): reg for name, reg in regularizers.items()}
    else:
        named = {_snake(type(reg).__name__): reg for reg in regularizers}
    for name, reg in named.items():
        if not isinstance(reg, Regularizer):
            raise ConfigError(
                f"regularizer.{name} built a {type(reg).__name__}, not a "
                f"ganopt.regularizers.Regularizer; give it a _target_ such as "
                f"ganopt.regularizers.R1Penalty (options: r1, gp, weight_clip)."
            )
    return named
