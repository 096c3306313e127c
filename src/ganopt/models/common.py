"""Helpers shared by every architecture: spectral normalization, image-shape checks, sizes."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ganopt.errors import ConfigError

# Layers whose weight spectral normalization constrains (ConvTranspose2d: torch picks dim=1).
_WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def latent_dim(generator: nn.Module) -> int:
    """The length of a generator's latent code: ganopt draws codes of that size for it."""
    size = getattr(generator, "latent_dim", None)
    if not isinstance(size, int) or size < 1:
        raise ConfigError(
            f"the generator ({type(generator).__name__}) has no latent_dim (got {size!r}): a "
            "generator for ganopt says how long its latent code is, as an int attribute."
        )
    return size


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Divide every linear/conv weight of ``module`` by its largest singular value (Miyato et al.
    2018), estimated by one power iteration per training forward pass.

    Call it after the weights are initialised: the parametrization keeps the initial weight as
    ``original`` and normalises what the layer uses. Its ``_u``/``_v`` vectors are buffers, so
    they are saved in and restored from the state_dict (checkpoints, EMA copies).
    """
    for layer in list(module.modules()):  # a list: registering adds submodules
        if isinstance(layer, _WEIGHT_LAYERS):
            spectral_norm(layer)
    return module


def check_image_shape(
    shape: Sequence[int], model: str, resolutions: Sequence[int] | None = None
) -> tuple[int, int, int]:
    """(channels, height, width) of square images, or a ConfigError naming what is allowed."""
    if len(shape) != 3:
        raise ConfigError(
            f"model={model} needs image data (channels, height, width), but this data set has "
            f"samples of shape {tuple(shape)}; use model=mlp for 2D mixtures."
        )
    channels, height, width = (int(s) for s in shape)
    if resolutions is not None and (height != width or height not in resolutions):
        allowed = " or ".join(str(r) for r in resolutions)
        raise ConfigError(
            f"model={model} is built for square {allowed}x{allowed}-pixel images, but the data "
            f"has {height}x{width}; set data.resolution={resolutions[0]}, or use model=dcgan "
            f"(any power of two >= 8, e.g. 64) or model=mlp."
        )
    return channels, height, width


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (a spectral-normalized weight counts once, as its original)."""
    return sum(p.numel() for p in module.parameters())


def parameter_counts(generator: nn.Module, discriminator: nn.Module) -> dict[str, int]:
    """``{"generator": n_G, "discriminator": n_D}``: the model sizes papers report and compare."""
    return {
        "generator": count_parameters(generator),
        "discriminator": count_parameters(discriminator),
    }
