"""Posterior latent scores per respondent for the marginal backend.

The marginal backend integrates the latent variables out while sampling, but their posterior is
available afterwards in closed form: for each posterior draw θ the scores of respondent i are
normal given the answers,

    η_i | y_i, θ ~ N( κ + Φ Λ_oᵀ Σ_oo⁻¹ (y_io − μ_o),  Φ − Φ Λ_oᵀ Σ_oo⁻¹ Λ_o Φ )

with Φ = (I − B)⁻¹ Ψ (I − B)⁻ᵀ, κ = (I − B)⁻¹ α and ``o`` the items the respondent answered.
Drawing one score vector per posterior draw gives the joint posterior of the scores (parameter
uncertainty and score uncertainty together), which the grey-coupling analysis consumes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_rent.results.standardized import labelled_moments


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
    lam = mats["Lambda"].values
    implied = labelled_moments(mats)
    phi = implied["latent_cov"].values
    kappa = implied["latent_mean"].values
    sigma = implied["observed_cov"].values
    mu = implied["observed_mean"].values
    y = fit.data.to_numpy(dtype=float)
    moments = fit.moments
    keep = np.flatnonzero(~fit.layout.phantom)
    lead = lam.shape[:2]
    out = np.full(lead + (y.shape[0], len(keep)), np.nan)
    rng = np.random.default_rng(seed)
    # one block per missingness pattern; within it everything is vectorized over draws
    for k, pattern in enumerate(moments.mask.astype(bool)):
        rows = np.flatnonzero(moments.pattern_of_row == k)
        o = np.flatnonzero(pattern)
        lam_o = lam[..., o, :]
        gain = np.swapaxes(
            np.linalg.solve(sigma[..., o[:, None], o], lam_o @ phi), -1, -2
        )  # Φ Λ_oᵀ Σ_oo⁻¹, shape (chain, draw, m, |o|)
        resid = y[rows][:, o][None, None] - mu[..., None, o]
        mean = kappa[..., None, :] + resid @ np.swapaxes(gain, -1, -2)
        if kind == "draws":
            cov = phi - gain @ lam_o @ phi
            cov = cov[..., keep[:, None], keep]
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(keep)))
            z = rng.standard_normal(lead + (len(rows), len(keep)))
            out[..., rows, :] = mean[..., keep] + z @ np.swapaxes(chol, -1, -2)
        else:
            out[..., rows, :] = mean[..., keep]
    return xr.DataArray(
        out,
        dims=("chain", "draw", "respondent", "construct"),
        coords={
            "chain": mats["chain"].values, "draw": mats["draw"].values,
            "respondent": fit.data.index.to_numpy(),
            "construct": [fit.layout.latent[k] for k in keep],
        },
        name="scores",
    )
