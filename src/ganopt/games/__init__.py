"""The game-dynamics lab: games with known answers, played by the training code's update
schemes and optimizers (scripts/games.py), and the game Jacobian's spectrum of a real run."""

from ganopt.games.play import Trajectory, play
from ganopt.games.zoo import Bilinear, DiracGAN, Game

__all__ = ["Bilinear", "DiracGAN", "Game", "Trajectory", "play"]
