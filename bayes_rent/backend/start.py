"""Starting values for the chains: a quick penalized maximum-likelihood optimum.

Marker-identified SEMs have a degenerate region where a latent variance collapses toward zero
while its loadings grow without bound; a chain started from an arbitrary point (or with free
loadings at 0) can fall in and stay there. Starting every chain near the posterior mode, with a
small jitter, avoids that at the cost of a fraction of a second: the optimum is found in plain
numpy, so nothing is compiled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from bayes_rent.backend.layout import Layout
from bayes_rent.backend.marginal import implied_moments, pattern_loglik
from bayes_rent.observed import ObservedMoments

_LOCATION_SD = {"loading": 10.0, "path": 10.0, "intercept": 32.0, "latent_mean": 10.0}


def _to_natural(u: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    x = u.copy()
    sd = kinds == "sd"
    cor = kinds == "correlation"
    x[sd] = np.exp(u[sd])
    x[cor] = np.tanh(u[cor])
    return x


def _initial_guess(layout: Layout, observed: ObservedMoments, std_lv: bool) -> np.ndarray:
    """Loadings at 1, paths at 0, intercepts at the means, half of each variance residual."""
    w = observed.n[:, None] * observed.mask
    means = (observed.mean * w).sum(0) / np.maximum(w.sum(0), 1)
    cov = np.einsum("kij,klj->kil", observed.factor, observed.factor)
    var = np.einsum("kii->ki", cov * observed.n[:, None, None]).sum(0) / np.maximum(w.sum(0), 1)
    var = np.where(var > 0, var, 1.0)
    pt = layout.partable.set_index("id")
    ov = {v: k for k, v in enumerate(layout.observed)}
    u = np.zeros(len(layout.elements))
    for k, e in enumerate(layout.elements):
        row = pt.loc[e.rows[0]]
        if e.kind == "loading":
            u[k] = np.sqrt(np.mean(var) / 2) if std_lv else 1.0
        elif e.kind == "intercept":
            u[k] = means[ov[row.lhs]] if row.lhs in ov else 0.0
        elif e.kind == "sd":
            v = var[ov[row.lhs]] if row.lhs in ov and row.lhs not in layout.latent else np.mean(var)
            u[k] = np.log(np.sqrt(v / 2))
    return u


def _pooled_moments(data: pd.DataFrame) -> ObservedMoments:
    """Complete-data stand-in for data with missing answers: pairwise means and covariances.

    A start needs to be close, not exact; one pattern keeps each objective evaluation to a
    single p×p Cholesky however scattered the missing answers are.
    """
    cov = data.cov(ddof=0).to_numpy()
    w, v = np.linalg.eigh(cov)
    p = cov.shape[0]
    return ObservedMoments(
        variables=list(data.columns),
        n=np.array([int(data.notna().any(axis=1).sum())]),
        mask=np.ones((1, p), dtype=int),
        mean=data.mean().to_numpy()[None, :],
        factor=(v * np.sqrt(np.clip(w, 1e-6 * w.max(), None)))[None],
        n_total=int(data.notna().any(axis=1).sum()),
        pattern_of_row=np.zeros(len(data), dtype=int),
    )


def start_values(
    layout: Layout, observed: ObservedMoments, *, std_lv: bool = False, maxiter: int = 400,
    data: pd.DataFrame | None = None,
) -> np.ndarray:
    """Penalized ML estimate of the elements, on their natural scale.

    The penalty is the default prior (normal on locations, Gamma(1, 0.5) on SDs) plus the
    log-Jacobian of the log/tanh maps, which keeps variances away from zero (no Heywood start).

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    observed : ObservedMoments
        Pattern statistics of the data.
    std_lv : bool
        Whether latent variances are fixed to 1 (loadings then start at a data-based scale).
    maxiter : int
        Iteration limit of L-BFGS.
    data : pandas.DataFrame, optional
        The data; with missing answers the start is computed from pairwise moments.

    Returns
    -------
    numpy.ndarray
        Element values (SDs for variances, correlations for covariances).
    """
    if data is not None and len(observed.n) > 1:
        observed = _pooled_moments(data)
    kinds = np.array([e.kind for e in layout.elements])
    loc_sd = np.array([_LOCATION_SD.get(k, np.inf) for k in kinds])
    args = (observed.n, observed.mask, observed.mean, observed.factor)

    def negative_log_posterior(u: np.ndarray) -> float:
        x = _to_natural(u, kinds)
        sigma, mu = implied_moments(layout, x)
        ll = pattern_loglik(sigma, mu, *args)
        if not np.isfinite(ll):
            return 1e12
        loc = np.isfinite(loc_sd)
        lp = -0.5 * np.sum((x[loc] / loc_sd[loc]) ** 2)
        sd = kinds == "sd"
        lp += np.sum(-0.5 * x[sd] + u[sd])
        cor = kinds == "correlation"
        lp += np.sum(np.log1p(-np.tanh(u[cor]) ** 2 + 1e-300))
        return -(ll + lp)

    u0 = _initial_guess(layout, observed, std_lv)
    res = optimize.minimize(
        negative_log_posterior, u0, method="L-BFGS-B", options={"maxiter": maxiter}
    )
    return _to_natural(res.x, kinds)
