"""Muon (Jordan et al. 2024) for every weight a network has: matrices and convolution kernels.

Muon replaces a momentum step by its nearest semi-orthogonal matrix (Newton–Schulz iteration):
every direction of the layer's input space moves by the same amount. ``torch.optim.Muon`` (torch
≥ 2.9) takes 2-D parameters only, and a DCGAN has nothing but kernels; this class is the same
update, bit for bit on matrices (tested against torch's), applied to a kernel as the matrix
``kernel.view(len(kernel), -1)`` (Keller Jordan's flattening): a Conv weight
[out, in, kh, kw] as out × in·kh·kw, the matrix of its receptive field; a ConvTranspose weight
[in, out, kh, kw] as in × out·kh·kw, the matrix of the convolution it transposes.

Muon is for hidden weights only: biases, gains and (by Keller Jordan's recipe) the first and last
layers belong to AdamW. :class:`Split` puts one network's parameters in two optimizers by that
rule, with one ``state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ganopt.errors import ConfigError
from ganopt.optim._common import check_lr, check_weight_decay, closure_loss

Factory = Callable[[list[Tensor]], Optimizer]

# Keller Jordan's quintic Newton–Schulz coefficients, as torch.optim.Muon.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_EPS = 1e-7
ADJUST_LR_FNS = ("original", "match_rms_adamw")
NS_DTYPES = ("auto", "bfloat16", "float32")


def ns_dtype_for(setting: str, device: torch.device) -> torch.dtype:
    """The Newton–Schulz precision: bfloat16 as torch and Keller Jordan run it, except on a CPU
    under ``auto``, where bfloat16 matrix products are 15-120x slower than float32 ones
    (measured on this project's 2-core machine: a 256 x 2048 iteration 6.1 s against 49 ms)."""
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, setting)


def as_matrix(tensor: Tensor) -> Tensor:
    """The matrix view Muon orthogonalises: rows by the first dimension (a kernel's out
    channels), a vector as a column and a scalar as 1 x 1 (their direction is then normalised:
    what Muon does to the players of the game lab)."""
    return tensor.view(len(tensor), -1) if tensor.ndim else tensor.view(1, 1)


def orthogonalize(matrix: Tensor, steps: int, dtype: torch.dtype = torch.bfloat16) -> Tensor:
    """≈ U·Vᵀ of ``matrix = U·S·Vᵀ`` by ``steps`` quintic Newton–Schulz iterations in ``dtype``
    (singular values land in about [0.7, 1.2], which Muon does not mind)."""
    a, b, c = NS_COEFFICIENTS
    x = matrix.to(dtype)
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        x = x.T
    x.div_(x.norm().clamp(min=NS_EPS))  # spectral norm <= Frobenius norm <= 1
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def lr_scale(shape: torch.Size, adjust_lr_fn: str) -> float:
    """Muon's per-matrix lr factor: ``original`` √max(1, rows/cols) (Keller Jordan), or
    ``match_rms_adamw`` 0.2·√max(rows, cols), which makes the update's RMS AdamW's (Moonshot)."""
    rows, cols = shape
    if adjust_lr_fn == "original":
        return math.sqrt(max(1.0, rows / cols))
    return 0.2 * math.sqrt(max(rows, cols))


class Muon(Optimizer):
    """MomentUm Orthogonalized by Newton–Schulz, for weight matrices and kernels (a network's
    other parameters belong to AdamW: :class:`Split`).

    Per parameter W with gradient G (as a matrix): ``B ← μB + (1 − μ)G``; the direction is
    ``O = NS(G + μ(B − G))`` with Nesterov (``NS(B)`` without); ``W ← (1 − η·λ)W − η·s·O`` with s
    from ``adjust_lr_fn``. Defaults as torch.optim.Muon, except weight decay 0 (GANs use none)
    and the Newton–Schulz precision on a CPU (``ns_dtype``).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        weight_decay: float = 0.0,
        adjust_lr_fn: str = "original",
        ns_dtype: str = "auto",
    ) -> None:
        check_lr(lr)
        check_weight_decay(weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum={momentum!r} is not allowed: Muon takes 0 <= it < 1.")
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ConfigError(f"ns_steps={ns_steps!r} is not allowed: a whole number >= 1.")
        if ns_dtype not in NS_DTYPES:
            raise ConfigError(
                f"ns_dtype={ns_dtype!r} is not allowed: one of {', '.join(NS_DTYPES)} (auto: "
                "bfloat16 on a GPU, float32 on a CPU)."
            )
        if adjust_lr_fn not in ADJUST_LR_FNS:
            raise ConfigError(
                f"adjust_lr_fn={adjust_lr_fn!r} is not allowed: one of {', '.join(ADJUST_LR_FNS)}."
            )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            weight_decay=weight_decay,
            adjust_lr_fn=adjust_lr_fn,
            ns_dtype=ns_dtype,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = as_matrix(p.grad)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(grad)
                buffer: Tensor = state["momentum_buffer"]
                buffer.lerp_(grad, 1 - momentum)
                update = grad.lerp(buffer, momentum) if group["nesterov"] else buffer
                dtype = ns_dtype_for(group["ns_dtype"], p.device)
                direction = orthogonalize(update, group["ns_steps"], dtype)
                p.mul_(1 - lr * group["weight_decay"])
                scale = lr_scale(grad.shape, group["adjust_lr_fn"])
                as_matrix(p).add_(direction, alpha=-lr * scale)
        return loss


def hidden_matrices(
    params: list[Tensor], kernels: bool, ends: bool, min_ndim: int = 2
) -> list[bool]:
    """Which of a network's parameters (in registration order) are hidden weight matrices:
    ``min_ndim`` dimensions or more, kernels (> 2) only if ``kernels``, and not the network's
    first or last weight (the input projection and the output layer) unless ``ends``."""
    weights = [i for i, p in enumerate(params) if p.ndim >= min_ndim]
    chosen = [p.ndim >= min_ndim and (kernels or p.ndim <= 2) for p in params]
    if not ends and weights:
        chosen[weights[0]] = chosen[weights[-1]] = False
    return chosen


class Split(Optimizer):
    """One network's parameters in two optimizers by a rule: ``matrices`` (e.g. Muon) gets the
    hidden weight matrices (see :func:`hidden_matrices`), ``rest`` (e.g. AdamW) everything else.

    ``param_groups`` are the two optimizers' own group dicts, matrices' first (so schedulers,
    Lightning's toggling, gradient clipping and the GradScaler see every parameter, and ``lr/g``
    logs the matrices' rate); ``state_dict()`` holds both states, so a resume is exact.
    A spectrally normalised layer's trainable weight (``parametrizations.weight.original``)
    is an ordinary parameter of the layer's shape, so it follows the same rule.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        matrices: Factory,
        rest: Factory,
        kernels: bool = True,
        ends: bool = False,
        min_ndim: int = 2,
    ) -> None:
        params = list(params)
        if params and isinstance(params[0], dict):
            raise ConfigError("Split takes a network's parameters, not parameter groups.")
        chosen = hidden_matrices(params, kernels, ends, min_ndim)
        parts = {
            "matrices": [p for p, c in zip(params, chosen, strict=True) if c],
            "rest": [p for p, c in zip(params, chosen, strict=True) if not c],
        }
        factories = {"matrices": matrices, "rest": rest}
        self.parts = {name: factories[name](members) for name, members in parts.items() if members}
        super().__init__(params, {})
        self._share_groups()

    def _share_groups(self) -> None:
        self.param_groups = [g for part in self.parts.values() for g in part.param_groups]

    def __getstate__(self) -> dict[str, Any]:  # keep the parts through pickle and deepcopy
        return {**super().__getstate__(), "parts": self.__dict__["parts"]}

    @property
    def gradient_evaluations(self) -> int:
        counts = {getattr(part, "gradient_evaluations", 1) for part in self.parts.values()}
        if len(counts) > 1:
            raise ConfigError("Split's two optimizers must take the same gradients per update.")
        return counts.pop() if counts else 1

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure_loss(closure)
        for part in self.parts.values():
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts.values():
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {name: part.state_dict() for name, part in self.parts.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if set(state_dict) != set(self.parts):
            raise ValueError(
                f"this Split holds {sorted(self.parts)}, the state dict {sorted(state_dict)}"
            )
        for name, part in self.parts.items():
            part.load_state_dict(state_dict[name])
        self._share_groups()  # loading replaces the group dicts
