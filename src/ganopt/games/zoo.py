"""Two-player games with known dynamics, whose players are stepped like the networks of a GAN.

Each game holds a minimising player x (the generator's side) and a maximising player y (the
discriminator's side) as ``nn.Module``s, and gives each player its loss, so the update schemes
of :mod:`ganopt.updates` and the project's optimizers play them exactly as they train a GAN.
Both games have their equilibrium at the origin.

- ``Bilinear``: min_x max_y x·y (+ q/2·x² − q/2·y² with ``quadratic`` q > 0, which makes it
  strongly monotone). The vector field is (y + qx, −x + qy); the Jacobian's eigenvalues are
  q ± i: a pure rotation when q = 0.
- ``DiracGAN`` (Mescheder et al. 2018): data δ₀, generator δ_θ, discriminator D(x) = ψ·x, with
  the project's adversarial losses and discriminator regularizers. Unregularized, the Jacobian
  at the equilibrium has eigenvalues ±f′(0)·i and training does not converge; R1 (γ/2·ψ²)
  gives them a negative real part.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ganopt.losses import AdversarialLoss
from ganopt.regularizers import Regularizer


class Scalar(nn.Module):
    """One real parameter: a player of a two-dimensional game."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value), dtype=torch.float64))

    def forward(self, x: Tensor | None = None) -> Tensor:
        return self.value if x is None else self.value * x


class Game:
    """Base: two scalar players started at (x0, y0); subclasses give the two losses."""

    name = "game"
    axes = ("x", "y")

    def __init__(self, x0: float = 1.0, y0: float = 1.0) -> None:
        self.x, self.y = Scalar(x0), Scalar(y0)
        self.step = 0  # updates played so far: what lazy regularizers count

    def loss_x(self) -> Tensor:  # minimised by x
        raise NotImplementedError

    def loss_y(self) -> Tensor:  # minimised by y (the maximising player's loss, negated)
        raise NotImplementedError

    def attach(self, optimizer_y: torch.optim.Optimizer) -> None:
        """Hook the y player's optimizer (weight clipping after each of its steps)."""

    @property
    def point(self) -> tuple[float, float]:
        return self.x.value.item(), self.y.value.item()

    def field(self, x: float, y: float) -> tuple[float, float]:
        """The simultaneous update direction −(∂L_x/∂x, ∂L_y/∂y) at (x, y): the vector field
        of gradient descent-ascent, computed with the players' own losses."""
        saved = self.point
        with torch.no_grad():
            self.x.value.fill_(x)
            self.y.value.fill_(y)
        try:
            (gx,) = torch.autograd.grad(self.loss_x(), self.x.value)
            (gy,) = torch.autograd.grad(self.loss_y(), self.y.value)
        finally:
            with torch.no_grad():
                self.x.value.fill_(saved[0])
                self.y.value.fill_(saved[1])
        return -float(gx), -float(gy)


class Bilinear(Game):
    name = "bilinear"

    def __init__(self, x0: float = 1.0, y0: float = 1.0, quadratic: float = 0.0) -> None:
        super().__init__(x0, y0)
        self.quadratic = quadratic

    def loss_x(self) -> Tensor:
        x, y = self.x(), self.y().detach()
        return x * y + 0.5 * self.quadratic * x**2

    def loss_y(self) -> Tensor:
        x, y = self.x().detach(), self.y()
        return -x * y + 0.5 * self.quadratic * y**2


class DiracGAN(Game):
    """θ = ``x`` (the generator's point mass), ψ = ``y`` (the discriminator's slope)."""

    name = "dirac"
    axes = ("θ (generator)", "ψ (discriminator)")

    def __init__(
        self,
        loss: AdversarialLoss,
        regularizers: Mapping[str, Regularizer] | None = None,
        x0: float = 1.0,
        y0: float = 1.0,
    ) -> None:
        super().__init__(x0, y0)
        self.loss, self.regularizers = loss, dict(regularizers or {})
        self.real = torch.zeros(1, 1, dtype=torch.float64)  # the data: a point mass at 0

    def fake(self) -> Tensor:
        return self.x().reshape(1, 1)

    def loss_x(self) -> Tensor:
        return self.loss.generator(self.y(self.fake()))

    def loss_y(self) -> Tensor:
        fake = self.fake().detach()
        loss = self.loss.discriminator(self.y(self.real), self.y(fake))
        for regularizer in self.regularizers.values():
            penalty = regularizer(self.y, self.real, fake, step=self.step)
            if penalty is not None:
                loss = loss + penalty
        return loss

    def attach(self, optimizer_y: torch.optim.Optimizer) -> None:
        for regularizer in self.regularizers.values():
            regularizer.attach(optimizer_y, self.y)
