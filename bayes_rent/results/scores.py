"""Posterior latent scores per respondent for the marginal backend.

The marginal backend integrates the latent variables out while sampling, but their posterior is
available afterwards in closed form: for each posterior draw θ the scores of respondent i are
normal given the answers,

    η_i | y_i, θ ~ N( κ + Φ Λ_oᵀ Σ_oo⁻¹ (y_io − μ_o),  Φ − Φ Λ_oᵀ Σ_oo⁻¹ Λ_o Φ )

with Φ = (I − B)⁻¹ Ψ (I − B)⁻ᵀ, κ = (I − B)⁻¹ α and ``o`` the items the respondent answered.
Drawing one score vector per posterior draw gives the joint posterior of the scores (parameter
uncertainty and score uncertainty together), which the grey-coupling analysis consumes. Both
the means and the draws go through one precision matrix per posterior draw, whatever the
respondents' missingness patterns (:func:`answer_precision_terms`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_rent.results.standardized import labelled_moments


def answer_precision_terms(
    lam: np.ndarray, sigma: np.ndarray, resid: np.ndarray, observed: np.ndarray,
) -> np.ndarray:
    """``Λ_oᵀ Σ_oo⁻¹ r_o`` of every respondent and draw, ``(S, n, k)``.

    One precision matrix ``P = Σ⁻¹`` per draw serves every missingness pattern: with the
    missing items ``M`` and the residuals ``r̃`` set to 0 there, the Schur complement gives
    ``Λ_oᵀ Σ_oo⁻¹ r_o = Λ̃ᵀ P r̃ − (PΛ̃)_Mᵀ P_MM⁻¹ (P r̃)_M``, where ``Λ̃`` is ``Λ`` with the rows
    ``M`` set to 0. A respondent then costs a solve of the size of their missing answers, which
    matters when nearly every respondent has a pattern of their own.

    Parameters
    ----------
    lam, sigma : numpy.ndarray
        Loadings ``(S, p, k)`` and implied covariance ``(S, p, p)`` per draw.
    resid : numpy.ndarray
        ``(S, n, p)`` residuals of the answers (any finite value where not observed).
    observed : numpy.ndarray
        ``(n, p)`` bool, which answers were given.
    """
    precision = np.linalg.inv(sigma)
    p_lam = precision @ lam  # PΛ, (S, p, k)
    resid = np.where(observed, resid, 0.0)
    out = resid @ p_lam  # Λᵀ P r̃
    n_missing = (~observed).sum(axis=1)
    for m in np.unique(n_missing[n_missing > 0]):
        group = np.flatnonzero(n_missing == m)
        miss = np.nonzero(~observed[group])[1].reshape(len(group), m)  # (g, m)
        p_mm = precision[:, miss[:, :, None], miss[:, None, :]]  # (S, g, m, m)
        lam_m = lam[:, miss]  # Λ_M, (S, g, m, k)
        c_m = p_lam[:, miss] - p_mm @ lam_m  # (PΛ̃)_M
        a_m = np.take_along_axis(resid[:, group] @ precision, miss[None], axis=-1)  # (P r̃)_M
        t = np.linalg.solve(p_mm, a_m[..., None])  # P_MM⁻¹ (P r̃)_M
        # Λ̃ᵀ P r̃ = Λᵀ P r̃ − Λ_Mᵀ (P r̃)_M
        out[:, group] -= (np.swapaxes(lam_m, -1, -2) @ a_m[..., None]
                          + np.swapaxes(c_m, -1, -2) @ t)[..., 0]
    return out


def conditional_score_means(
    lam: np.ndarray, phi: np.ndarray, kappa: np.ndarray, sigma: np.ndarray, mu: np.ndarray,
    y: np.ndarray, observed: np.ndarray,
) -> np.ndarray:
    """``E[η_i | y_i,o, θ] = κ + Φ Λ_oᵀ Σ_oo⁻¹ (y_o − μ_o)`` per draw, ``(S, n, k)``.

    Parameters
    ----------
    lam, phi, kappa, sigma, mu : numpy.ndarray
        Per draw ``S``: loadings ``(S, p, k)``, latent covariance ``(S, k, k)`` and mean
        ``(S, k)``, implied covariance ``(S, p, p)`` and mean ``(S, p)``.
    y : numpy.ndarray
        ``(n, p)`` answers (NaN where missing).
    observed : numpy.ndarray
        ``(n, p)`` bool, which answers were given.
    """
    resid = np.nan_to_num(y)[None] - mu[:, None, :]
    return kappa[:, None, :] + answer_precision_terms(lam, sigma, resid, observed) @ phi


def conditional_score_draws(
    lam: np.ndarray, phi: np.ndarray, kappa: np.ndarray, theta: np.ndarray, sigma: np.ndarray,
    mu: np.ndarray, y: np.ndarray, observed: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:
    """One draw of every respondent's scores from ``η_i | y_i,o, θ`` per draw, ``(S, n, k)``.

    Drawn by conditioning a draw of the model itself (Matheron's rule): with ``η* ~ N(κ, Φ)``
    and ``y* = μ + Λ(η* − κ) + ε*``, ``ε* ~ N(0, Θ)``, the vector
    ``η* + Φ Λ_oᵀ Σ_oo⁻¹ (y_o − y*_o)`` has exactly the conditional distribution. No
    respondent needs a covariance matrix of their own.

    Parameters
    ----------
    theta : numpy.ndarray
        ``(S, p, p)`` residual covariances; the other arguments as in
        :func:`conditional_score_means`.
    rng : numpy.random.Generator
        Source of the draws.
    """
    n, (draws, p, k) = len(y), lam.shape
    # a tiny ridge keeps the factors defined where a variance is 0 (an observed regressor)
    chol_phi = np.linalg.cholesky(phi + 1e-12 * np.eye(k))
    chol_theta = np.linalg.cholesky(theta + 1e-12 * np.eye(p))
    eta = kappa[:, None, :] + rng.standard_normal((draws, n, k)) @ np.swapaxes(chol_phi, -1, -2)
    y_model = (mu[:, None, :] + (eta - kappa[:, None, :]) @ np.swapaxes(lam, -1, -2)
               + rng.standard_normal((draws, n, p)) @ np.swapaxes(chol_theta, -1, -2))
    resid = np.nan_to_num(y)[None] - y_model
    return eta + answer_precision_terms(lam, sigma, resid, observed) @ phi


def latent_scores(fit, *, kind: str = "draws", seed: int | None = None) -> xr.DataArray:
    """Posterior latent scores of every respondent.

    Parameters
    ----------
    fit : bayes_rent.Fit
        A fit of the marginal backend.
    kind : {"draws", "mean"}
        ``"draws"``: one draw from the conditional distribution per posterior draw (the
        posterior of the scores); ``"mean"``: the conditional means only (EAP per draw).
    seed : int, optional
        Seed of the conditional draws.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, respondent, construct)``; ``respondent`` carries the data's index,
        ``construct`` the latent variables (phantoms excluded).

    Examples
    --------
    >>> scores = fit.scores()  # doctest: +SKIP
    >>> scores.sel(construct="dem60").mean(("chain", "draw"))  # doctest: +SKIP
    """
    if kind not in ("draws", "mean"):
        raise ValueError("kind must be 'draws' or 'mean'")
    mats = fit.matrices
    implied = labelled_moments(mats)
    lead = mats["Lambda"].shape[:2]
    flat = {name: arr.reshape((-1,) + arr.shape[2:]) for name, arr in (
        ("lam", mats["Lambda"].values), ("phi", implied["latent_cov"].values),
        ("kappa", implied["latent_mean"].values), ("theta", mats["Theta"].values),
        ("sigma", implied["observed_cov"].values), ("mu", implied["observed_mean"].values))}
    y = fit.data.to_numpy(dtype=float)
    moments = fit.moments
    rows = np.flatnonzero(moments.pattern_of_row >= 0)  # rows with no answer stay NaN
    observed = moments.mask.astype(bool)[moments.pattern_of_row[rows]]
    keep = np.flatnonzero(~fit.layout.phantom)
    out = np.full((flat["phi"].shape[0], y.shape[0], len(keep)), np.nan)
    rng = np.random.default_rng(seed)
    # draws in slices so that the (draw, respondent, item) arrays stay near 16 MB
    step = max(1, 2_000_000 // max(len(rows) * y.shape[1], 1))
    for start in range(0, out.shape[0], step):
        part = {name: arr[start:start + step] for name, arr in flat.items()}
        if kind == "draws":
            scores = conditional_score_draws(**part, y=y[rows], observed=observed, rng=rng)
        else:
            part.pop("theta")
            scores = conditional_score_means(**part, y=y[rows], observed=observed)
        out[start:start + step, rows] = scores[..., keep]
    return xr.DataArray(
        out.reshape(lead + out.shape[1:]),
        dims=("chain", "draw", "respondent", "construct"),
        coords={
            "chain": mats["chain"].values, "draw": mats["draw"].values,
            "respondent": fit.data.index.to_numpy(),
            "construct": [fit.layout.latent[k] for k in keep],
        },
        name="scores",
    )
