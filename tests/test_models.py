"""Architectures: output shapes, parameter counts, shape errors and spectral normalization."""

from __future__ import annotations

import copy
import io
import math
from pathlib import Path

import pytest
import torch
from conftest import FAST, TINY_DCGAN, TINY_MLP
from torch import nn

from ganopt.app.train import build, train
from ganopt.errors import ConfigError
from ganopt.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ResNetDiscriminator,
    ResNetGenerator,
    count_parameters,
    latent_dim,
    parameter_counts,
)

# (generator class, discriminator class, data shape, small-width keyword arguments)
MODELS = {
    "mlp": (MLPGenerator, MLPDiscriminator, (2,), {"hidden": 16}),
    "dcgan": (DCGANGenerator, DCGANDiscriminator, (1, 32, 32), {"width": 8}),
    "resnet": (ResNetGenerator, ResNetDiscriminator, (3, 32, 32), {"width": 16}),
}


def pair(name: str, spectral_norm: bool, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    generator_cls, discriminator_cls, shape, kwargs = MODELS[name]
    torch.manual_seed(seed)
    generator = generator_cls(shape, spectral_norm=spectral_norm, **kwargs)
    discriminator = discriminator_cls(shape, spectral_norm=spectral_norm, **kwargs)
    return generator, discriminator


def normalized_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if hasattr(m, "parametrizations")]


def largest_singular_value(layer: nn.Module) -> float:
    """σ₁ of the weight as spectral norm sees it: (out, in·k·k); (in, ...) for transposed convs."""
    weight = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        weight = weight.transpose(0, 1)
    return torch.linalg.matrix_norm(weight.flatten(1), ord=2).item()


# ---- shapes and sizes -------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_output_shapes(channels: int) -> None:
    generator = ResNetGenerator((channels, 32, 32), width=32)
    discriminator = ResNetDiscriminator((channels, 32, 32), width=32)
    images = generator(torch.randn(5, generator.latent_dim))
    assert images.shape == (5, channels, 32, 32) and images.abs().max() <= 1.0
    assert discriminator(images).shape == (5,)


def test_resnet_parameter_counts_match_sngan() -> None:
    counts = parameter_counts(ResNetGenerator((3, 32, 32)), ResNetDiscriminator((3, 32, 32)))
    # SNGAN's CIFAR-10 ResNet: about 4.3M generator and 1.0M discriminator parameters.
    assert 4.2e6 < counts["generator"] < 4.4e6
    assert 1.0e6 < counts["discriminator"] < 1.1e6
    smaller = parameter_counts(
        ResNetGenerator((3, 32, 32), width=64), ResNetDiscriminator((3, 32, 32), width=32)
    )
    assert smaller["generator"] < counts["generator"] / 10
    assert smaller["discriminator"] < counts["discriminator"] / 10


def test_parameter_counts_match_hand_computation() -> None:
    generator = MLPGenerator((2,), latent_dim=4, hidden=8, depth=1)  # 4·8+8 + 8·2+2
    discriminator = MLPDiscriminator((2,), hidden=8, depth=1)  # 2·8+8 + 8·1+1
    assert parameter_counts(generator, discriminator) == {"generator": 58, "discriminator": 33}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_spectral_norm_does_not_change_parameter_counts(name: str) -> None:
    plain, normalized = pair(name, False), pair(name, True)
    assert [count_parameters(m) for m in plain] == [count_parameters(m) for m in normalized]


@pytest.mark.parametrize(
    "shape", [(2,), (3, 16, 16), (3, 64, 64), (3, 32, 16)], ids=["2d", "16px", "64px", "nonsquare"]
)
def test_resnet_rejects_shapes_it_is_not_built_for(shape: tuple[int, ...]) -> None:
    for cls in (ResNetGenerator, ResNetDiscriminator):
        with pytest.raises(ConfigError, match="model=resnet"):
            cls(shape)


def test_dcgan_still_rejects_2d_data() -> None:
    with pytest.raises(ConfigError, match="model=dcgan needs image data"):
        DCGANGenerator((2,))


def test_dcgan_handles_64_pixels_from_the_data(make_cfg) -> None:
    datamodule, module = build(make_cfg("data.resolution=64", *TINY_DCGAN))
    assert datamodule.shape == (1, 64, 64)
    images = module.generator(torch.randn(2, module.generator.latent_dim))
    assert images.shape == (2, 1, 64, 64) and module.discriminator(images).shape == (2,)


# ---- spectral normalization -------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_spectral_norm_makes_every_weight_1_lipschitz(name: str) -> None:
    generator, discriminator = pair(name, spectral_norm=True)
    layers = normalized_layers(generator) + normalized_layers(discriminator)
    weighted = [
        m for m in generator.modules() if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)
    ]
    assert len(normalized_layers(generator)) == len(weighted)  # every layer, output one included
    for _ in range(20):  # each training forward pass is one more power iteration
        discriminator(generator(torch.randn(2, generator.latent_dim)))
    sigmas = [largest_singular_value(layer) for layer in layers]
    assert min(sigmas) == pytest.approx(1.0, abs=1e-4)
    assert max(sigmas) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_spectral_norm_survives_a_state_dict_round_trip(name: str) -> None:
    generator, discriminator = pair(name, spectral_norm=True, seed=0)
    for _ in range(3):  # move the power-iteration vectors away from their initial values
        discriminator(generator(torch.randn(4, generator.latent_dim)))
    buffer = io.BytesIO()
    torch.save({"g": generator.state_dict(), "d": discriminator.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    assert any(key.endswith("parametrizations.weight.original") for key in saved["d"])
    assert any(key.endswith("parametrizations.weight.0._u") for key in saved["d"])

    generator2, discriminator2 = pair(name, spectral_norm=True, seed=1)
    generator2.load_state_dict(saved["g"])
    discriminator2.load_state_dict(saved["d"])
    z = torch.randn(4, generator.latent_dim)
    for module in (generator, discriminator, generator2, discriminator2):
        module.eval()  # eval: no power iteration, so equal state means equal outputs
    torch.testing.assert_close(generator2(z), generator(z))
    torch.testing.assert_close(discriminator2(generator(z)), discriminator(generator(z)))
    torch.testing.assert_close(
        copy.deepcopy(discriminator)(generator(z)), discriminator(generator(z))
    )


def test_spectral_norm_is_set_per_network_from_the_config(make_cfg) -> None:
    cfg = make_cfg("model=mlp", "model.discriminator.spectral_norm=true")
    _, module = build(cfg)
    assert normalized_layers(module.discriminator) and not normalized_layers(module.generator)
    _, module = build(make_cfg("model=resnet"))
    assert normalized_layers(module.discriminator) and not normalized_layers(module.generator)


def test_spectral_norm_trains_and_its_checkpoint_loads(make_cfg) -> None:
    cfg = make_cfg(
        *FAST, "data=gaussians_ring", "model=mlp", *TINY_MLP, "loss=hinge",
        "model.discriminator.spectral_norm=true", "model.generator.spectral_norm=true",
    )  # fmt: skip
    assert math.isfinite(train(cfg)["loss/d"])
    checkpoint = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False
    )
    _, module = build(cfg)
    module.load_state_dict(checkpoint["state_dict"])  # strict: same keys, SN buffers included


def test_resnet_trains(make_cfg) -> None:
    cfg = make_cfg(
        *FAST, "model=resnet", "model.generator.width=16", "model.discriminator.width=16",
        "model.generator.latent_dim=8", "data.batch_size=16", "loss=hinge", "~callbacks.evaluation",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["generator_steps"] == 6 and math.isfinite(metrics["loss/d"])


def test_a_generator_without_latent_dim_is_a_config_error() -> None:
    """ganopt draws latent codes of the generator's ``latent_dim``: a user's own generator
    without one is told so, instead of failing inside torch.randn."""
    assert latent_dim(MLPGenerator(shape=(2,), latent_dim=5)) == 5
    with pytest.raises(ConfigError, match=r"\(Linear\) has no latent_dim \(got None\)"):
        latent_dim(torch.nn.Linear(2, 2))
