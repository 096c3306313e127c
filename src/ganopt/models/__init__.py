"""Generators and discriminators. Each takes the data ``shape`` (filled in at build time from
the datamodule) so one model config serves every data set of a matching kind."""

from ganopt.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganopt.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator"]
