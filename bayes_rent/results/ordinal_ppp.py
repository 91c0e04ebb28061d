"""Posterior predictive p-value for models with ordinal items: discrepancies of the pair tables.

The χ² discrepancy of :mod:`bayes_rent.results.fit_indices`, ``2(ℓ_sat − ℓ(θ))``, needs the
multivariate normal likelihood and its saturated model (free means and covariances). Ordinal
answers have neither: their saturated model is the full multinomial over all answer patterns,
with far more cells than respondents. This module measures misfit on the item pairs' cross
tables instead, the limited-information route that is standard for ordinal data (Maydeu-Olivares
& Joe 2005; the bivariate tables of Mplus' and lavaan's output for categorical data).

Expected probabilities
    At a posterior draw θ the latent responses of the ordinal items are normal with
    ``Cov(y*) = Λ (I−B)⁻¹ Ψ (I−B)⁻ᵀ Λᵀ + Θ`` and ``E(y*) = ν + Λ (I−B)⁻¹ α``
    (:func:`bayes_rent.results.standardized.labelled_moments`); an answer is the number of the
    draw's thresholds below y*. For items j, k with ``K_j``, ``K_k`` categories the model gives
    every cell (a, b) of their cross table the probability π_ab(θ) that (y*_j, y*_k) falls in
    the threshold rectangle: a double difference of the bivariate normal CDF at the
    standardized thresholds ``(τ − E y*) / sd(y*)``, with the latent-response correlation ρ_jk
    (:func:`pair_probabilities`, :func:`bivariate_normal_cdf`).

Two discrepancies, both computed from every pair's table of counts ``n_ab`` over the N_jk
respondents who answered *both* items (pairwise-available tables: a missing answer leaves
exactly the tables it would have entered):

* ``"pearson"``: the Pearson χ² of all cells of all pair tables::

      X²(y, θ) = Σ_{j<k} Σ_{a,b} (n_ab − N_jk π_ab)² / (N_jk π_ab)

  It looks at everything the tables show, including the shape of the latent-response
  distribution, but with 5-point items it spends about 24 degrees of freedom per pair, most
  of them on sparse cells, and its replicate distribution is wide and heavy-tailed. In the
  calibration runs of ``bench/bench_ordinal_ppp.py`` (N = 300, ten items) it missed an
  omitted cross-loading of 0.8 in all 20 replicates (PPP 0.08–0.41).
* ``"correlation"`` (the default): for every pair, the one-degree-of-freedom component of its
  Pearson χ² along the direction in which the latent correlation moves the table. With
  ``d_ab = ∂π_ab/∂ρ_jk`` (a double difference of the bivariate normal *density*, since
  ∂Φ₂/∂ρ = φ₂) it is the score statistic for ρ_jk::

      U_jk = Σ_ab n_ab d_ab / π_ab,   I_jk = Σ_ab d_ab² / π_ab,
      C²(y, θ) = Σ_{j<k} U_jk² / (N_jk I_jk)

  (Σ d_ab = 0, so U_jk is also the projection of the Pearson residuals onto d/√π). Under the
  model each term is about χ²₁. A factor structure that is wrong shows up exactly as latent
  correlations the model cannot reproduce, so this component carries the misfit that
  matters for an SEM while the other ~23 degrees of freedom of each table add mostly noise;
  in the same runs it flagged the omitted cross-loading in 20 of 20 replicates (PPP ≤ 0.015)
  and gave the correct model PPP > 0.05 in 20 of 20 (smallest 0.23; bench/README.md).

Univariate margins are not added separately: every pair table contains its two margins, and
the thresholds reproduce the margins almost exactly anyway.

PPP
    For every draw, ``D_obs = D(y, θ)``; a replicate y_rep is drawn from the model at θ (new
    latent responses for the same respondents, cut at that draw's thresholds, with the data's
    missing answers removed again) and ``D_rep = D(y_rep, θ)``.
    ``PPP = mean over draws of [D_rep ≥ D_obs]``, as for continuous items with D in place of the
    normal χ². The same sums kept per pair give a PPP per item pair that points at the items
    behind a misfit.

Only the ordinal items enter. In a model that mixes ordinal and continuous items the
continuous items are left out of D (the ordinal items' latent-response moments are the
marginal of the joint model, so this is exact, not an approximation); observed covariates in
the structural part are integrated out with their model-implied normal distribution, so the
check is of the ordinal answers' joint distribution, not of their distribution given the
covariates.

Which indices are defined for ordinal data here: these PPPs, and LOO/WAIC
(:func:`bayes_rent.results.fit_indices.loo`, latent scores integrated out per respondent). BRMSEA,
BGammaHat, adjusted BGammaHat, BMc, BCFI, BTLI and BNFI are functions of the normal-likelihood
χ² and its moment count ``p* = p(p+1)/2 + p``, and SRMR of the sample covariance matrix; none
of them has a meaning for ordered-probit data, and :func:`ordinal_fit_indices` reports them as
not defined (lavaan's ordinal versions rest on polychoric correlations and a WLS test
statistic, a different estimator, and are not reproduced).

Everything is vectorized over draws (draws are processed in blocks so memory stays bounded);
Python loops run over item pairs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtr, owens_t

from bayes_rent.results.fitted import FittedModel
from bayes_rent.results.standardized import labelled_moments
from bayes_rent.results.summary import summarize_draws

__all__ = [
    "DISCREPANCIES",
    "OrdinalDiscrepancies",
    "bivariate_normal_cdf",
    "ordinal_discrepancies",
    "ordinal_fit_indices",
    "ordinal_ppp",
    "ordinal_ppp_draws",
    "pair_probabilities",
]

#: The discrepancies of the ordinal PPP, by name, as reported with it.
DISCREPANCIES = {
    "correlation": "correlation component of the Pearson chi-square of every item pair's "
                   "table (score statistic of the pair's latent correlation, 1 df per pair), "
                   "summed over pairs",
    "pearson": "Pearson chi-square over all cells of all item pairs' tables",
}

# floats per temporary array before the draws are split into blocks (~32 MB of float64)
_BUDGET = 4_000_000
# stands in for a zero standardized threshold in Owen's T formula, whose arguments divide by
# h and k; Φ₂ is continuous there, so the shift changes the result by ~1e-150
_NUDGE = 1e-150
# floor of a cell probability that rounding made 0 or slightly negative, so that an empty
# cell adds ~0 to the Pearson sum instead of 0/0
_TINY = 1e-300

# why each χ²-based index is absent for ordinal fits (rows of ordinal_fit_indices)
_UNDEFINED = {
    "chisq": "not defined for ordinal items: the normal-likelihood χ² needs a multivariate "
             "normal saturated model; see chisq_correlation and chisq_pearson",
    "brmsea": "not defined for ordinal items: a function of the normal-likelihood χ² and p*",
    "bgammahat": "not defined for ordinal items: a function of the normal-likelihood χ² and p*",
    "adjbgammahat": "not defined for ordinal items: a function of the normal-likelihood χ² "
                    "and p*",
    "bmc": "not defined for ordinal items: a function of the normal-likelihood χ²",
    "bcfi": "not defined for ordinal items: needs the normal-likelihood χ² of the model and "
            "of the null model",
    "btli": "not defined for ordinal items: needs the normal-likelihood χ² of the model and "
            "of the null model",
    "bnfi": "not defined for ordinal items: needs the normal-likelihood χ² of the model and "
            "of the null model",
    "srmr": "not defined for ordinal items: residuals of a sample covariance matrix (lavaan's "
            "ordinal SRMR uses polychoric correlations, not computed here)",
}


# ------------------------------------------------------------------------ probabilities
def bivariate_normal_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Standard bivariate normal CDF Φ₂(h, k; ρ) = P(X ≤ h, Y ≤ k), vectorized.

    Owen's (1956) formula through his T function (``scipy.special.owens_t``, accurate to
    double precision)::

        Φ₂(h, k; ρ) = ½ Φ(h) + ½ Φ(k) − T(h, a_h) − T(k, a_k) − β
        a_h = (k − ρh) / (h √(1−ρ²)),  a_k = (h − ρk) / (k √(1−ρ²)),
        β = ½ if h and k have opposite signs, else 0.

    Closed form, so it broadcasts over any number of draws at numpy speed, unlike the
    quasi-Monte Carlo integration of ``scipy.stats.multivariate_normal.cdf``.

    Parameters
    ----------
    h, k : numpy.ndarray
        Upper limits; ±inf allowed.
    rho : numpy.ndarray
        Correlations, ``|ρ| < 1``.

    Returns
    -------
    numpy.ndarray
        Φ₂ at the broadcast shape of the arguments.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(bivariate_normal_cdf(0.0, 0.0, 0.5)), 6)  # 1/4 + arcsin(ρ)/(2π) = 1/3
    0.333333
    >>> bivariate_normal_cdf(np.array([np.inf, 1.0, -np.inf]), 1.0, 0.3).round(6)
    array([0.841345, 0.728147, 0.      ])
    """
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float), np.asarray(rho, dtype=float)
    )
    hh = np.where(h == 0.0, _NUDGE, h)
    kk = np.where(k == 0.0, _NUDGE, k)
    s = np.sqrt((1.0 - rho) * (1.0 + rho))
    # infinite limits give nan here and are replaced by their closed forms below
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        a_h = (kk - rho * hh) / (hh * s)
        a_k = (hh - rho * kk) / (kk * s)
        out = (
            0.5 * (ndtr(hh) + ndtr(kk)) - owens_t(hh, a_h) - owens_t(kk, a_k)
            - 0.5 * ((hh < 0.0) != (kk < 0.0))
        )
    out = np.where(h == np.inf, ndtr(k), out)
    out = np.where(k == np.inf, ndtr(h), out)
    out = np.where((h == -np.inf) | (k == -np.inf), 0.0, out)
    return out


def _grid(tj: np.ndarray, tk: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Φ₂ at every pair of cut points, padded with the open ends: ``(..., K_j+1, K_k+1)``."""
    lead = tj.shape[:-1]
    inner = bivariate_normal_cdf(tj[..., :, None], tk[..., None, :], rho[..., None, None])
    grid = np.zeros(lead + (tj.shape[-1] + 2, tk.shape[-1] + 2))
    grid[..., 1:-1, 1:-1] = inner
    # one limit at +∞ leaves the univariate CDF of the other: no Owen's T needed
    grid[..., -1, 1:-1] = ndtr(tk)
    grid[..., 1:-1, -1] = ndtr(tj)
    grid[..., -1, -1] = 1.0
    return grid


def _density_grid(tj: np.ndarray, tk: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """φ₂ = ∂Φ₂/∂ρ at every pair of cut points, 0 at the open ends: ``(..., K_j+1, K_k+1)``."""
    h, k = tj[..., :, None], tk[..., None, :]
    r = rho[..., None, None]
    s2 = (1.0 - r) * (1.0 + r)
    grid = np.zeros(tj.shape[:-1] + (tj.shape[-1] + 2, tk.shape[-1] + 2))
    grid[..., 1:-1, 1:-1] = np.exp(-0.5 * (h * h - 2.0 * r * h * k + k * k) / s2) / (
        2.0 * np.pi * np.sqrt(s2)
    )
    return grid


def pair_probabilities(
    tau_j: np.ndarray, tau_k: np.ndarray, mean: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    """Model-implied probabilities of every cell of the cross table of two ordinal items.

    Item j answers a (0-based) when ``τ_j,a < y*_j ≤ τ_j,a+1`` (τ_0 = −∞, τ_K = +∞), and
    likewise item k; (y*_j, y*_k) is bivariate normal.

    Parameters
    ----------
    tau_j, tau_k : numpy.ndarray
        Increasing thresholds of the two items, shapes ``(..., K_j − 1)`` and
        ``(..., K_k − 1)``.
    mean : numpy.ndarray
        Means of (y*_j, y*_k), shape ``(..., 2)``.
    cov : numpy.ndarray
        Their covariance matrix, shape ``(..., 2, 2)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., K_j, K_k)``: P(item j answers a, item k answers b). The cells of each
        table sum to 1, and its margins are the items' univariate probit probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> p = pair_probabilities(np.array([0.0]), np.array([0.0]), np.zeros(2),
    ...                        np.array([[1.0, 0.5], [0.5, 1.0]]))
    >>> p.round(4)  # concordant cells 1/3 each, discordant 1/6
    array([[0.3333, 0.1667],
           [0.1667, 0.3333]])
    """
    sd = np.sqrt(np.stack([cov[..., 0, 0], cov[..., 1, 1]], axis=-1))
    tj = (np.asarray(tau_j, dtype=float) - mean[..., 0:1]) / sd[..., 0:1]
    tk = (np.asarray(tau_k, dtype=float) - mean[..., 1:2]) / sd[..., 1:2]
    rho = cov[..., 0, 1] / (sd[..., 0] * sd[..., 1])
    grid = _grid(tj, tk, rho)
    return np.diff(np.diff(grid, axis=-2), axis=-1)


# ------------------------------------------------------------------------ the discrepancy
@dataclass(frozen=True)
class OrdinalDiscrepancies:
    """Per-draw discrepancies of the data and of their replicates, per item pair.

    Attributes
    ----------
    correlation, correlation_rep : numpy.ndarray
        Shape ``(S, n_pairs)``: the correlation component U²/(N I) of each pair's Pearson
        χ², for the data and for the draw's replicate.
    pearson, pearson_rep : numpy.ndarray
        Shape ``(S, n_pairs)``: each pair's Pearson χ² over all its cells.
    pairs : list of tuple of int
        The item pairs (j, k), j < k, in the order of the pair axis.
    n_pair : numpy.ndarray
        Shape ``(n_pairs,)``: respondents who answered both items of the pair.
    """

    correlation: np.ndarray
    correlation_rep: np.ndarray
    pearson: np.ndarray
    pearson_rep: np.ndarray
    pairs: list[tuple[int, int]]
    n_pair: np.ndarray

    def ppp(self, discrepancy: str = "correlation") -> float:
        """``mean over draws of [D_rep ≥ D_obs]`` for the discrepancy summed over pairs."""
        obs, rep = _pick(self, discrepancy)
        return float(np.mean(rep.sum(-1) >= obs.sum(-1)))


def _pick(out: OrdinalDiscrepancies, discrepancy: str) -> tuple[np.ndarray, np.ndarray]:
    if discrepancy not in DISCREPANCIES:
        raise ValueError(
            f"discrepancy={discrepancy!r}: expected one of {', '.join(map(repr, DISCREPANCIES))}"
        )
    return getattr(out, discrepancy), getattr(out, discrepancy + "_rep")


def _pair_statistics(
    counts: np.ndarray, probs: np.ndarray, slope: np.ndarray, info: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Correlation component and Pearson χ² of tables ``(..., K_j, K_k)`` of n answers."""
    expected = n * probs
    pearson = ((counts - expected) ** 2 / expected).sum((-2, -1))
    score = (counts * slope / probs).sum((-2, -1))
    return score**2 / (n * info), pearson


def ordinal_discrepancies(
    codes: np.ndarray,
    thresholds: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    rng: np.random.Generator | int | None = None,
) -> OrdinalDiscrepancies:
    """Both discrepancies of the data and of one model replicate, for every draw and pair.

    The array-level core of :func:`ordinal_ppp_draws` (see the module notes).

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N, J)`` integer answers, category codes 0..K_j−1; −1 marks a missing answer.
    thresholds : numpy.ndarray
        ``(S, J, C)`` increasing thresholds of every item per draw; an item with fewer than
        C thresholds is padded with ``+inf``. Item j has as many categories as finite
        thresholds plus one.
    mean : numpy.ndarray
        ``(S, J)`` means of the latent responses.
    cov : numpy.ndarray
        ``(S, J, J)`` covariance matrices of the latent responses.
    rng : numpy.random.Generator or int, optional
        Random generator (or seed) of the replicates.

    Returns
    -------
    OrdinalDiscrepancies

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> cov = np.array([[1.0, 0.4, 0.4], [0.4, 1.0, 0.4], [0.4, 0.4, 1.0]])
    >>> codes = (rng.multivariate_normal(np.zeros(3), cov, 200, method="cholesky") > 0)
    >>> out = ordinal_discrepancies(codes, np.zeros((50, 3, 1)), np.zeros((50, 3)),
    ...                             np.broadcast_to(cov, (50, 3, 3)), rng=1)
    >>> out.correlation.shape, out.pairs
    ((50, 3), [(0, 1), (0, 2), (1, 2)])
    >>> # a projection of the Pearson residuals is never longer than the residuals
    >>> bool((out.correlation <= out.pearson + 1e-12).all())
    True
    """
    rng = np.random.default_rng(rng)
    codes = np.asarray(codes)
    thresholds = np.asarray(thresholds, dtype=float)
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    s_total, n_items, n_cuts = thresholds.shape
    n_resp = codes.shape[0]
    if codes.shape[1] != n_items or mean.shape != (s_total, n_items) or cov.shape != (
        s_total, n_items, n_items
    ):
        raise ValueError(
            f"shapes do not agree: codes {codes.shape}, thresholds {thresholds.shape}, "
            f"mean {mean.shape}, cov {cov.shape}"
        )
    n_cat = np.isfinite(thresholds[0]).sum(-1) + 1
    answered = codes >= 0
    if (codes >= n_cat[None, :]).any():
        raise ValueError("an answer code is not below its item's number of categories")

    pairs = [(j, k) for j in range(n_items) for k in range(j + 1, n_items)]
    rows = [np.flatnonzero(answered[:, j] & answered[:, k]) for j, k in pairs]
    n_pair = np.array([len(r) for r in rows])
    observed = []
    for (j, k), r in zip(pairs, rows, strict=True):
        cell = codes[r, j] * n_cat[k] + codes[r, k]
        observed.append(np.bincount(cell, minlength=n_cat[j] * n_cat[k]).reshape(
            n_cat[j], n_cat[k]))

    shape = (s_total, len(pairs))
    corr_obs, corr_rep = np.zeros(shape), np.zeros(shape)
    pear_obs, pear_rep = np.zeros(shape), np.zeros(shape)
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    chol = np.linalg.cholesky(cov)
    # the per-block working set is dominated by the replicate's (draw, respondent, item, cut)
    # comparison array
    step = max(1, _BUDGET // max(1, n_resp * n_items * max(n_cuts, 1)))
    for start in range(0, s_total, step):
        blk = slice(start, min(start + step, s_total))
        m = blk.stop - blk.start
        z = rng.standard_normal((m, n_resp, n_items))
        ystar = mean[blk, None, :] + np.einsum("sij,snj->sni", chol[blk], z)
        rep = (ystar[..., None] > thresholds[blk, None, :, :]).sum(-1)
        # standardized thresholds and correlations: the arguments of Φ₂
        std_tau = (thresholds[blk] - mean[blk, :, None]) / sd[blk, :, None]
        corr = cov[blk] / (sd[blk, :, None] * sd[blk, None, :])
        offset = np.arange(m)[:, None]
        for p, ((j, k), r) in enumerate(zip(pairs, rows, strict=True)):
            if not len(r):
                continue  # nobody answered both: the pair has no table
            kj, kk = n_cat[j], n_cat[k]
            tj, tk, rho = std_tau[:, j, : kj - 1], std_tau[:, k, : kk - 1], corr[:, j, k]
            probs = np.diff(np.diff(_grid(tj, tk, rho), axis=-2), axis=-1)
            # a cell rounding made 0 or negative would give 0/0; it has ~no mass either way
            probs = np.maximum(probs, _TINY)
            slope = np.diff(np.diff(_density_grid(tj, tk, rho), axis=-2), axis=-1)
            info = (slope**2 / probs).sum((-2, -1))
            cell = rep[:, r, j] * kk + rep[:, r, k] + offset * (kj * kk)
            counts = np.bincount(cell.ravel(), minlength=m * kj * kk).reshape(m, kj, kk)
            corr_obs[blk, p], pear_obs[blk, p] = _pair_statistics(
                observed[p][None], probs, slope, info, len(r))
            corr_rep[blk, p], pear_rep[blk, p] = _pair_statistics(
                counts, probs, slope, info, len(r))
    return OrdinalDiscrepancies(
        correlation=corr_obs, correlation_rep=corr_rep, pearson=pear_obs,
        pearson_rep=pear_rep, pairs=pairs, n_pair=n_pair,
    )


# ------------------------------------------------------------------------ from a fit
def _draw_subset(fit: FittedModel, max_draws: int | None) -> np.ndarray:
    """Evenly spaced draw positions within each chain, at most ``max_draws`` in all."""
    post = fit.idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    if max_draws is None or max_draws >= chains * draws:
        return np.arange(draws)
    if max_draws < chains:
        raise ValueError(f"max_draws={max_draws} is below the number of chains ({chains})")
    per_chain = max_draws // chains
    # even spacing over each chain keeps the subset representative of the whole run, which a
    # prefix (early, possibly still drifting draws) would not
    return np.unique(np.linspace(0, draws - 1, per_chain).round().astype(int))


def _fit_arrays(
    fit: FittedModel, positions: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ordinal items, codes (N, J) and per-draw thresholds, latent-response means and covs."""
    r = fit.responses
    if r is None or not r.ordinal_items:
        raise ValueError(
            "the ordinal PPP needs a fit with ordinal items (fitted with ordered=...); use "
            "bayes_rent.results.fit_indices.ppp for continuous items"
        )
    items = list(r.ordinal_items)
    if len(items) < 2:
        raise ValueError(f"the bivariate discrepancy needs two ordinal items or more: {items}")
    mats = fit.matrices.isel(draw=positions)
    c, d = mats.sizes["chain"], mats.sizes["draw"]
    implied = labelled_moments(mats)
    cov = implied["observed_cov"].sel(observed=items, observed_col=items).transpose(
        "chain", "draw", "observed", "observed_col").values.reshape(c * d, len(items), -1)
    mean = implied["observed_mean"].sel(observed=items).transpose(
        "chain", "draw", "observed").values.reshape(c * d, -1)

    n_cuts = max(len(cats) for cats in r.categories.values()) - 1
    thresholds = np.full((c * d, len(items), n_cuts), np.inf)
    rows = fit.partable.loc[fit.partable["op"] == "|"]
    draws = fit.parameter_draws.isel(draw=positions)
    for j, item in enumerate(items):
        ids = rows.loc[rows["lhs"] == item].sort_values(
            "rhs", key=lambda s: s.str[1:].astype(int))["id"].to_numpy()
        thresholds[:, j, : len(ids)] = draws.sel(par=ids).transpose(
            "chain", "draw", "par").values.reshape(c * d, -1)
    codes = np.where(r.answered > 0, r.codes, -1)
    return items, codes, thresholds, mean, cov


def ordinal_ppp_draws(
    fit: FittedModel, *, seed: int | None = None, max_draws: int | None = None
) -> xr.Dataset:
    """Per-draw discrepancies of the ordinal answers and of their replicates, and the PPPs.

    See the module notes for the two discrepancies. Continuous items of a mixed model are
    left out.

    Parameters
    ----------
    fit : Fit
        A fit with ordinal items (``ordered=...``, the conditional backend).
    seed : int, optional
        Seed of the replicated answers.
    max_draws : int, optional
        Use at most this many posterior draws, evenly spaced within each chain (all by
        default). The cost grows linearly with the draws used.

    Returns
    -------
    xarray.Dataset
        Dims ``(chain, draw)`` over the draws used: ``chisq`` and ``chisq_rep`` (the
        correlation discrepancy of the data and of the replicate, summed over pairs),
        ``pearson`` and ``pearson_rep`` (the Pearson χ² over all cells). Per pair, dims
        ``(chain, draw, pair)``: ``chisq_pair``, ``chisq_rep_pair``, ``pearson_pair``,
        ``pearson_rep_pair``; and ``ppp_pair``, ``ppp_pearson_pair`` (dim ``pair``), the PPP
        of each pair's own table. The ``pair`` dim is labelled ``"y1:y2"``, with coordinates
        ``item_a``, ``item_b`` and ``n_answered`` (respondents who answered both).
        Attributes: ``ppp`` (correlation discrepancy), ``ppp_pearson``, ``discrepancy`` and
        ``discrepancy_pearson`` (what they measure), ``items`` (the ordinal items used),
        ``n_pairs``, ``n_cells`` (cells over all pair tables), ``n_draws`` and ``seed``.

    Examples
    --------
    >>> draws = ordinal_ppp_draws(fit, seed=1)  # doctest: +SKIP
    >>> draws["ppp_pair"].to_series().nsmallest(3)  # the pairs that fit worst  # doctest: +SKIP
    """
    positions = _draw_subset(fit, max_draws)
    items, codes, thresholds, mean, cov = _fit_arrays(fit, positions)
    out = ordinal_discrepancies(codes, thresholds, mean, cov, rng=seed)
    post = fit.idata.posterior
    c, d = post.sizes["chain"], len(positions)
    n_cat = np.isfinite(thresholds[0]).sum(-1) + 1
    n_pairs = len(out.pairs)
    coords = {
        "chain": post["chain"].values, "draw": post["draw"].values[positions],
        "pair": [f"{items[j]}:{items[k]}" for j, k in out.pairs],
        "item_a": ("pair", [items[j] for j, _ in out.pairs]),
        "item_b": ("pair", [items[k] for _, k in out.pairs]),
        "n_answered": ("pair", out.n_pair),
    }
    data = {}
    for name, field in (("chisq", "correlation"), ("pearson", "pearson")):
        obs, rep = _pick(out, field)
        data[name] = (("chain", "draw"), obs.sum(-1).reshape(c, d))
        data[f"{name}_rep"] = (("chain", "draw"), rep.sum(-1).reshape(c, d))
        data[f"{name}_pair"] = (("chain", "draw", "pair"), obs.reshape(c, d, n_pairs))
        data[f"{name}_rep_pair"] = (("chain", "draw", "pair"), rep.reshape(c, d, n_pairs))
        key = "ppp_pair" if name == "chisq" else "ppp_pearson_pair"
        data[key] = ("pair", (rep >= obs).mean(0))
    attrs = {
        "ppp": out.ppp("correlation"),
        "ppp_pearson": out.ppp("pearson"),
        "discrepancy": DISCREPANCIES["correlation"],
        "discrepancy_pearson": DISCREPANCIES["pearson"],
        "items": items,
        "n_pairs": int((out.n_pair > 0).sum()),
        "n_cells": int(sum(n_cat[j] * n_cat[k] for (j, k), n in zip(
            out.pairs, out.n_pair, strict=True) if n)),
        "n_draws": int(c * d),
    }
    if seed is not None:
        attrs["seed"] = seed
    return xr.Dataset(data, coords=coords, attrs=attrs)


def ordinal_ppp(
    fit: FittedModel, *, seed: int | None = None, max_draws: int | None = None,
    discrepancy: str = "correlation",
) -> float:
    """Posterior predictive p-value of a fit with ordinal items.

    ``PPP = mean over draws of [D(y_rep, θ) ≥ D(y, θ)]`` with D computed on the item pairs'
    cross tables (module notes). As for the continuous PPP, values near 0.5 mean the answers
    look like the model's replicates and values below about 0.05 flag misfit. Continuous
    items of a mixed model are left out.

    Parameters
    ----------
    fit : Fit
        A fit with ordinal items.
    seed : int, optional
        Seed of the replicated answers.
    max_draws : int, optional
        Use at most this many posterior draws, evenly spaced within each chain.
    discrepancy : {"correlation", "pearson"}
        ``"correlation"``: the correlation component of every pair's Pearson χ² (one df per
        pair), the default, sensitive to a wrong factor structure; ``"pearson"``: the Pearson
        χ² over all cells of all pair tables.

    Returns
    -------
    float
        The share of draws whose replicate is at least as discrepant as the answers.

    Examples
    --------
    >>> import bayes_rent as br
    >>> from bayes_rent.data.population import simulate_ordinal_data
    >>> data = simulate_ordinal_data("f =~ 1*y1 + 1*y2 + 1*y3 + 1*y4", 200,
    ...                              [-1.0, 0.0, 1.0], seed=1)
    >>> fit = br.cfa("f =~ y1 + y2 + y3 + y4", data, ordered=True, seed=1)  # doctest: +SKIP
    >>> ordinal_ppp(fit, seed=1)  # doctest: +SKIP
    """
    if discrepancy not in DISCREPANCIES:
        raise ValueError(
            f"discrepancy={discrepancy!r}: expected one of {', '.join(map(repr, DISCREPANCIES))}"
        )
    draws = ordinal_ppp_draws(fit, seed=seed, max_draws=max_draws)
    return float(draws.attrs["ppp" if discrepancy == "correlation" else "ppp_pearson"])


def ordinal_fit_indices(
    fit: FittedModel, *, seed: int | None = None, max_draws: int | None = None,
    hdi_prob: float = 0.9,
) -> pd.DataFrame:
    """The fit table of a model with ordinal items: what is defined, and what is not.

    ``fit``, ``seed`` and ``max_draws`` are as for :func:`ordinal_ppp`; ``hdi_prob`` is the mass
    of the highest-density intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``index``, columns ``mean, sd, hdi_low, hdi_high, note``, in the shape of
        :func:`bayes_rent.results.fit_indices.fit_indices`:

        * ``ppp``: the PPP of the correlation discrepancy (``mean`` only; the one to read);
        * ``ppp_pearson``: the PPP of the Pearson χ² over all cells (``mean`` only);
        * ``chisq_correlation``, ``chisq_pearson``: the posteriors of the two
          discrepancies of the data, D(y, θ);
        * ``chisq``, ``brmsea``, ``bgammahat``, ``adjbgammahat``, ``bmc``, ``bcfi``,
          ``btli``, ``bnfi``, ``srmr``: NaN, with the reason they are not defined for
          ordinal data in ``note``.

        ``attrs["discrepancy"]`` names the discrepancy of ``ppp``. Model comparison for
        ordinal fits is by LOO (``fit.loo()``, ``br.compare``).

    Examples
    --------
    >>> table = ordinal_fit_indices(fit, seed=1)  # doctest: +SKIP
    >>> table.loc["ppp", "mean"], table.loc["brmsea", "note"]  # doctest: +SKIP
    """
    draws = ordinal_ppp_draws(fit, seed=seed, max_draws=max_draws)
    names = ["chisq_correlation", "chisq_pearson"]
    stacked = xr.concat([draws["chisq"], draws["pearson"]], dim="index").assign_coords(
        index=names)
    stats = summarize_draws(stacked, "index", hdi_prob=hdi_prob)
    pairs, cells = draws.attrs["n_pairs"], draws.attrs["n_cells"]
    notes = {
        "ppp": f"posterior predictive p-value of the {DISCREPANCIES['correlation']}",
        "ppp_pearson": f"posterior predictive p-value of the {DISCREPANCIES['pearson']}",
        "chisq_correlation": f"{DISCREPANCIES['correlation']}: data against the model per "
                             f"draw ({pairs} pairs)",
        "chisq_pearson": f"{DISCREPANCIES['pearson']}: data against the model per draw "
                         f"({cells} cells)",
    }
    rows = [["ppp", draws.attrs["ppp"], np.nan, np.nan, np.nan, notes["ppp"]],
            ["ppp_pearson", draws.attrs["ppp_pearson"], np.nan, np.nan, np.nan,
             notes["ppp_pearson"]]]
    rows += [[n, *stats.loc[n, ["mean", "sd", "hdi_low", "hdi_high"]].to_list(), notes[n]]
             for n in names]
    rows += [[name, np.nan, np.nan, np.nan, np.nan, why] for name, why in _UNDEFINED.items()]
    table = pd.DataFrame(
        rows, columns=["index", "mean", "sd", "hdi_low", "hdi_high", "note"]
    ).set_index("index")
    table.attrs["discrepancy"] = DISCREPANCIES["correlation"]
    return table
