"""The marginal backend: continuous indicators with the latent variables integrated out.

The PyMC model samples only the structural and measurement parameters. The likelihood is the
multivariate normal density of the data written through each missingness pattern's sufficient
statistics (``docs/architecture.md``)::

    log L = sum_k -N_k/2 [p_k log 2π + log|Σ_k| + tr(Σ_k⁻¹ S_k) + (ȳ_k − μ_k)ᵀ Σ_k⁻¹ (ȳ_k − μ_k)]

where Σ_k, μ_k are the model-implied moments restricted to the variables pattern k observed.
All patterns are evaluated at once: each Σ_k is padded to full size with an identity block on
the unobserved variables, which leaves the log-determinant, the trace and the quadratic form of
the observed block unchanged, so one batched Cholesky serves every pattern.

The data enter as ``pm.Data``, so a compiled model can take a new data set of the same shape
(a simulation replicate, a bootstrap) without being rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_rent.backend.parameters import PriorGroup, element_vector
from bayes_rent.data.observed import ObservedMoments
from bayes_rent.spec.implied import implied_moments
from bayes_rent.spec.layout import Layout


def pattern_loglik(sigma, mu, n, mask, mean, factor, xp=np):
    """Sum over missingness patterns of the normal log-likelihood from sufficient statistics.

    Parameters
    ----------
    sigma, mu : arrays
        Implied moments, shapes ``(..., p, p)`` and ``(..., p)``.
    n, mask, mean, factor : arrays
        Pattern statistics (see :class:`bayes_rent.data.observed.ObservedMoments`).
    xp : module
        ``numpy`` or ``pytensor.tensor``.

    Returns
    -------
    array
        The log-likelihood, with the leading shape of ``sigma``; ``-inf`` where Σ is not
        positive definite.
    """
    both = mask[:, :, None] * mask[:, None, :]
    eye = np.eye(mask.shape[-1]) if xp is np else pt.eye(mask.shape[-1])
    if xp is np:
        padded = both * sigma[..., None, :, :] + (1.0 - both) * eye
        resid = (mean - mu[..., None, :]) * mask
        try:
            chol = np.linalg.cholesky(padded)
        except np.linalg.LinAlgError:
            return np.full(sigma.shape[:-2], -np.inf)
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        z = np.linalg.solve(chol, factor)
        q = np.linalg.solve(chol, resid[..., None])[..., 0]
        trace = (z**2).sum((-2, -1))
        quad = (q**2).sum(-1)
        ll = -0.5 * n * (mask.sum(-1) * np.log(2 * np.pi) + logdet + trace + quad)
        return ll.sum(-1)
    padded = both * sigma[None] + (1.0 - both) * eye
    resid = (mean - mu[None]) * mask
    chol = pt.linalg.cholesky(padded, lower=True, on_error="nan")
    logdet = 2.0 * pt.log(pt.diagonal(chol, axis1=1, axis2=2)).sum(-1)
    z = pt.linalg.solve_triangular(chol, factor, lower=True, b_ndim=2)
    q = pt.linalg.solve_triangular(chol, resid, lower=True, b_ndim=1)
    trace = (z**2).sum((1, 2))
    quad = (q**2).sum(-1)
    ll = (-0.5 * n * (mask.sum(-1) * np.log(2 * np.pi) + logdet + trace + quad)).sum()
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def augmented_loglik(sigma, mu, filled):
    """Complete-data normal log-likelihood of a data matrix whose gaps hold sampled values.

    Parameters
    ----------
    sigma, mu : tensors
        Implied moments.
    filled : tensor
        ``(N, p)`` data with every missing answer replaced by its sampled value.
    """
    n = filled.shape[0]
    centred = filled - mu[None, :]
    chol = pt.linalg.cholesky(sigma, lower=True, on_error="nan")
    z = pt.linalg.solve_triangular(chol, centred.T, lower=True, b_ndim=2)
    logdet = 2.0 * pt.log(pt.diagonal(chol)).sum()
    ll = -0.5 * (n * (sigma.shape[0] * np.log(2 * np.pi) + logdet) + (z**2).sum())
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def build_model(
    layout: Layout,
    observed: ObservedMoments,
    groups: list[PriorGroup],
    missing_cells: tuple[np.ndarray, np.ndarray] | None = None,
    filled: np.ndarray | None = None,
) -> pm.Model:
    """Build the PyMC model of the marginal backend.

    Two likelihoods compute the same posterior of the parameters under MAR:

    * by missingness pattern (the default): one padded Cholesky per pattern, cost independent
      of N for complete data;
    * with data augmentation, when answers are missing in a scattered way (nearly every
      respondent its own pattern): the missing answers are sampled as parameters
      (``missing_answers``) and the likelihood is the complete-data one, whose cost is one
      Cholesky plus O(N p²) per gradient instead of one Cholesky per pattern.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    observed : ObservedMoments
        Pattern statistics of the data.
    groups : list of PriorGroup
        Sampled vectors with their priors (:func:`prior_groups`).
    missing_cells : tuple of arrays, optional
        Row and column indices of the missing answers; switches on data augmentation.
    filled : numpy.ndarray, optional
        The data with missing answers set to any value (they are replaced by the sampled ones).

    Returns
    -------
    pymc.Model
        Free variables named after the parameter kinds (``loadings``, ``paths``, ``sds``, ...)
        with labelled dims; the data are ``pm.Data`` so the compiled model can be reused.
    """
    coords = {
        g.dim: [layout.elements[k].name for k in g.elements] for g in groups
    }
    if missing_cells is not None:
        coords["missing_answer"] = [
            f"{layout.observed[j]}[{i}]" for i, j in zip(*missing_cells, strict=True)
        ]
    with pm.Model(coords=coords) as model:
        if missing_cells is None:
            data = {name: pm.Data(name, value) for name, value in observed.as_data().items()}
        elements = element_vector(groups, prior_data=True)
        sigma, mu = implied_moments(layout, elements, xp=pt)
        if missing_cells is None:
            loglik = pattern_loglik(
                sigma, mu, data["pattern_n"], data["pattern_mask"], data["pattern_mean"],
                data["pattern_factor"], xp=pt,
            )
        else:
            # the missing answers' density is the model's own: a flat prior on them leaves
            # p(y_mis | y_obs, θ) exactly as the normal model implies
            answers = pm.Flat("missing_answers", dims="missing_answer")
            y = pt.set_subtensor(pm.Data("filled_data", filled)[missing_cells], answers)
            loglik = augmented_loglik(sigma, mu, y)
        pm.Potential("loglik", loglik)
    return model


def chunks(total: int, per_item: int, budget: int = 2_000_000) -> Iterator[slice]:
    """Slices of ``total`` draws so that a temporary array stays near ``budget`` floats (~16 MB)."""
    step = max(1, budget // max(per_item, 1))
    for start in range(0, total, step):
        yield slice(start, min(start + step, total))


def respondent_loglik(
    y: np.ndarray, pattern_of_row: np.ndarray, mask: np.ndarray, sigma: np.ndarray,
    mu: np.ndarray,
) -> np.ndarray:
    """Per-respondent normal log-density, shape ``(S, n_rows)``; rows with no answers drop out.

    One Cholesky factor and precision matrix ``P = Σ⁻¹`` per draw serve every missingness
    pattern: with missing items ``m`` and observed ``o``, ``Σ_oo⁻¹ = P_oo − P_om P_mm⁻¹ P_mo``
    and ``log|Σ_oo| = log|Σ| + log|P_mm|``, so a respondent costs a solve of the size of their
    missing answers, not a factorization of their observed ones. That matters when answers are
    missing in a scattered way and nearly every respondent has a pattern of their own.

    Parameters
    ----------
    y : numpy.ndarray
        ``(N, p)`` answers (NaN where missing).
    pattern_of_row, mask : numpy.ndarray
        Each row's missingness pattern and the patterns' masks
        (:class:`bayes_rent.data.observed.ObservedMoments`).
    sigma, mu : numpy.ndarray
        Implied moments for ``S`` draws, ``(S, p, p)`` and ``(S, p)``.

    Examples
    --------
    The second row misses its second answer: its density is the first item's alone.

    >>> from scipy import stats
    >>> sigma = np.array([[[1.0, 0.5], [0.5, 2.0]]]); mu = np.zeros((1, 2))
    >>> y = np.array([[0.3, -1.0], [0.3, np.nan]])
    >>> ll = respondent_loglik(y, np.array([0, 1]), np.array([[True, True], [True, False]]),
    ...                        sigma, mu)
    >>> bool(np.isclose(ll[0, 1], stats.norm.logpdf(0.3)))
    True
    """
    keep = pattern_of_row >= 0
    rows = np.flatnonzero(keep)
    observed = mask[pattern_of_row[rows]].astype(bool)  # (n, p)
    filled = np.where(observed, np.nan_to_num(y[rows]), 0.0)
    n_observed = observed.sum(axis=1)
    n_missing = observed.shape[1] - n_observed
    out = np.empty((sigma.shape[0], len(rows)))
    p = sigma.shape[-1]
    for sl in chunks(sigma.shape[0], len(rows) * p + p * p):
        chol = np.linalg.cholesky(sigma[sl])
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)  # (s,)
        precision = np.linalg.inv(sigma[sl])
        # residuals with the missing answers set to 0, so P r̃ restricted to o is P_oo r_o
        resid = np.where(observed, filled[None] - mu[sl][:, None, :], 0.0)  # (s, n, p)
        p_resid = resid @ precision  # (s, n, p); P is symmetric
        quad = (resid * p_resid).sum(-1)
        logdet_rows = np.broadcast_to(logdet[:, None], quad.shape).copy()
        for m in np.unique(n_missing[n_missing > 0]):
            group = np.flatnonzero(n_missing == m)
            missing = np.nonzero(~observed[group])[1].reshape(len(group), m)  # (g, m)
            p_mm = precision[:, missing[:, :, None], missing[:, None, :]]  # (s, g, m, m)
            v = np.take_along_axis(p_resid[:, group], missing[None], axis=-1)  # (s, g, m)
            chol_mm = np.linalg.cholesky(p_mm)
            w = np.linalg.solve(chol_mm, v[..., None])[..., 0]  # L⁻¹ v
            quad[:, group] -= (w**2).sum(-1)
            logdet_rows[:, group] += 2.0 * np.log(
                np.diagonal(chol_mm, axis1=-2, axis2=-1)).sum(-1)
        out[sl] = -0.5 * (n_observed * np.log(2 * np.pi) + logdet_rows + quad)
    return out
