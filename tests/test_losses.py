"""Each adversarial loss against values computed by hand, and every loss config trains."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import FAST, TINY_MLP, options
from hydra.utils import instantiate

from ganopt import losses
from ganopt.app.train import train

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def test_hinge_matches_hand_computation() -> None:
    # D: mean(relu(1-2), relu(1+1)) + mean(relu(1+0.5), relu(1-3)) = 1 + 0.75
    assert losses.hinge_d(REAL, FAKE).item() == pytest.approx(1.75)
    assert losses.hinge_g(FAKE).item() == pytest.approx(1.25)  # -mean(0.5, -3)


def test_wasserstein_matches_hand_computation() -> None:
    assert losses.wasserstein_d(REAL, FAKE).item() == pytest.approx(-1.25 - 0.5)
    assert losses.wasserstein_g(FAKE).item() == pytest.approx(1.25)


def test_least_squares_matches_hand_computation() -> None:
    # D: ½·mean((2-1)², (-1-1)²) + ½·mean(0.5², (-3)²) = ½·2.5 + ½·4.625
    assert losses.least_squares_d(REAL, FAKE).item() == pytest.approx(1.25 + 2.3125)
    # G: ½·mean((0.5-1)², (-3-1)²) = ½·8.125
    assert losses.least_squares_g(FAKE).item() == pytest.approx(4.0625)


def test_least_squares_is_zero_at_its_targets() -> None:
    assert losses.least_squares_d(torch.ones(3), torch.zeros(3)).item() == 0.0
    assert losses.least_squares_g(torch.ones(3)).item() == 0.0


def test_nonsaturating_and_minimax_match_hand_computation() -> None:
    real, fake = torch.tensor([0.0, math.log(3.0)]), torch.tensor([0.0])
    # -log σ(0) = log 2; -log σ(log 3) = log(4/3); -log(1 - σ(0)) = log 2
    expected_d = (math.log(2.0) + math.log(4.0 / 3.0)) / 2 + math.log(2.0)
    assert losses.nonsaturating_d(real, fake).item() == pytest.approx(expected_d)
    assert losses.nonsaturating_g(fake).item() == pytest.approx(math.log(2.0))
    assert losses.minimax_g(fake).item() == pytest.approx(-math.log(2.0))


EXPECTED = {
    "hinge": (losses.hinge_d, losses.hinge_g),
    "least_squares": (losses.least_squares_d, losses.least_squares_g),
    "minimax": (losses.nonsaturating_d, losses.minimax_g),
    "nonsaturating": (losses.nonsaturating_d, losses.nonsaturating_g),
    "wasserstein": (losses.wasserstein_d, losses.wasserstein_g),
}


def test_every_loss_config_is_tested() -> None:
    assert set(options("loss")) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_config_builds_its_functions(make_cfg, name: str) -> None:
    loss = instantiate(make_cfg(f"loss={name}").loss)
    d, g = EXPECTED[name]
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(d(REAL, FAKE).item())
    assert loss.generator(FAKE).item() == pytest.approx(g(FAKE).item())


@pytest.mark.parametrize("name", ["hinge", "wasserstein", "least_squares"])
def test_new_losses_train(make_cfg, name: str) -> None:
    cfg = make_cfg(*FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP, f"loss={name}")
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6
    assert math.isfinite(metrics["loss/d"]) and math.isfinite(metrics["loss/g"])
    assert metrics["config"]["loss"] == name


def test_instantiated_losses_are_the_plain_functions(make_cfg) -> None:
    """Hydra's partial objects re-check their target on every call (~0.4 ms): the loss keeps
    the function itself."""
    from hydra.utils import instantiate

    from ganopt.losses import nonsaturating_d, nonsaturating_g

    loss = instantiate(make_cfg().loss)
    assert loss.discriminator is nonsaturating_d and loss.generator is nonsaturating_g
