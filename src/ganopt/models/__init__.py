"""Generators and discriminators. Each takes the data ``shape`` (filled in at build time from
the datamodule) so one model config serves every data set of a matching kind. Every one takes
``spectral_norm`` (Miyato et al. 2018); generators expose ``latent_dim``; discriminators return
one logit per sample, shape (N,)."""

from ganopt.models.common import (
    apply_spectral_norm,
    count_parameters,
    latent_dim,
    parameter_counts,
)
from ganopt.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganopt.models.mlp import MLPDiscriminator, MLPGenerator
from ganopt.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "apply_spectral_norm",
    "count_parameters",
    "latent_dim",
    "parameter_counts",
]
