"""Bayesian fit: pointwise log-likelihood, LOO/WAIC, PPP and blavaan's χ²-based fit indices.

Everything here is computed per posterior draw, vectorized over ``(chain, draw)`` with numpy
(draws are processed in chunks so memory stays bounded); the only Python loops run over
missingness patterns and EM iterations, never over draws.

The quantities
--------------
Let ℓ(θ; y) be the multivariate normal log-likelihood of the data at the model-implied moments
Σ(θ), μ(θ) (for a respondent with missing answers, the marginal density of the answers given),
and ℓ_sat(y) the log-likelihood of the saturated model at its maximum (free mean vector and
covariance matrix).

* **Pointwise log-likelihood** (for LOO and WAIC): ``log N(y_i,o | μ_o(θ), Σ_oo(θ))`` for every
  respondent i and draw, stored as ``idata.log_likelihood["y"]`` (dims chain, draw,
  respondent).
* **χ² per draw**: ``χ²(θ) = 2 (ℓ_sat(y) − ℓ(θ; y))``.
* **PPP** (blavaan's ``postpred``): for every draw, a replicate y_rep with the
  same respondents and the same missingness pattern is drawn from N(μ(θ), Σ(θ)), and
  ``χ²_rep(θ) = 2 (ℓ_sat(y_rep) − ℓ(θ; y_rep))``; ``PPP = mean(χ²_rep ≥ χ²)``.
  Only the sufficient statistics of y_rep are needed, so they are drawn directly: per
  pattern with n_k respondents over p_k answered variables, ``ȳ ~ N(μ_o, Σ_oo / n_k)`` and
  ``n_k S ~ Wishart(n_k − 1, Σ_oo)`` (Bartlett decomposition), independent. That is the exact
  distribution of the mean and covariance of n_k normal rows, at a cost that does not grow with
  N. Patterns with ``n_k ≤ p_k`` (singular Wishart) are drawn row by row.
* **Saturated model with missing data**: ℓ_sat needs the ML estimate of the unrestricted mean
  and covariance under MAR, which has no closed form. It is found by EM (the same choice as
  lavaan's h1 model and blavaan's PPP with missing data), run on the per-pattern sufficient
  statistics and vectorized over draws: once for the observed data and once per replicate
  (started at the generating μ(θ), Σ(θ), so few iterations are needed). EM stops when the
  log-likelihood changes by less than ``1e-10·(1+|ℓ|)``; the remaining error in χ² is far below
  anything that matters for PPP. With complete data ℓ_sat has its closed form.
* **blavaan's BayesChiFit** (``rescale = "devM"``, R/ctr_bayes_fit.R of blavaan, after
  Garnier-Villarreal & Jorgensen 2020 and Hoofs et al. 2018), with ``p* = p(p+1)/2 + p``
  moments (mean structure), ``pD`` = p_loo of the fit and N respondents::

      nonc        = max(χ² − p*, 0)                 (= χ² − pD − (p* − pD))
      BRMSEA      = sqrt(nonc / ((p* − pD) N))
      BGammaHat   = p / (p + 2 nonc / N)
      adjBGammaHat = 1 − (p* / (p* − pD)) (1 − BGammaHat)
      BMc         = exp(−nonc / (2N))

  and with a null (independence) model fitted to the same data, its χ²₀ and pD₀::

      BCFI = 1 − nonc / (χ²₀ − p*)
      BTLI = ((χ²₀ − pD₀)/(p* − pD₀) − (χ² − pD)/(p* − pD)) / ((χ²₀ − pD₀)/(p* − pD₀) − 1)
      BNFI = ((χ²₀ − pD₀) − (χ² − pD)) / (χ²₀ − pD₀)

  Draws of the model and of the null model are paired by position, as in blavaan.
* **SRMR** per draw: lavaan's default for continuous data (Bentler's, ``cor.bentler``
  residuals): ``r_ij = (s_ij − σ_ij(θ)) / sqrt(s_ii s_jj)`` over the p(p+1)/2 non-duplicated
  elements (diagonal included), ``SRMR = sqrt(mean r_ij²)``, with S the ML sample covariance
  (divided by N), or its EM estimate with missing data. This is lavaan's ``srmr`` for a model
  without mean structure (``srmr_bentler_nomean``), the number lavaan prints for a ``cfa()`` or
  ``sem()`` on complete data. Mean residuals are left out because the Bayesian model's
  intercepts are saturated; they would only add posterior noise.
* **χ² at the posterior mean and df** (for orientation only, to set beside lavaan's ML test):
  χ² evaluated at the model matrices' posterior means, ``df = p* − q`` with q free parameters
  (equality-constrained parameters counted once).

Ordinal items
-------------
A fit with ordinal items (ordered probit) has no normal likelihood and no normal saturated
model, so the χ² above and everything built on it (BRMSEA, BGammaHat, BMc, BCFI, BTLI, BNFI)
and SRMR are not defined for it. Its PPP uses discrepancies that are defined for ordinal
answers, computed on every item pair's cross table against the model-implied probabilities
(:mod:`bayes_rent.results.ordinal_ppp`): by default the correlation component of each pair's
Pearson χ² (one df per pair), with the Pearson χ² over all cells beside it. :func:`ppp`,
:func:`fit_index_draws` and :func:`fit_indices` switch to it for such fits, and the table
names every index that is not defined, with the reason. LOO and WAIC are defined (latent
scores integrated out).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend.marginal import chunks
from bayes_rent.backend.parameters import element_draws
from bayes_rent.data.observed import saturated_loglik_at
from bayes_rent.results.fitted import FittedModel
from bayes_rent.results.ordinal_ppp import ordinal_fit_indices, ordinal_ppp, ordinal_ppp_draws
from bayes_rent.results.summary import summarize_draws
from bayes_rent.spec.implied import implied_from_matrices, implied_moments

__all__ = [
    "SaturatedMoments",
    "add_log_likelihood",
    "bayes_chi_fit",
    "fit_index_draws",
    "fit_indices",
    "fit_null_model",
    "log_likelihood",
    "loo",
    "moment_loglik",
    "null_model_syntax",
    "ppp",
    "saturated_moments",
    "srmr",
    "waic",
]

_LOG_2PI = float(np.log(2.0 * np.pi))
# null fits made by fit_indices, kept while the fit lives so a second call does not refit
_NULL_FITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _swap(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _implied(fit: FittedModel) -> tuple[np.ndarray, np.ndarray]:
    """Σ(θ) and μ(θ) per draw, shapes (chain, draw, p, p) and (chain, draw, p)."""
    el = element_draws(fit.idata.posterior, fit.groups, len(fit.layout.elements))
    return implied_moments(fit.layout, el)


def _pattern_cov(fit: FittedModel) -> np.ndarray:
    f = fit.moments.factor
    return f @ _swap(f)


# ------------------------------------------------------------------------ log-likelihoods
def moment_loglik(
    sigma: np.ndarray,
    mu: np.ndarray,
    n: np.ndarray,
    mask: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
) -> np.ndarray:
    """Normal log-likelihood from per-pattern sufficient statistics, summed over patterns.

    The same quantity as :func:`bayes_rent.backend.marginal.pattern_loglik`, but taking the
    pattern covariances themselves (which may be singular, for patterns with few respondents)
    and allowing the statistics to vary over the leading (draw) axes, as replicated data do.

    Parameters
    ----------
    sigma, mu : numpy.ndarray
        Moments, shapes ``(..., p, p)`` and ``(..., p)``.
    n : numpy.ndarray
        Shape ``(K,)``: respondents per pattern.
    mask : numpy.ndarray
        Shape ``(K, p)``: 1 where the pattern observes the variable.
    mean, cov : numpy.ndarray
        Pattern means ``(..., K, p)`` and covariances divided by n ``(..., K, p, p)``, zero
        where not observed; leading axes broadcast against those of ``sigma``.

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).normal(size=(50, 2))
    >>> m, s = y.mean(0), np.cov(y.T, bias=True)
    >>> ll = moment_loglik(np.eye(2), np.zeros(2), np.array([50]), np.ones((1, 2)),
    ...                    m[None], s[None])
    >>> bool(np.isclose(ll, -0.5 * (y**2).sum() - 50 * np.log(2 * np.pi)))
    True
    """
    mask = np.asarray(mask, dtype=float)
    n = np.asarray(n, dtype=float)
    both = mask[:, :, None] * mask[:, None, :]
    eye = np.eye(mask.shape[-1])
    # unobserved variables get an identity block: it leaves the observed block's
    # determinant, inverse and quadratic forms unchanged and lets all patterns share one batch
    padded = both * sigma[..., None, :, :] + (1.0 - both) * eye
    chol = np.linalg.cholesky(padded)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    inv = np.linalg.inv(padded) * both
    trace = (inv * cov).sum((-2, -1))
    resid = (mean - mu[..., None, :]) * mask
    quad = np.einsum("...i,...ij,...j->...", resid, inv, resid)
    ll = -0.5 * n * (mask.sum(-1) * _LOG_2PI + logdet + trace + quad)
    return ll.sum(-1)


def log_likelihood(fit: FittedModel) -> xr.DataArray:
    """Pointwise log-likelihood of every respondent for every posterior draw.

    For respondent i with answered variables o: ``log N(y_i,o | μ_o(θ), Σ_oo(θ))``, the
    marginal density of the answers given (full information under MAR). Respondents without
    any answer carry no information and are left out, as in the fit.

    Parameters
    ----------
    fit : Fit
        A fit of the marginal backend.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, respondent)``; ``respondent`` holds the data's index. Summed
        over respondents it equals the sufficient-statistics log-likelihood the sampler used.

    Examples
    --------
    >>> ll = log_likelihood(fit)  # doctest: +SKIP
    >>> ll.sizes  # doctest: +SKIP
    Frozen({'chain': 4, 'draw': 1000, 'respondent': 301})
    """
    return fit.backend.pointwise_loglik(fit)


def _require_normal_likelihood(fit: FittedModel) -> None:
    """The χ²-based indices need the multivariate normal likelihood and its saturated model."""
    if fit.backend.discrepancy != "normal":
        raise NotImplementedError(fit.backend.chisq_undefined)


def add_log_likelihood(fit: FittedModel) -> az.InferenceData:
    """Store the pointwise log-likelihood in ``fit.idata.log_likelihood["y"]`` (once).

    Parameters
    ----------
    fit : Fit

    Returns
    -------
    arviz.InferenceData
        ``fit.idata``, now with a ``log_likelihood`` group, ready for ``az.loo``,
        ``az.waic`` and ``az.compare``.

    Examples
    --------
    >>> import arviz as az
    >>> az.loo(add_log_likelihood(fit))  # doctest: +SKIP
    """
    idata = fit.idata
    if "log_likelihood" in idata.groups() and "y" in idata.log_likelihood:
        return idata
    ll = log_likelihood(fit)
    if "log_likelihood" in idata.groups():
        idata.log_likelihood["y"] = ll
    else:
        idata.add_groups({"log_likelihood": xr.Dataset({"y": ll})})
    return idata


def loo(fit: FittedModel, **kwargs) -> az.ELPDData:
    """PSIS leave-one-out cross-validation over respondents (``arviz.loo``).

    Parameters
    ----------
    fit : Fit
    **kwargs
        Passed to :func:`arviz.loo` (``pointwise``, ``reff``, ``scale``).

    Returns
    -------
    arviz.ELPDData
        ``elpd_loo``, ``p_loo`` (the effective number of parameters used as pD by the fit
        indices), Pareto k diagnostics.

    Examples
    --------
    >>> loo(fit).p_loo  # doctest: +SKIP
    """
    return az.loo(add_log_likelihood(fit), var_name="y", **kwargs)


def waic(fit: FittedModel, **kwargs) -> az.ELPDData:
    """The widely applicable information criterion over respondents (``arviz.waic``).

    Parameters
    ----------
    fit : Fit
    **kwargs
        Passed to :func:`arviz.waic` (``pointwise``, ``scale``).

    Examples
    --------
    >>> waic(fit).elpd_waic  # doctest: +SKIP
    """
    return az.waic(add_log_likelihood(fit), var_name="y", **kwargs)


# ------------------------------------------------------------------------ saturated model
@dataclass
class SaturatedMoments:
    """ML estimate of the unrestricted normal model (lavaan's h1).

    Attributes
    ----------
    mu, sigma : numpy.ndarray
        Mean vector ``(..., p)`` and covariance ``(..., p, p)`` (divided by N).
    loglik : numpy.ndarray
        The maximized log-likelihood ℓ_sat, shape ``(...)``.
    iterations : int
        EM iterations (0 for the closed form with complete data).
    """

    mu: np.ndarray
    sigma: np.ndarray
    loglik: np.ndarray
    iterations: int


def saturated_moments(
    n: np.ndarray,
    mask: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 1e-10,
    max_iter: int = 2000,
) -> SaturatedMoments:
    """Saturated-model ML from per-pattern statistics: closed form, or EM with missing data.

    EM works on the sufficient statistics of each missingness pattern: for pattern k with
    observed part o and missing part m, the E-step needs ``B = Σ_mo Σ_oo⁻¹``,
    ``E[y_m | y_o] = μ_m + B (y_o − μ_o)`` and ``Var[y_m | y_o] = Σ_mm − B Σ_om``, and summing
    over the pattern's respondents only needs their mean and covariance. Every leading axis
    of ``mean``/``cov`` (replicated data sets) is iterated at once.

    Parameters
    ----------
    n, mask, mean, cov
        As in :func:`moment_loglik`.
    start : (mu, sigma), optional
        EM starting values (broadcast to the leading shape). By default the available-case
        means and variances, with zero covariances.
    tol : float
        Stop when every data set's log-likelihood changes by less than ``tol·(1 + |ℓ|)``.
    max_iter : int
        Iteration limit; a warning is issued when it is reached.

    Returns
    -------
    SaturatedMoments

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_rent.data.observed import moments
    >>> import pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> y = rng.multivariate_normal([0, 0, 0], [[1, .5, .3], [.5, 1, .4], [.3, .4, 1]], 200)
    >>> y[rng.random(y.shape) < 0.15] = np.nan
    >>> m = moments(pd.DataFrame(y, columns=["a", "b", "c"]))
    >>> h1 = saturated_moments(m.n, m.mask, m.mean, m.factor @ m.factor.swapaxes(-1, -2))
    >>> h1.sigma.shape, h1.iterations > 1
    ((3, 3), True)
    """
    n = np.asarray(n, dtype=float)
    mask = np.asarray(mask, dtype=float)
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    total = n.sum()
    w = n[:, None] / total
    if mask.all():
        # pooled over patterns (one pattern for complete data): the closed form
        mu = (w * mean).sum(-2)
        second = (w[..., None] * (cov + mean[..., :, None] * mean[..., None, :])).sum(-3)
        sigma = second - mu[..., :, None] * mu[..., None, :]
        return SaturatedMoments(mu, sigma, saturated_loglik_at(sigma, total), 0)

    lead = np.broadcast_shapes(mean.shape[:-2], cov.shape[:-3])
    p = mask.shape[1]
    if start is None:
        seen = (n[:, None] * mask).sum(0)
        mu = (n[:, None] * mask * mean).sum(-2) / seen
        dev = np.diagonal(cov, axis1=-2, axis2=-1) + (mean - mu[..., None, :]) ** 2
        var = (n[:, None] * mask * dev).sum(-2) / seen
        sigma = var[..., :, None] * np.eye(p)
    else:
        mu, sigma = start
    mu = np.broadcast_to(mu, lead + (p,)).copy()
    sigma = np.broadcast_to(sigma, lead + (p, p)).copy()

    miss = 1.0 - mask
    both = mask[:, :, None] * mask[:, None, :]
    mm = miss[:, :, None] * miss[:, None, :]
    keep_obs = mask[:, :, None] * np.eye(p)
    eye = np.eye(p)
    ll_old = moment_loglik(sigma, mu, n, mask, mean, cov)
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        sig = sigma[..., None, :, :]
        padded = both * sig + (1.0 - both) * eye
        g = sig @ (np.linalg.inv(padded) * both)  # Σ_{·o} Σ_oo⁻¹, zero on missing columns
        b = miss[:, :, None] * g + keep_obs  # regression rows for missing, identity otherwise
        # E[y | y_o] summed over the pattern = n_k (μ + B (ȳ_o − μ)) on the padded vectors
        m1 = mu[..., None, :] + (b @ (mean - mu[..., None, :])[..., None])[..., 0]
        cond = mm * (sig - g @ sig)
        t2 = cond + b @ cov @ _swap(b) + m1[..., :, None] * m1[..., None, :]
        mu = (w * m1).sum(-2)
        sigma = (w[..., None] * t2).sum(-3) - mu[..., :, None] * mu[..., None, :]
        sigma = 0.5 * (sigma + _swap(sigma))
        ll = moment_loglik(sigma, mu, n, mask, mean, cov)
        done = np.abs(ll - ll_old) <= tol * (1.0 + np.abs(ll))
        ll_old = ll
        if np.all(done):
            break
    else:
        warnings.warn(
            f"EM for the saturated model did not converge in {max_iter} iterations; "
            "χ² values may be slightly too small",
            RuntimeWarning, stacklevel=2,
        )
    return SaturatedMoments(mu, sigma, ll_old, iterations)


def _observed_saturated(fit: FittedModel) -> SaturatedMoments:
    m = fit.moments
    return saturated_moments(m.n, m.mask, m.mean, _pattern_cov(fit), max_iter=10_000)


# ------------------------------------------------------------------------ replicated data
def _bartlett(rng: np.random.Generator, size: int, p: int, df: int) -> np.ndarray:
    """Lower-triangular A with A Aᵀ ~ Wishart_p(df, I), ``size`` of them."""
    a = np.tril(rng.standard_normal((size, p, p)), -1)
    diag = np.sqrt(rng.chisquare(df - np.arange(p), size=(size, p)))
    a[:, np.arange(p), np.arange(p)] = diag
    return a


def _replicate_moments(
    rng: np.random.Generator, sigma: np.ndarray, mu: np.ndarray, n: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern mean and covariance of a data set drawn from N(μ, Σ), one per draw.

    Shapes ``(S, K, p)`` and ``(S, K, p, p)``, zero where a pattern does not observe.
    """
    s_count, p = mu.shape
    k_count = mask.shape[0]
    mean = np.zeros((s_count, k_count, p))
    cov = np.zeros((s_count, k_count, p, p))
    for k in range(k_count):
        idx = np.flatnonzero(mask[k])
        nk, pk = int(n[k]), len(idx)
        so = sigma[:, idx[:, None], idx]
        chol = np.linalg.cholesky(so)
        if nk - 1 >= pk:
            a = _bartlett(rng, s_count, pk, nk - 1)
            la = chol @ a
            ck = la @ _swap(la) / nk
            mk = mu[:, idx] + (chol @ rng.standard_normal((s_count, pk, 1)))[..., 0] / np.sqrt(nk)
        else:
            rows = mu[:, None, idx] + rng.standard_normal((s_count, nk, pk)) @ _swap(chol)
            mk = rows.mean(1)
            dev = rows - mk[:, None, :]
            ck = _swap(dev) @ dev / nk
        mean[:, k, idx] = mk
        cov[:, k, idx[:, None], idx] = ck
    return mean, cov


# ------------------------------------------------------------------------ fit indices
def bayes_chi_fit(
    chisq: np.ndarray,
    p_d: float,
    *,
    n_vars: int,
    n_obs: int,
    chisq_null: np.ndarray | None = None,
    p_d_null: float | None = None,
    meanstructure: bool = True,
) -> dict[str, np.ndarray]:
    """blavaan's χ²-based Bayesian fit indices (``BayesChiFit``, ``rescale = "devM"``).

    Parameters
    ----------
    chisq : numpy.ndarray
        χ²(θ) = 2(ℓ_sat − ℓ(θ)) per draw.
    p_d : float
        Effective number of parameters of the model (p_loo).
    n_vars : int
        Number of observed variables p.
    n_obs : int
        Number of respondents N.
    chisq_null, p_d_null : optional
        χ² per draw (same shape as ``chisq``) and pD of the null (independence) model; give
        both for BCFI, BTLI and BNFI.
    meanstructure : bool
        Count the p means among the modelled moments (``p* = p(p+1)/2 + p``).

    Returns
    -------
    dict of numpy.ndarray
        ``brmsea, bgammahat, adjbgammahat, bmc`` and, with a null model, ``bcfi, btli,
        bnfi``; each has the shape of ``chisq``.

    Examples
    --------
    >>> import numpy as np
    >>> out = bayes_chi_fit(np.array([130.0]), 30.0, n_vars=9, n_obs=301)
    >>> round(float(out["brmsea"][0]), 4)   # sqrt((130 - 54) / (24 * 301))
    0.1026
    """
    chisq = np.asarray(chisq, dtype=float)
    p = n_vars
    pstar = p * (p + 1) / 2 + (p if meanstructure else 0)
    dif = pstar - p_d
    if dif <= 0:
        raise ValueError(
            f"p* − pD = {pstar:g} − {p_d:.2f} ≤ 0: the model has as many effective "
            "parameters as moments, so χ²-based indices are undefined"
        )
    nonc = np.maximum(chisq - pstar, 0.0)
    out = {"brmsea": np.sqrt(nonc / (dif * n_obs))}
    out["bgammahat"] = p / (p + 2.0 * nonc / n_obs)
    out["adjbgammahat"] = 1.0 - (pstar / dif) * (1.0 - out["bgammahat"])
    out["bmc"] = np.exp(-0.5 * nonc / n_obs)
    if (chisq_null is None) != (p_d_null is None):
        raise ValueError("give both chisq_null and p_d_null, or neither")
    if chisq_null is not None:
        chisq_null = np.asarray(chisq_null, dtype=float)
        dif0 = pstar - p_d_null
        nonc0 = chisq_null - pstar
        out["bcfi"] = 1.0 - nonc / nonc0
        tli0 = (chisq_null - p_d_null) / dif0
        out["btli"] = (tli0 - (chisq - p_d) / dif) / (tli0 - 1.0)
        out["bnfi"] = ((chisq_null - p_d_null) - (chisq - p_d)) / (chisq_null - p_d_null)
    return out


def srmr(sigma: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Bentler's SRMR of implied covariances against the sample covariance (lavaan's ``srmr``).

    Parameters
    ----------
    sigma : numpy.ndarray
        Implied covariance matrices, shape ``(..., p, p)``.
    s : numpy.ndarray
        Sample covariance (divided by N; EM estimate with missing data), shape ``(p, p)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``: ``sqrt(mean over i ≤ j of ((s_ij − σ_ij) / sqrt(s_ii s_jj))²)``.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> round(float(srmr(np.eye(2), s)), 4)  # one residual of 0.5 among 3 elements
    0.2887
    """
    s = np.asarray(s, dtype=float)
    p = s.shape[-1]
    sd = np.sqrt(np.diag(s))
    resid = (s - sigma) / np.outer(sd, sd)
    iu = np.triu_indices(p)
    return np.sqrt((resid[..., iu[0], iu[1]] ** 2).mean(-1))


def null_model_syntax(variables: Sequence[str]) -> str:
    """lavaan syntax of the independence (null, baseline) model.

    Every observed variable has its own mean and variance and no covariances, as lavaan's
    baseline model for CFI/TLI.

    Examples
    --------
    >>> print(null_model_syntax(["x1", "x2"]))
    x1 ~~ x1
    x2 ~~ x2
    """
    return "\n".join(f"{v} ~~ {v}" for v in variables)


def fit_null_model(fit: FittedModel, *, seed: int | None = None, **kwargs) -> FittedModel:
    """Fit the independence model to the fit's data with the fit's sampling settings.

    Parameters
    ----------
    fit : Fit
        The hypothesized model's fit; its data, draws, warm-up, chains and sampler are reused.
    seed : int, optional
        Seed of the null fit.
    **kwargs
        Override the sampling options (``draws``, ``tune``, ``chains``, ``sampler``,
        ``priors``, ``progressbar``).

    Returns
    -------
    Fit

    Examples
    --------
    >>> null = fit_null_model(fit, seed=1)  # doctest: +SKIP
    """
    # the sampling options only: a fit's settings also record what it was (density, time)
    options = {k: v for k, v in fit.settings.items()
               if k in ("draws", "tune", "chains", "sampler", "target_accept")}
    options = {**options, "progressbar": False, **kwargs}
    with warnings.catch_warnings():
        # a null model's convergence is reported by its own Fit when the user fits it;
        # here it only feeds BCFI/BTLI
        warnings.simplefilter("ignore")
        # the fit's own Model class: results sit below the model layer and do not import it
        null = type(fit.model)(null_model_syntax(fit.layout.observed))
        return null.fit(fit.data, seed=seed, **options)


def _chisq_draws(
    fit: FittedModel, h1: SaturatedMoments, sigma: np.ndarray | None = None,
    mu: np.ndarray | None = None,
) -> np.ndarray:
    """χ²(θ) per draw, shape (chain, draw)."""
    if sigma is None or mu is None:
        sigma, mu = _implied(fit)
    c, d, p = mu.shape
    m = fit.moments
    sigma, mu = sigma.reshape(c * d, p, p), mu.reshape(c * d, p)
    cov = _pattern_cov(fit)
    ll = np.empty(c * d)
    for sl in chunks(c * d, 4 * len(m.n) * p * p):
        ll[sl] = moment_loglik(sigma[sl], mu[sl], m.n, m.mask, m.mean, cov)
    return (2.0 * (h1.loglik - ll)).reshape(c, d)


def _posterior_mean_moments(fit: FittedModel) -> tuple[np.ndarray, np.ndarray]:
    """Σ and μ at the posterior means of the (sign-aligned) model matrices."""
    mats = fit.matrices.mean(("chain", "draw"))
    implied = implied_from_matrices({k: mats[k].values for k in mats.data_vars})
    return implied.sigma, implied.mu


def _discrepancies(
    fit: FittedModel, seed: int | None
) -> tuple[np.ndarray, np.ndarray, SaturatedMoments, int, np.ndarray]:
    """χ² of the data and of one replicate per draw, (chain, draw) each; h1; EM iterations; Σ."""
    m = fit.moments
    sigma, mu = _implied(fit)
    c, d, p = mu.shape
    sig_f, mu_f = sigma.reshape(c * d, p, p), mu.reshape(c * d, p)
    h1 = _observed_saturated(fit)
    chisq = _chisq_draws(fit, h1, sigma, mu)
    rng = np.random.default_rng(seed)
    chisq_rep = np.empty(c * d)
    iterations = h1.iterations
    for sl in chunks(c * d, 12 * len(m.n) * p * p):
        mean_rep, cov_rep = _replicate_moments(rng, sig_f[sl], mu_f[sl], m.n, m.mask)
        ll_rep = moment_loglik(sig_f[sl], mu_f[sl], m.n, m.mask, mean_rep, cov_rep)
        # EM starts at the moments that generated the replicate: its ML is close to them
        sat = saturated_moments(m.n, m.mask, mean_rep, cov_rep, start=(mu_f[sl], sig_f[sl]))
        iterations = max(iterations, sat.iterations)
        chisq_rep[sl] = 2.0 * (sat.loglik - ll_rep)
    return chisq, chisq_rep.reshape(c, d), h1, iterations, sigma


def ppp(fit: FittedModel, *, seed: int | None = None) -> float:
    """Posterior predictive p-value of the χ² discrepancy.

    ``PPP = mean over draws of [χ²_rep(θ) ≥ χ²(θ)]`` with a replicate of the data (same
    respondents, same missingness patterns) drawn at every θ; see the module notes. Values
    near 0.5 mean the data look like the model's replicates; values below about 0.05 flag
    misfit (the PPP of a correct model concentrates near 0.5 rather than being uniform).

    For a fit with ordinal items the normal χ² is not defined; the discrepancy is then the
    correlation component of every item pair's Pearson χ²
    (:func:`bayes_rent.results.ordinal_ppp.ordinal_ppp`).

    Parameters
    ----------
    fit : Fit
    seed : int, optional
        Seed of the replicated data.

    Returns
    -------
    float

    Examples
    --------
    >>> ppp(fit, seed=1)  # doctest: +SKIP
    """
    if fit.backend.discrepancy == "ordinal":
        return ordinal_ppp(fit, seed=seed)
    _require_normal_likelihood(fit)
    chisq, chisq_rep, *_ = _discrepancies(fit, seed)
    return float(np.mean(chisq_rep >= chisq))


def fit_index_draws(
    fit: FittedModel,
    *,
    seed: int | None = None,
    null_fit: FittedModel | None = None,
    incremental: bool = True,
) -> xr.Dataset:
    """Posterior draws of the χ² discrepancies and of every Bayesian fit index.

    Parameters
    ----------
    fit : Fit
        A fit of the marginal backend.
    seed : int, optional
        Seed of the replicated data for PPP, and of the null model's fit when it is made here.
    null_fit : Fit, optional
        The independence model fitted to the same data (:func:`fit_null_model`), with the
        same number of chains and draws. By default it is fitted here (once per fit and seed).
    incremental : bool
        Compute BCFI, BTLI and BNFI (needs the null model); False skips the null fit.

    Returns
    -------
    xarray.Dataset
        Dims ``(chain, draw)``: ``chisq`` (χ² of the data), ``chisq_rep`` (χ² of the
        replicate), ``srmr``, ``brmsea``, ``bgammahat``, ``adjbgammahat``, ``bmc`` and, with
        the null model, ``bcfi``, ``btli``, ``bnfi``. Attributes: ``ppp``, ``p_loo``,
        ``pstar``, ``n``, ``npar``, ``chisq_at_mean``, ``df``, ``srmr_at_mean``,
        ``em_iterations`` (largest EM iteration count, 0 with complete data), ``seed`` and,
        with the null model, ``p_loo_null``.

        For a fit with ordinal items: the draws of
        :func:`bayes_rent.results.ordinal_ppp.ordinal_ppp_draws` (``chisq`` and
        ``chisq_rep`` are then the correlation discrepancy of the item pairs' tables, with
        the full Pearson χ² and per-pair detail beside them); the other
        indices are not defined for ordinal data, and ``null_fit`` must not be given.

    Examples
    --------
    >>> draws = fit_index_draws(fit, seed=1)  # doctest: +SKIP
    >>> float((draws["chisq_rep"] >= draws["chisq"]).mean()) == draws.attrs["ppp"]  # doctest: +SKIP
    True
    """
    if fit.backend.discrepancy == "ordinal":
        _refuse_null_fit(null_fit)
        return ordinal_ppp_draws(fit, seed=seed)
    _require_normal_likelihood(fit)
    m = fit.moments
    chisq, chisq_rep, h1, iterations, sigma = _discrepancies(fit, seed)
    p = sigma.shape[-1]

    p_d = float(loo(fit).p_loo)
    n_obs = int(m.n_total)
    null_chisq = p_d_null = None
    if incremental:
        if null_fit is None:
            cache = _NULL_FITS.setdefault(fit, {})
            if seed not in cache:
                cache[seed] = fit_null_model(fit, seed=seed)
            null_fit = cache[seed]
        _check_null(fit, null_fit)
        null_chisq = _chisq_draws(null_fit, _observed_saturated(null_fit))
        p_d_null = float(loo(null_fit).p_loo)
    indices = bayes_chi_fit(chisq, p_d, n_vars=p, n_obs=n_obs, chisq_null=null_chisq,
                            p_d_null=p_d_null)
    pstar = p * (p + 1) // 2 + p
    npar = len(fit.layout.elements)
    post = fit.idata.posterior
    coords = {"chain": post["chain"].values, "draw": post["draw"].values}
    data = {"chisq": chisq, "chisq_rep": chisq_rep, "srmr": srmr(sigma, h1.sigma), **indices}
    sigma_bar, mu_bar = _posterior_mean_moments(fit)
    ll_bar = moment_loglik(sigma_bar, mu_bar, m.n, m.mask, m.mean, _pattern_cov(fit))
    attrs = {
        "ppp": float(np.mean(chisq_rep >= chisq)),
        "p_loo": p_d, "pstar": pstar, "n": n_obs, "npar": npar,
        "chisq_at_mean": float(2.0 * (h1.loglik - ll_bar)), "df": pstar - npar,
        "srmr_at_mean": float(srmr(sigma_bar, h1.sigma)), "em_iterations": int(iterations),
    }
    if seed is not None:
        attrs["seed"] = seed
    if p_d_null is not None:
        attrs["p_loo_null"] = p_d_null
    return xr.Dataset(
        {name: (("chain", "draw"), np.asarray(v)) for name, v in data.items()},
        coords=coords, attrs=attrs,
    )


def _refuse_null_fit(null_fit: FittedModel | None) -> None:
    """A null model feeds only BCFI/BTLI/BNFI, which ordinal fits do not have."""
    if null_fit is not None:
        raise ValueError(
            "null_fit was given for a model with ordinal items: the incremental indices "
            "(BCFI, BTLI, BNFI) need the normal-likelihood χ² and are not defined for it"
        )


def _check_null(fit: FittedModel, null_fit: FittedModel) -> None:
    if set(null_fit.layout.observed) != set(fit.layout.observed) or (
        null_fit.moments.n_total != fit.moments.n_total
    ):
        raise ValueError(
            "null_fit must be fitted to the same variables and respondents as the model: "
            f"{null_fit.moments.n_total} respondents on {sorted(null_fit.layout.observed)} "
            f"against {fit.moments.n_total} on {sorted(fit.layout.observed)}"
        )
    shape = dict(fit.idata.posterior.sizes)
    null_shape = dict(null_fit.idata.posterior.sizes)
    if (shape["chain"], shape["draw"]) != (null_shape["chain"], null_shape["draw"]):
        raise ValueError(
            "null_fit must have as many chains and draws as the model, since their draws are "
            f"paired (blavaan does the same): {null_shape['chain']}×{null_shape['draw']} "
            f"against {shape['chain']}×{shape['draw']}"
        )


_ORDER = ["chisq", "brmsea", "bgammahat", "adjbgammahat", "bmc", "bcfi", "btli", "bnfi", "srmr"]
_ROWS = ["ppp", "chisq", "chisq_at_mean", "df", "npar", "p_loo", "brmsea", "bgammahat",
         "adjbgammahat", "bmc", "bcfi", "btli", "bnfi", "srmr", "srmr_at_mean"]


def fit_indices(
    fit: FittedModel,
    *,
    seed: int | None = None,
    null_fit: FittedModel | None = None,
    incremental: bool = True,
    hdi_prob: float = 0.9,
) -> pd.DataFrame:
    """Bayesian fit of a model: PPP, BRMSEA, BGammaHat, BMc, BCFI, BTLI, BNFI and SRMR.

    Parameters
    ----------
    fit : Fit
        A fit of the marginal backend.
    seed : int, optional
        Seed of the replicated data (PPP) and of the null model's fit.
    null_fit : Fit, optional
        The independence model fitted to the same data with the same chains and draws
        (:func:`fit_null_model`); fitted here when not given.
    incremental : bool
        Compute the incremental indices BCFI, BTLI, BNFI (needs the null model).
    hdi_prob : float
        Mass of the highest-density intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``index``, columns ``mean, sd, hdi_low, hdi_high``. Rows with a posterior
        (``chisq``, ``brmsea``, ``bgammahat``, ``adjbgammahat``, ``bmc``, ``bcfi``, ``btli``,
        ``bnfi``, ``srmr``) are summarized over draws; single numbers (``ppp``,
        ``chisq_at_mean``, ``df``, ``npar``, ``p_loo``, ``srmr_at_mean``) fill ``mean`` only.

        ``chisq_at_mean``, ``df`` and ``srmr_at_mean`` (χ² and SRMR at the posterior-mean
        model matrices) are for orientation beside lavaan's ML numbers, which they approach
        under weak priors. The posterior of ``srmr`` sits above them: each draw's Σ(θ) also
        carries posterior uncertainty, which adds to every squared residual (roughly by the
        posterior variance of the standardized implied moments). The Bayesian evidence is
        PPP and the posteriors of the indices. The per-draw values are
        :func:`fit_index_draws`.

        For a fit with ordinal items the table is
        :func:`bayes_rent.results.ordinal_ppp.ordinal_fit_indices`: ``ppp``,
        ``ppp_pearson``, ``chisq_correlation`` and ``chisq_pearson`` from the item pairs'
        cross tables, and the χ²-based rows above as NaN with the reason they are not
        defined in a ``note`` column (``null_fit`` must not be given; ``incremental`` does
        not apply).

    Examples
    --------
    >>> import bayes_rent as br
    >>> hs = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> fit = br.cfa(hs, br.datasets.holzinger_swineford(), seed=1)  # doctest: +SKIP
    >>> fit_indices(fit, seed=1).loc[["ppp", "brmsea", "bcfi", "srmr"]]  # doctest: +SKIP
    """
    if fit.backend.discrepancy == "ordinal":
        _refuse_null_fit(null_fit)
        return ordinal_fit_indices(fit, seed=seed, hdi_prob=hdi_prob)
    _require_normal_likelihood(fit)
    draws = fit_index_draws(fit, seed=seed, null_fit=null_fit, incremental=incremental)
    names = [v for v in _ORDER if v in draws]
    stacked = xr.concat([draws[v] for v in names], dim="index").assign_coords(index=names)
    posterior = summarize_draws(stacked, "index", hdi_prob=hdi_prob)
    rows = []
    for name in _ROWS:
        if name in posterior.index:
            rows.append(posterior.loc[name, ["mean", "sd", "hdi_low", "hdi_high"]].to_list())
        elif name in draws.attrs:
            rows.append([float(draws.attrs[name]), np.nan, np.nan, np.nan])
        else:
            continue
        rows[-1] = [name, *rows[-1]]
    return pd.DataFrame(rows, columns=["index", "mean", "sd", "hdi_low", "hdi_high"]).set_index(
        "index"
    )
