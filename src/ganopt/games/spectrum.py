"""Eigenvalues of a GAN's game Jacobian at a trained checkpoint (Berard et al. 2020).

The game's vector field is v(w) = (∇_θ L_G, ∇_ψ L_D) over the generator's parameters θ and the
discriminator's ψ, on one fixed batch (real examples and latent codes). Its Jacobian J = ∂v/∂w
is not symmetric: complex eigenvalues with a large imaginary part mean rotation (the dynamics
circle the equilibrium instead of approaching it), which is where optimistic and extragradient
methods help; eigenvalues with a negative real part mean the simultaneous gradient step moves
away from the point.

J is never formed: ARPACK (``scipy.sparse.linalg.eigs``) only needs products with it. Each
product is one backward pass through a graph of v built once with ``create_graph``, which gives
Jᵀu; Jᵀ has the same eigenvalues as J. Computed in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigs
from torch import Tensor, nn
from torch.func import functional_call

from ganopt.losses import AdversarialLoss


def vector_field(
    generator: nn.Module,
    discriminator: nn.Module,
    loss: AdversarialLoss,
    real: Tensor,
    z: Tensor,
) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """(w₀, v): the flat float64 parameters of both networks (G first) and v(w) on the batch."""
    names = [[n for n, _ in net.named_parameters()] for net in (generator, discriminator)]
    params = [[p.detach() for p in net.parameters()] for net in (generator, discriminator)]
    shapes = [[p.shape for p in group] for group in params]
    sizes = [[p.numel() for p in group] for group in params]
    w0 = torch.cat([p.flatten() for group in params for p in group]).double()
    split = sum(sizes[0])
    real, z = real.double(), z.double()
    generator, discriminator = generator.double().eval(), discriminator.double().eval()

    def unflatten(flat: Tensor, group: int) -> dict[str, Tensor]:
        pieces = flat.split(sizes[group])
        return {
            name: piece.view(shape)
            for name, piece, shape in zip(names[group], pieces, shapes[group], strict=True)
        }

    def v(w: Tensor) -> Tensor:
        wg, wd = w[:split], w[split:]
        g_params, d_params = unflatten(wg, 0), unflatten(wd, 1)
        fake = functional_call(generator, g_params, (z,))
        loss_g = loss.generator(functional_call(discriminator, d_params, (fake,)))
        loss_d = loss.discriminator(
            functional_call(discriminator, d_params, (real,)),
            functional_call(discriminator, d_params, (fake,)),
        )
        grad_g = torch.autograd.grad(loss_g, list(g_params.values()), create_graph=True)
        grad_d = torch.autograd.grad(loss_d, list(d_params.values()), create_graph=True)
        return torch.cat([g.flatten() for g in (*grad_g, *grad_d)])

    return w0, v


def jacobian_operator(w0: Tensor, v: Callable[[Tensor], Tensor]) -> LinearOperator:
    """u ↦ Jᵀu at w₀, one backward pass per product through a graph of v built once."""
    w = w0.clone().requires_grad_(True)
    field = v(w)
    n = w.numel()

    def matvec(u: np.ndarray) -> np.ndarray:
        direction = torch.from_numpy(np.real(np.asarray(u, dtype=np.float64)).reshape(-1))
        (product,) = torch.autograd.grad(field, w, grad_outputs=direction, retain_graph=True)
        return product.numpy()

    return LinearOperator((n, n), matvec=matvec, dtype=np.float64)


def top_eigenvalues(operator: LinearOperator, k: int, which: str = "LM") -> np.ndarray:
    """The k eigenvalues of the operator with the largest magnitude ("LM") or real part
    ("LR"), sorted by magnitude (scipy's ARPACK, seeded start vector: repeatable)."""
    start = np.random.default_rng(0).standard_normal(operator.shape[0])
    values = eigs(operator, k=k, which=which, v0=start, return_eigenvectors=False, tol=1e-10)
    return values[np.argsort(-np.abs(values))]
