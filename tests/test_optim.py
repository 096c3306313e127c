"""The optimizers of ganopt.optim: first steps against values worked out by hand, exact resume
from a state_dict, and argument checks.

Hand-computed Adam values use betas=(0.5, 0.5) and the gradients 1, -11, 9, 9, chosen so that
every bias-corrected second moment is a perfect square:

    after g=1:   m = 0.5,    v = 0.5,     m̂ = 0.5/0.5 = 1,              v̂ = 1,   u = 1
    after g=-11: m = -5.25,  v = 60.75,   m̂ = -5.25/0.75 = -7,          v̂ = 81,  u = -7/9
    after g=9:   m = 1.875,  v = 70.875,  m̂ = 1.875/0.875 = 15/7,       v̂ = 81,  u = 5/21
    after g=9:   m = 5.4375, v = 75.9375, m̂ = 5.4375/0.9375 = 5.8,      v̂ = 81,  u = 29/45

(u = m̂/(√v̂+ε), the default ε = 1e-8 is below the tolerance).
"""

from __future__ import annotations

import copy
import functools
import io
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

BETAS = (0.5, 0.5)
ADAM_GRADS = [1.0, -11.0, 9.0, 9.0]


def scalar(value: float = 1.0) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor(value, dtype=torch.float64))


def step_with_grad(opt: Optimizer, p: torch.Tensor, grad: float) -> float:
    """Set a fixed gradient, step, and return the parameter."""
    p.grad = torch.tensor(grad, dtype=p.dtype)
    opt.step()
    return p.item()


def step_quadratic(opt: Optimizer, p: torch.Tensor) -> float:
    """Step on f(θ) = θ²/2 (gradient θ, taken where the parameter is now)."""
    opt.zero_grad()
    (0.5 * p**2).backward()
    opt.step()
    return p.item()


# --- first steps, by hand -------------------------------------------------------------------


def test_optimistic_sgd_first_two_steps() -> None:
    # f = θ²/2 from θ=1, lr=0.1: θ1 = 1 - 2·0.1·1 = 0.8;  θ2 = 0.8 - 2·0.1·0.8 + 0.1·1 = 0.74
    p = scalar(1.0)
    opt = OptimisticSGD([p], lr=0.1)
    assert step_quadratic(opt, p) == pytest.approx(0.8, abs=1e-12)
    assert step_quadratic(opt, p) == pytest.approx(0.74, abs=1e-12)


def test_optimistic_adam_first_two_steps() -> None:
    # θ1 = 1 - 2·0.9·1 = -0.8;  θ2 = -0.8 - 2·0.9·(-7/9) + 0.9·1 = -0.8 + 1.4 + 0.9 = 1.5
    p = scalar(1.0)
    opt = OptimisticAdam([p], lr=0.9, betas=BETAS)
    assert step_with_grad(opt, p, 1.0) == pytest.approx(-0.8, abs=1e-7)
    assert step_with_grad(opt, p, -11.0) == pytest.approx(1.5, abs=1e-7)


def test_extra_sgd_first_two_updates() -> None:
    # f = θ²/2 from θ=1, lr=0.5: θ½ = 1 - 0.5·1 = 0.5;   θ1 = 1 - 0.5·0.5 = 0.75
    #                           θ1½ = 0.75 - 0.375 = 0.375; θ2 = 0.75 - 0.5·0.375 = 0.5625
    p = scalar(1.0)
    opt = ExtraSGD([p], lr=0.5)
    assert opt.gradient_evaluations == 2
    expected = [0.5, 0.75, 0.375, 0.5625]
    for call, value in enumerate(expected):
        assert opt.extrapolation_next == (call % 2 == 0)
        assert step_quadratic(opt, p) == pytest.approx(value, abs=1e-12)
    assert opt.extrapolation_next


def test_extra_adam_first_two_updates() -> None:
    # moments are updated at all four calls (Gidel et al.'s reference ExtraAdam), lr=0.9, θ=1:
    # θ½ = 1 - 0.9·1 = 0.1;  θ1 = 1 - 0.9·(-7/9) = 1.7
    # θ1½ = 1.7 - 0.9·5/21 = 1.7 - 3/14 = 1.4857142857;  θ2 = 1.7 - 0.9·29/45 = 1.7 - 0.58 = 1.12
    p = scalar(1.0)
    opt = ExtraAdam([p], lr=0.9, betas=BETAS)
    expected = [0.1, 1.7, 1.4857142857142857, 1.12]
    for grad, value in zip(ADAM_GRADS, expected, strict=True):
        assert step_with_grad(opt, p, grad) == pytest.approx(value, abs=1e-7)


def test_past_extra_adam_first_two_steps() -> None:
    # step 1: u = 1:     iterate θ1 = 1 - 0.9 = 0.1,        params θ1½ = 0.1 - 0.9 = -0.8
    # step 2: u = -7/9:  iterate θ2 = 0.1 + 0.7 = 0.8,      params θ2½ = 0.8 + 0.7 = 1.5
    # (the held parameters are OptimisticAdam's iterates: the two methods are the same)
    p = scalar(1.0)
    opt = PastExtraAdam([p], lr=0.9, betas=BETAS)
    assert opt.gradient_evaluations == 1
    assert opt.iterate(p) is p
    assert step_with_grad(opt, p, 1.0) == pytest.approx(-0.8, abs=1e-7)
    assert opt.iterate(p).item() == pytest.approx(0.1, abs=1e-7)
    assert step_with_grad(opt, p, -11.0) == pytest.approx(1.5, abs=1e-7)
    assert opt.iterate(p).item() == pytest.approx(0.8, abs=1e-7)


def test_lookahead_sgd_first_steps() -> None:
    # SGD lr=0.5 on θ²/2 halves θ; k=2, α=0.5:
    # θ: 1 -> 0.5 -> 0.25, sync φ = 1 + 0.5·(0.25 - 1) = 0.625
    # θ: 0.625 -> 0.3125 -> 0.15625, sync φ = 0.625 + 0.5·(0.15625 - 0.625) = 0.390625
    p = scalar(1.0)
    opt = Lookahead([p], functools.partial(torch.optim.SGD, lr=0.5), k=2, alpha=0.5)
    expected = [0.5, 0.625, 0.3125, 0.390625]
    for value in expected:
        assert step_quadratic(opt, p) == pytest.approx(value, abs=1e-12)


def test_lookahead_counts_completed_extragradient_updates() -> None:
    # ExtraSGD (values above): no sync after the extrapolation (θ½ = 0.5), sync after the
    # update: θ1 = 0.75, φ = 1 + 0.5·(0.75 - 1) = 0.875
    p = scalar(1.0)
    opt = Lookahead([p], functools.partial(ExtraSGD, lr=0.5), k=1, alpha=0.5)
    assert opt.gradient_evaluations == 2
    assert step_quadratic(opt, p) == pytest.approx(0.5, abs=1e-12)
    assert step_quadratic(opt, p) == pytest.approx(0.875, abs=1e-12)


def test_lookahead_over_past_extra_adam_averages_the_iterate() -> None:
    # step 1: iterate 0.1, params -0.8; sync φ = 1 + 0.5·(0.1 - 1) = 0.55, the extrapolation
    #         offset -0.9 is kept: params 0.55 - 0.9 = -0.35
    # step 2: u = -7/9: iterate 0.55 + 0.7 = 1.25; sync φ = 0.55 + 0.5·(1.25 - 0.55) = 0.9,
    #         params 0.9 + 0.7 = 1.6
    p = scalar(1.0)
    opt = Lookahead([p], functools.partial(PastExtraAdam, lr=0.9, betas=BETAS), k=1, alpha=0.5)
    assert step_with_grad(opt, p, 1.0) == pytest.approx(-0.35, abs=1e-7)
    assert opt.base.iterate(p).item() == pytest.approx(0.55, abs=1e-7)
    assert step_with_grad(opt, p, -11.0) == pytest.approx(1.6, abs=1e-7)
    assert opt.base.iterate(p).item() == pytest.approx(0.9, abs=1e-7)


def test_weight_decay_is_the_l2_gradient_at_the_extrapolated_point() -> None:
    # zero loss gradient, weight_decay=1 so g(θ) = θ: same numbers as θ²/2 above
    p = scalar(1.0)
    opt = ExtraSGD([p], lr=0.5, weight_decay=1.0)
    assert [step_with_grad(opt, p, 0.0) for _ in range(2)] == pytest.approx([0.5, 0.75])


def test_parameters_without_gradient_are_left_alone() -> None:
    a, b = scalar(1.0), scalar(2.0)
    opt = ExtraSGD([a, b], lr=0.5)
    for _ in range(4):
        opt.zero_grad()
        (0.5 * a**2).backward()
        opt.step()
    assert b.item() == 2.0
    assert a.item() == pytest.approx(0.5625)


# --- exact resume ---------------------------------------------------------------------------

FACTORIES: dict[str, Callable[[list[dict]], Optimizer]] = {
    "OptimisticSGD": lambda groups: OptimisticSGD(groups, lr=0.05, weight_decay=0.01),
    "OptimisticAdam": lambda groups: OptimisticAdam(groups, lr=0.01, betas=(0.5, 0.9)),
    "ExtraSGD": lambda groups: ExtraSGD(groups, lr=0.05),
    "ExtraAdam": lambda groups: ExtraAdam(groups, lr=0.01, weight_decay=0.01),
    "PastExtraAdam": lambda groups: PastExtraAdam(groups, lr=0.01),
    "Lookahead(Adam)": lambda groups: Lookahead(
        groups, functools.partial(torch.optim.Adam, lr=0.01), k=2
    ),
    "Lookahead(SGD momentum)": lambda groups: Lookahead(
        groups, functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9), k=3, alpha=0.3
    ),
    "Lookahead(ExtraAdam)": lambda groups: Lookahead(
        groups, functools.partial(ExtraAdam, lr=0.01), k=2
    ),
    "Lookahead(PastExtraAdam)": lambda groups: Lookahead(
        groups, functools.partial(PastExtraAdam, lr=0.01), k=2
    ),
}


def make_problem() -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    return [
        torch.nn.Parameter(torch.randn(3, generator=gen)),
        torch.nn.Parameter(torch.randn(2, 2, generator=gen)),
    ]


def loss_of(params: list[torch.nn.Parameter]) -> torch.Tensor:
    w, m = params
    target = torch.tensor([0.5, -1.0])
    return ((m @ w[:2] - target) ** 2).sum() + torch.sin(w).sum() + (m**4).sum()


def run(opt: Optimizer, params: list[torch.nn.Parameter], steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params).backward()
        opt.step()


def build(name: str, params: list[torch.nn.Parameter]) -> Optimizer:
    # two parameter groups, the second with its own learning rate
    lr = FACTORIES[name]([{"params": [params[0]]}]).param_groups[0]["lr"]
    return FACTORIES[name]([{"params": [params[0]]}, {"params": [params[1]], "lr": lr / 2}])


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("first", [3, 4])
def test_state_dict_round_trip_resumes_exactly(name: str, first: int) -> None:
    more = 5
    reference = make_problem()
    run(build(name, reference), reference, first + more)

    params = make_problem()
    opt = build(name, params)
    run(opt, params, first)
    buffer = io.BytesIO()  # through torch.save/load, as a checkpoint
    torch.save({"params": [p.detach().clone() for p in params], "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)

    resumed = make_problem()
    with torch.no_grad():
        for p, saved in zip(resumed, checkpoint["params"], strict=True):
            p.copy_(saved)
    opt = build(name, resumed)
    opt.load_state_dict(checkpoint["opt"])
    run(opt, resumed, more)

    for p, q in zip(resumed, reference, strict=True):
        assert torch.equal(p, q)


def test_lookahead_keeps_sharing_param_groups_after_loading() -> None:
    params = make_problem()
    opt = FACTORIES["Lookahead(Adam)"]([{"params": params}])
    run(opt, params, 3)
    fresh = FACTORIES["Lookahead(Adam)"]([{"params": params}])
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups is fresh.base.param_groups
    fresh.param_groups[0]["lr"] = 0.5  # what a learning-rate scheduler does
    assert fresh.base.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("name", ["ExtraAdam", "Lookahead(ExtraAdam)", "Lookahead(PastExtraAdam)"])
def test_deepcopy_keeps_the_phase_and_the_base(name: str) -> None:
    reference = make_problem()
    run(build(name, reference), reference, 8)

    params = make_problem()
    opt = build(name, params)
    run(opt, params, 3)
    copied = copy.deepcopy({"params": params, "opt": opt})  # one memo: params stay shared
    params, opt = copied["params"], copied["opt"]
    run(opt, params, 5)
    for p, q in zip(params, reference, strict=True):
        assert torch.equal(p, q)


def test_lightning_wrapper_sees_the_current_phase() -> None:
    # LightningOptimizer copies the optimizer's __dict__ when it wraps it
    from lightning.pytorch.core.optimizer import LightningOptimizer

    p = scalar(1.0)
    raw = Lookahead([p], functools.partial(ExtraSGD, lr=0.5), k=1)
    wrapped = LightningOptimizer(raw)
    assert wrapped.gradient_evaluations == 2
    step_quadratic(raw, p)
    assert not wrapped.base.extrapolation_next
    assert wrapped.state_dict()["lookahead_calls"] == 1


# --- argument checks ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [OptimisticSGD, OptimisticAdam, ExtraSGD, ExtraAdam, PastExtraAdam])
@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan")])
def test_learning_rate_must_be_positive(cls: type[Optimizer], lr: float) -> None:
    with pytest.raises(ValueError, match="lr="):
        cls([scalar()], lr=lr)


@pytest.mark.parametrize("cls", [OptimisticAdam, ExtraAdam, PastExtraAdam])
@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.9)])
def test_betas_must_be_in_unit_interval(cls: type[Optimizer], betas: tuple[float, float]) -> None:
    with pytest.raises(ConfigError, match="betas"):
        cls([scalar()], betas=betas)


@pytest.mark.parametrize(
    ("k", "alpha", "message"),
    [(0, 0.5, "k="), (2.5, 0.5, "k="), (5, 0.0, "alpha="), (5, 1.5, "alpha=")],
)
def test_lookahead_arguments(k: int, alpha: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Lookahead([scalar()], functools.partial(torch.optim.SGD, lr=0.1), k=k, alpha=alpha)
