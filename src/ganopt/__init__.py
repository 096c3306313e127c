"""ganopt: a Lightning + Hydra template for training GANs, built around the choice of optimizer."""

__version__ = "0.1.0"
