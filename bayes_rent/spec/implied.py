"""Model-implied moments of the all-y LISREL form, for NumPy draws and PyTensor graphs alike.

    A     = (I − B)⁻¹                                    total-effect operator of the latents
    Σ_η   = A Ψ Aᵀ                                       latent covariance
    Σ     = Λ A Ψ Aᵀ Λᵀ + Θ                              observed covariance
    μ     = ν + Λ A α                                    observed mean

Every backend (PyTensor, inside the PyMC model), every result, the start values and the
simulation (NumPy, vectorized over leading draw axes) compute these moments here and nowhere
else. ``xp`` chooses the array library: ``numpy`` or ``pytensor.tensor``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt


class ImpliedMoments(NamedTuple):
    """Implied moments of one model, with leading draw axes when the matrices have them."""

    sigma: object
    mu: object
    latent_cov: object
    latent_mean: object
    total: object  # A = (I − B)⁻¹


def _swap(x, xp):
    return np.swapaxes(x, -1, -2) if xp is np else x.swapaxes(-1, -2)


def total_operator(b, xp=np):
    """``A = (I − B)⁻¹`` for ``B`` of shape ``(..., m, m)``.

    Examples
    --------
    >>> total_operator(np.array([[0.0, 0.0], [0.5, 0.0]])).round(2).tolist()
    [[1.0, 0.0], [0.5, 1.0]]
    """
    if xp is np:
        eye = np.eye(b.shape[-1])
        return np.linalg.solve(eye - b, np.broadcast_to(eye, b.shape))
    static = b.type.shape[-1]
    eye = np.eye(static) if static is not None else pt.eye(b.shape[-1])
    if b.ndim == 2:
        return pt.linalg.solve(eye - b, eye)
    return pt.linalg.solve(eye - b, pt.broadcast_to(eye, b.shape))


def implied_from_matrices(mats: dict, xp=np) -> ImpliedMoments:
    """Implied moments from the model matrices ``Lambda, B, Psi, Theta, nu, alpha``.

    Parameters
    ----------
    mats : dict
        Matrices with any leading (draw) axes, as :meth:`bayes_rent.spec.layout.Layout.matrices`
        returns them.
    xp : module
        ``numpy`` or ``pytensor.tensor``.

    Returns
    -------
    ImpliedMoments

    Examples
    --------
    >>> mats = dict(Lambda=np.array([[1.0], [0.8]]), B=np.zeros((1, 1)), Psi=np.eye(1),
    ...             Theta=np.eye(2) * 0.5, nu=np.zeros(2), alpha=np.zeros(1))
    >>> implied_from_matrices(mats).sigma.round(2).tolist()
    [[1.5, 0.8], [0.8, 1.14]]
    """
    a = total_operator(mats["B"], xp)
    la = mats["Lambda"] @ a
    latent_cov = a @ mats["Psi"] @ _swap(a, xp)
    sigma = la @ mats["Psi"] @ _swap(la, xp) + mats["Theta"]
    latent_mean = (a @ mats["alpha"][..., None])[..., 0]
    mu = mats["nu"] + (mats["Lambda"] @ latent_mean[..., None])[..., 0]
    return ImpliedMoments(sigma, mu, latent_cov, latent_mean, a)


def implied_moments(layout, elements, xp=np):
    """Model-implied covariance matrix and mean vector from the sampled elements.

    Parameters
    ----------
    layout : bayes_rent.spec.layout.Layout
        Placement of the parameter-table rows.
    elements : array
        Element values on their natural scale, shape ``(..., n_elements)``.
    xp : module
        ``numpy`` (vectorized over leading draw axes) or ``pytensor.tensor``.

    Returns
    -------
    Sigma, mu : arrays
        Shapes ``(..., p, p)`` and ``(..., p)``.
    """
    implied = implied_from_matrices(layout.matrices(layout.row_values(elements, xp=xp), xp=xp), xp)
    return implied.sigma, implied.mu
