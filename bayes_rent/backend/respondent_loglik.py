"""Per-respondent log-likelihood with the latent scores integrated out, for PSIS-LOO.

A backend that samples every respondent's latent scores (the ordinal, ordered-probit backend)
has a *conditional* likelihood ``p(y_i | eta_i, theta)``; leave-one-respondent-out needs the
*marginal* one,

    log p(y_i | theta_s) = log  integral  prod_j p(y_ij | eta)  N(eta; mu_s, Sigma_s)  d eta,

for every posterior draw ``s``. The item model given the latent scores is

    y*_ij = nu_j + Lambda_j . eta + eps_ij,    eps_ij ~ N(0, theta_j), independent over items,

with ``y_ij = y*_ij`` for a continuous item and, for an ordinal item with categories coded
``0 .. K_j - 1`` and thresholds ``tau_j[0] < ... < tau_j[K_j - 2]`` (0-based cut numbering),

    y_ij = k   <=>   tau_j[k - 1] < y*_ij <= tau_j[k],    tau_j[-1] = -inf, tau_j[K_j - 1] = +inf,

so ``P(y_ij = k | eta) = Phi((tau_j[k] - mu_ij) / sqrt(theta_j)) - Phi((tau_j[k-1] - mu_ij) /
sqrt(theta_j))`` (theta parameterization: ``theta_j`` is the residual variance of ``y*``).
Missing answers drop out of the product.

Everything Gaussian is integrated in closed form: phantom latents (observed covariates carried
in the structural model) are conditioned on, and the continuous answers are absorbed into a
Gaussian posterior ``N(m_si, P_si^-1)`` of the remaining latents together with their exact
marginal density. Only the ordinal answers are left to Monte Carlo, by importance sampling:

    p(y_i | theta_s) = p(y_c, x_f | theta_s) * E_q[ prod_ordinal p(y_ij | eta) N(eta; m_si, P_si^-1)
                                                   / q_i(eta) ].

The proposal ``q_i`` is a multivariate Student-t around the posterior of respondent ``i``'s
sampled scores (mean and covariance over all draws), so heavy tails keep the weights' variance
finite. The same proposal draws are used for every posterior draw (common random numbers): the
estimate is then a smooth function of ``theta_s`` and its Monte Carlo error does not add noise
between draws. Without a proposal the Gaussian ``N(m_si, P_si^-1)`` itself is used, i.e. the prior
conditional on the phantoms and the continuous answers, whose weights are bounded by 1.

Respondents without an ordinal answer are computed exactly (no Monte Carlo error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, log_ndtr, logsumexp, ndtr

__all__ = ["RespondentLoglik", "respondent_loglik", "respondent_loglik_diagnostics"]

_LOG_2PI = math.log(2.0 * math.pi)
# Working arrays have shape (respondents, draws, importance samples) and up to about fifteen of
# them are alive at the peak (item loop, logsumexp); 2**20 elements (8 MB each) keep it near
# 120 MB. Larger blocks measured no faster.
_CHUNK_ELEMENTS = 2**20
# Below this Phi(hi) is (nearly) subnormal and loses relative precision: use log_ndtr there.
_NDTR_FLOOR = 1e-290


@dataclass(frozen=True)
class RespondentLoglik:
    """Importance-sampling estimate of the respondent log-likelihood and its diagnostics.

    Attributes
    ----------
    loglik : numpy.ndarray
        ``(S, N)`` log-likelihood of each respondent under each posterior draw.
    ess : numpy.ndarray
        ``(S, N)`` effective sample size ``(sum w)^2 / sum w^2`` of the importance weights;
        ``inf`` where the value is exact.
    mc_se : numpy.ndarray
        ``(S, N)`` delta-method Monte Carlo standard error of ``loglik``,
        ``sqrt(1 / ess - 1 / n_importance)``; 0 where exact.
    pareto_k : numpy.ndarray
        ``(N,)`` largest Pareto shape ``k`` of the importance weights (``arviz.psislw``) over the
        draws that were checked; NaN where exact or when no draw was checked.
    exact : numpy.ndarray
        ``(N,)`` True for respondents computed in closed form (no ordinal answer).
    n_importance : int
        Number of importance samples per respondent.

    Examples
    --------
    >>> import numpy as np
    >>> r = RespondentLoglik(loglik=np.zeros((1, 3)), ess=np.full((1, 3), 150.0),
    ...                      mc_se=np.full((1, 3), 0.05), pareto_k=np.array([0.2, 0.9, np.nan]),
    ...                      exact=np.array([False, False, True]), n_importance=200)
    >>> round(r.pareto_k_threshold, 3), r.unreliable.tolist()
    (0.565, [False, True, False])
    """

    loglik: np.ndarray
    ess: np.ndarray
    mc_se: np.ndarray
    pareto_k: np.ndarray
    exact: np.ndarray
    n_importance: int

    @property
    def pareto_k_threshold(self) -> float:
        """Sample-size dependent bound ``min(1 - 1/log10(R), 0.7)`` (Vehtari et al. 2024)."""
        if self.n_importance < 2:
            return -math.inf
        return min(1.0 - 1.0 / math.log10(self.n_importance), 0.7)

    @property
    def unreliable(self) -> np.ndarray:
        """``(N,)`` True where ``pareto_k`` exceeds :attr:`pareto_k_threshold`."""
        return self.pareto_k > self.pareto_k_threshold


def respondent_loglik(
    codes: np.ndarray, values: np.ndarray, ordinal: np.ndarray, thresholds: np.ndarray | None,
    loadings: np.ndarray, intercepts: np.ndarray, residual_variances: np.ndarray,
    latent_mean: np.ndarray, latent_cov: np.ndarray,
    *,
    phantom: np.ndarray | None = None, phantom_values: np.ndarray | None = None,
    proposal_mean: np.ndarray | None = None, proposal_cov: np.ndarray | None = None,
    n_importance: int = 200, seed: int | None = None,
    proposal_df: float = 5.0, proposal_inflation: float = 1.2,
) -> np.ndarray:
    """Log-likelihood of each respondent's answers with the latent scores integrated out.

    Same computation as :func:`respondent_loglik_diagnostics`, returning only ``loglik`` and
    skipping the Pareto-k check.

    Parameters
    ----------
    codes, values, ordinal, thresholds, loadings, intercepts, residual_variances : numpy.ndarray
        The answers and the measurement parameters, as in
        :func:`respondent_loglik_diagnostics`.
    latent_mean, latent_cov : numpy.ndarray
        ``(S, m)`` and ``(S, m, m)`` model-implied moments of the latents.
    phantom, phantom_values, proposal_mean, proposal_cov : numpy.ndarray, optional
        Phantom latents and the importance proposal, as in
        :func:`respondent_loglik_diagnostics`.
    n_importance, seed, proposal_df, proposal_inflation
        Importance-sampling settings, as in :func:`respondent_loglik_diagnostics`.

    Returns
    -------
    numpy.ndarray
        ``(S, N)`` log-likelihood, one row per posterior draw.

    Examples
    --------
    One latent, one four-category item: the marginal probability of a category is a probit in
    closed form, ``Phi((tau_k - nu - lambda mu) / sqrt(theta + lambda^2 psi))`` differences.

    >>> import numpy as np
    >>> from scipy.stats import norm
    >>> tau = np.array([-1.0, 0.0, 1.0])
    >>> ll = respondent_loglik(
    ...     codes=np.array([[0], [2]]), values=np.full((2, 1), np.nan),
    ...     ordinal=np.array([True]), thresholds=tau[None, None, :],
    ...     loadings=np.ones((1, 1, 1)), intercepts=np.zeros((1, 1)),
    ...     residual_variances=np.ones((1, 1)), latent_mean=np.zeros((1, 1)),
    ...     latent_cov=np.ones((1, 1, 1)), n_importance=4000, seed=1)
    >>> cdf = norm.cdf(tau / np.sqrt(2.0))
    >>> exact = np.log([cdf[0], cdf[2] - cdf[1]])
    >>> bool(np.all(np.abs(ll[0] - exact) < 0.02))
    True
    """
    arguments = dict(locals())  # exactly the parameters: nothing is assigned before this
    return respondent_loglik_diagnostics(**arguments, diagnostic_draws=0).loglik


def respondent_loglik_diagnostics(
    codes: np.ndarray,
    values: np.ndarray,
    ordinal: np.ndarray,
    thresholds: np.ndarray | None,
    loadings: np.ndarray,
    intercepts: np.ndarray,
    residual_variances: np.ndarray,
    latent_mean: np.ndarray,
    latent_cov: np.ndarray,
    *,
    phantom: np.ndarray | None = None,
    phantom_values: np.ndarray | None = None,
    proposal_mean: np.ndarray | None = None,
    proposal_cov: np.ndarray | None = None,
    n_importance: int = 200,
    seed: int | None = None,
    proposal_df: float = 5.0,
    proposal_inflation: float = 1.2,
    diagnostic_draws: int = 10,
) -> RespondentLoglik:
    """Respondent log-likelihood by importance sampling, with weight diagnostics.

    ``S`` posterior draws, ``N`` respondents, ``p`` items, ``m`` latent dims of which ``m_real``
    are not phantoms.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N, p)`` int, category ``0 .. K_j - 1`` of each ordinal answer, ``-1`` = missing;
        ignored for continuous items.
    values : numpy.ndarray
        ``(N, p)`` float, continuous answers, NaN = missing; ignored for ordinal items.
    ordinal : numpy.ndarray
        ``(p,)`` bool, which items are ordinal.
    thresholds : numpy.ndarray or None
        ``(S, p, K_max - 1)`` ordered thresholds; ``thresholds[s, j, k]`` separates categories
        ``k`` and ``k + 1``. Rows of items with fewer categories are padded with ``+inf``. Ignored
        for continuous items; may be None when no item is ordinal.
    loadings : numpy.ndarray
        ``(S, p, m)`` ``Lambda``, including the columns of phantom latents (direct effects of a
        covariate on an item).
    intercepts : numpy.ndarray
        ``(S, p)`` ``nu`` (for ordinal items usually fixed at 0, the thresholds carry location).
    residual_variances : numpy.ndarray
        ``(S, p)`` ``theta_j > 0``, the residual variance of ``y*``. A phantom's own indicator
        (zero residual variance) must not be passed as an item: its density is the phantom term.
    latent_mean, latent_cov : numpy.ndarray
        ``(S, m)`` and ``(S, m, m)`` model-implied mean and covariance of all latents.
    phantom : numpy.ndarray, optional
        ``(m,)`` bool, latents whose value is the observed ``phantom_values``.
    phantom_values : numpy.ndarray, optional
        ``(N, n_phantom)`` observed values of the phantom latents, in latent order; no NaN.
    proposal_mean, proposal_cov : numpy.ndarray, optional
        ``(N, m_real)`` and ``(N, m_real, m_real)`` posterior mean and covariance of each
        respondent's sampled (non-phantom) latent scores, pooled over all draws (rows of
        respondents without an ordinal answer are not used). Without them
        the proposal is ``N(eta | phantoms, continuous answers)`` for each draw, which is the
        prior when the respondent has no continuous answer; that is unbiased but needs many
        more samples when the answers are informative.
    n_importance : int
        Importance samples ``R`` per respondent.
    seed : int, optional
        Seed of the common random numbers; a respondent's samples do not depend on the other
        respondents' answers.
    proposal_df : float
        Degrees of freedom of the Student-t proposal.
    proposal_inflation : float
        Factor applied to ``proposal_cov`` to get the t scale matrix; the pooled posterior is
        already wider than each draw's conditional posterior, so only a little is needed.
    diagnostic_draws : int
        Number of evenly spaced posterior draws on which ``arviz.psislw`` estimates the Pareto
        ``k`` of the weights (0 skips it: it loops in Python over respondents).

    Returns
    -------
    RespondentLoglik
        ``loglik`` ``(S, N)`` plus ``ess``, ``mc_se``, ``pareto_k`` and ``exact``.

    Raises
    ------
    ValueError
        On inconsistent shapes, a category code outside the item's categories, unordered
        thresholds, a non-positive residual variance of an answered item, or missing phantoms.
    numpy.linalg.LinAlgError
        When a latent or proposal covariance is not positive definite.

    Notes
    -----
    Cost is ``O(S * N_ordinal * R * answered ordinal items)`` normal-cdf evaluations, processed
    in blocks of draws so that no working array exceeds 8 MB (peak about 120 MB). The ordinal
    probability ``log(Phi(b) - Phi(a))`` is evaluated on the side of the real line where the
    interval lies in the lower tail, with ``log_ndtr`` for far-tail answers, so its absolute
    error stays below ``1e-10`` for cut widths above ``1e-4`` sd (far under the Monte Carlo
    error).

    The Monte Carlo standard error ``mc_se`` is the usual delta-method value, trustworthy while
    ``pareto_k`` is below :attr:`RespondentLoglik.pareto_k_threshold`; the estimate of
    ``log p`` is biased downwards by about ``mc_se**2 / 2`` (Jensen).

    Examples
    --------
    Continuous answers only: the value is the multivariate normal marginal, exactly.

    >>> import numpy as np
    >>> from scipy.stats import multivariate_normal
    >>> lam = np.array([[[1.0], [0.8]]])
    >>> out = respondent_loglik_diagnostics(
    ...     codes=np.full((1, 2), -1), values=np.array([[0.3, -0.2]]),
    ...     ordinal=np.array([False, False]), thresholds=None, loadings=lam,
    ...     intercepts=np.zeros((1, 2)), residual_variances=np.full((1, 2), 0.5),
    ...     latent_mean=np.zeros((1, 1)), latent_cov=np.ones((1, 1, 1)))
    >>> cov = lam[0] @ lam[0].T + 0.5 * np.eye(2)
    >>> bool(np.isclose(out.loglik[0, 0], multivariate_normal([0, 0], cov).logpdf([0.3, -0.2])))
    True
    >>> out.exact.tolist(), out.mc_se.tolist()
    ([True], [[0.0]])
    """
    data = _Inputs.build(
        (codes, values, ordinal, thresholds),
        (loadings, intercepts, residual_variances, latent_mean, latent_cov),
        phantom,
        phantom_values,
    )
    _check_settings(n_importance, proposal_df, proposal_inflation, proposal_mean, proposal_cov)
    m_real = int(data.real.sum())
    # Without a latent to integrate every sample gives the same value: one sample is exact.
    n_samples = n_importance if m_real > 0 else 1
    is_resp = np.flatnonzero(data.obs_ord.any(axis=1))

    rng = np.random.default_rng(seed)
    # Drawn for every respondent, then subset: respondent i's samples do not depend on who else
    # has ordinal answers.
    z_all = rng.standard_normal((data.n_resp, n_samples, m_real))
    proposal = None
    if proposal_mean is not None:
        chi2_all = rng.chisquare(proposal_df, size=(data.n_resp, n_samples))
        proposal = _student_proposal(
            np.asarray(proposal_mean, dtype=float),
            np.asarray(proposal_cov, dtype=float),
            (z_all, chi2_all, is_resp),
            df=proposal_df,
            inflation=proposal_inflation,
        )
    z_t = np.ascontiguousarray(z_all[is_resp].transpose(0, 2, 1))  # (n_is, m_real, R)
    check = np.unique(
        np.linspace(0, data.n_draws - 1, max(diagnostic_draws, 0)).round().astype(int)
    )
    loglik, ess, mc_se, kept_lw = _importance_estimates(
        data, is_resp, z_t, proposal, check, n_samples
    )
    pareto_k = np.full(data.n_resp, np.nan)
    if len(check) and len(is_resp) and m_real > 0:
        pareto_k[is_resp] = _pareto_k(kept_lw)
    return RespondentLoglik(
        loglik=loglik,
        ess=ess,
        mc_se=mc_se,
        pareto_k=pareto_k,
        exact=~data.obs_ord.any(axis=1) | (m_real == 0),
        n_importance=n_importance,
    )


def _check_settings(
    n_importance: int,
    proposal_df: float,
    proposal_inflation: float,
    proposal_mean: np.ndarray | None,
    proposal_cov: np.ndarray | None,
) -> None:
    """Validate the importance-sampling settings of :func:`respondent_loglik_diagnostics`."""
    if n_importance < 1:
        raise ValueError("n_importance must be at least 1")
    if not (proposal_df > 0 and np.isfinite(proposal_df)):
        raise ValueError("proposal_df must be positive and finite")
    if not proposal_inflation > 0:
        raise ValueError("proposal_inflation must be positive")
    if (proposal_mean is None) != (proposal_cov is None):
        raise ValueError("give both proposal_mean and proposal_cov, or neither")


def _student_proposal(
    p_mean: np.ndarray,
    p_cov: np.ndarray,
    samples: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    df: float,
    inflation: float,
) -> _TProposal:
    """The Student-t proposal of the respondents ``is_resp`` from ``samples = (z, chi2, is_resp)``.

    ``z`` ``(N, R, m_real)`` and ``chi2`` ``(N, R)`` are drawn for every respondent.
    """
    z_all, chi2_all, is_resp = samples
    n_resp, _, m_real = z_all.shape
    if p_mean.shape != (n_resp, m_real) or p_cov.shape != (n_resp, m_real, m_real):
        raise ValueError(
            f"proposal_mean and proposal_cov must have shapes ({n_resp}, {m_real}) and "
            f"({n_resp}, {m_real}, {m_real}) (non-phantom latents only)"
        )
    return _TProposal.build(
        p_mean[is_resp],
        p_cov[is_resp],
        z_all[is_resp],
        chi2_all[is_resp],
        df=df,
        inflation=inflation,
    )


def _importance_estimates(
    data: _Inputs,
    is_resp: np.ndarray,
    z_t: np.ndarray,
    proposal: _TProposal | None,
    check: np.ndarray,
    n_samples: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``loglik``, ``ess``, ``mc_se`` ``(S, N)`` and the log weights of the ``check`` draws.

    Draws are processed in blocks that keep every working array under ``_CHUNK_ELEMENTS``.
    """
    n_draws, n_resp = data.n_draws, data.n_resp
    m_real = z_t.shape[1]
    loglik = np.empty((n_draws, n_resp))
    ess = np.full((n_draws, n_resp), np.inf)
    mc_se = np.zeros((n_draws, n_resp))
    kept_lw = np.empty((len(check), len(is_resp), n_samples))

    n_lat = data.loadings.shape[2]
    per_draw = max(len(is_resp) * n_samples, n_resp * (data.loadings.shape[1] + n_lat * n_lat), 1)
    step = max(1, _CHUNK_ELEMENTS // per_draw)
    for s0 in range(0, n_draws, step):
        draws = slice(s0, min(s0 + step, n_draws))
        gauss = _gaussian_part(data, draws)
        loglik[draws] = gauss.log_density
        if len(is_resp) == 0:
            continue
        lw = _log_weights(data, draws, gauss, is_resp, z_t, proposal)  # (n_is, cs, R)
        lse = logsumexp(lw, axis=-1)
        loglik[draws, is_resp] += (lse - math.log(n_samples)).T
        if m_real > 0:
            with np.errstate(invalid="ignore"):
                n_eff = np.exp(2.0 * lse - logsumexp(2.0 * lw, axis=-1)).T
            ess[draws, is_resp] = n_eff
            mc_se[draws, is_resp] = np.sqrt(np.maximum(1.0 / n_eff - 1.0 / n_samples, 0.0))
        local = np.flatnonzero((check >= draws.start) & (check < draws.stop))
        for c in local:
            kept_lw[c] = lw[:, check[c] - draws.start, :]
    return loglik, ess, mc_se, kept_lw


@dataclass(frozen=True)
class _Inputs:
    """Validated inputs; thresholds padded to ``(S, p, K_max + 1)`` with -inf/+inf ends."""

    codes: np.ndarray
    values: np.ndarray
    obs_ord: np.ndarray
    obs_con: np.ndarray
    cuts: np.ndarray
    loadings: np.ndarray
    intercepts: np.ndarray
    residual_variances: np.ndarray
    latent_mean: np.ndarray
    latent_cov: np.ndarray
    real: np.ndarray
    phantom_values: np.ndarray

    @property
    def n_draws(self) -> int:
        return self.loadings.shape[0]

    @property
    def n_resp(self) -> int:
        return self.codes.shape[0]

    @classmethod
    def build(
        cls,
        answers: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
        parameters: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        phantom: np.ndarray | None,
        phantom_values: np.ndarray | None,
    ) -> _Inputs:
        """Validate ``answers = (codes, values, ordinal, thresholds)`` and ``parameters =
        (loadings, intercepts, residual_variances, latent_mean, latent_cov)``."""
        codes, values, ordinal, thresholds = answers
        loadings, intercepts, residual_variances, latent_mean, latent_cov = parameters
        loadings = np.asarray(loadings, dtype=float)
        if loadings.ndim != 3:
            raise ValueError("loadings must have shape (S, p, m)")
        n_draws, n_items, n_lat = loadings.shape
        codes = np.asarray(codes)
        values = np.asarray(values, dtype=float)
        ordinal = np.asarray(ordinal, dtype=bool)
        if ordinal.shape != (n_items,):
            raise ValueError(f"ordinal must have shape ({n_items},)")
        if codes.ndim != 2 or codes.shape[1] != n_items or values.shape != codes.shape:
            raise ValueError(f"codes and values must both have shape (N, {n_items})")
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError("codes must be integers (-1 = missing)")
        intercepts = np.asarray(intercepts, dtype=float)
        theta = np.asarray(residual_variances, dtype=float)
        mean = np.asarray(latent_mean, dtype=float)
        cov = np.asarray(latent_cov, dtype=float)
        for name, arr, shape in (
            ("intercepts", intercepts, (n_draws, n_items)),
            ("residual_variances", theta, (n_draws, n_items)),
            ("latent_mean", mean, (n_draws, n_lat)),
            ("latent_cov", cov, (n_draws, n_lat, n_lat)),
        ):
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        # Cholesky reads one triangle only: an asymmetric input would be used silently.
        if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-10, atol=1e-12):
            raise ValueError("latent_cov must be symmetric")

        obs_ord = ordinal[None, :] & (codes >= 0)
        obs_con = ~ordinal[None, :] & np.isfinite(values)
        answered = obs_ord.any(axis=0) | obs_con.any(axis=0)
        if np.any(theta[:, answered] <= 0) or not np.all(np.isfinite(theta[:, answered])):
            raise ValueError(
                "residual_variances must be positive and finite for answered items "
                "(leave a phantom's own indicator out of the items)"
            )
        # Items nobody answered never enter a product; a neutral value avoids 1/0 downstream.
        theta = np.where(answered[None, :], theta, 1.0)

        cuts = cls._padded_cuts(thresholds, ordinal, codes, obs_ord, n_draws, n_items)

        real = np.ones(n_lat, dtype=bool)
        if phantom is not None:
            real = ~np.asarray(phantom, dtype=bool)
            if real.shape != (n_lat,):
                raise ValueError(f"phantom must have shape ({n_lat},)")
        n_ph = int((~real).sum())
        if n_ph:
            if phantom_values is None:
                raise ValueError("phantom latents need phantom_values")
            xf = np.asarray(phantom_values, dtype=float)
            if xf.shape != (codes.shape[0], n_ph):
                raise ValueError(f"phantom_values must have shape ({codes.shape[0]}, {n_ph})")
            if not np.all(np.isfinite(xf)):
                raise ValueError("phantom_values must be fully observed")
        else:
            xf = np.empty((codes.shape[0], 0))
        return cls(
            codes=np.where(obs_ord, codes, 0).astype(np.intp),
            values=np.where(obs_con, values, 0.0),
            obs_ord=obs_ord, obs_con=obs_con, cuts=cuts,
            loadings=loadings, intercepts=intercepts, residual_variances=theta,
            latent_mean=mean, latent_cov=cov,
            real=real, phantom_values=xf,
        )

    @staticmethod
    def _padded_cuts(
        thresholds: np.ndarray | None,
        ordinal: np.ndarray,
        codes: np.ndarray,
        obs_ord: np.ndarray,
        n_draws: int,
        n_items: int,
    ) -> np.ndarray:
        if not ordinal.any():
            return np.empty((n_draws, n_items, 2))
        if thresholds is None:
            raise ValueError("ordinal items need thresholds")
        thr = np.asarray(thresholds, dtype=float)
        if thr.ndim != 3 or thr.shape[:2] != (n_draws, n_items):
            raise ValueError(f"thresholds must have shape ({n_draws}, {n_items}, K_max - 1)")
        thr_ord = thr[:, ordinal, :]
        if np.isnan(thr_ord).any() or np.any(thr_ord[..., 1:] < thr_ord[..., :-1]):
            raise ValueError("thresholds of ordinal items must be ordered, padded with +inf")
        # Category count from the first draw: padding is structural, the same in every draw.
        n_cat = 1 + np.isfinite(thr[0]).sum(axis=1)
        too_high = obs_ord & (codes >= n_cat[None, :])
        if too_high.any():
            i, j = np.argwhere(too_high)[0]
            raise ValueError(
                f"respondent {i}, item {j}: code {codes[i, j]} but only {n_cat[j]} categories"
            )
        lo = np.full((n_draws, n_items, 1), -np.inf)
        hi = np.full((n_draws, n_items, 1), np.inf)
        return np.concatenate([lo, np.where(ordinal[None, :, None], thr, 0.0), hi], axis=2)


@dataclass(frozen=True)
class _Gaussian:
    """Closed-form part for a block of draws (``cs`` draws, all ``N`` respondents).

    ``log_density`` = log density of the continuous answers and the phantoms; ``offset`` =
    ``nu + Lambda_phantom x``; ``post_mean``/``prec_chol`` = mean and Cholesky factor of the
    precision of the real latents given phantoms and continuous answers.
    """

    log_density: np.ndarray  # (cs, N)
    offset: np.ndarray  # (cs, N, p)
    post_mean: np.ndarray  # (cs, N, m_real)
    prec_chol: np.ndarray  # (cs, N, m_real, m_real)
    log_det_chol: np.ndarray  # (cs, N): sum log diag(prec_chol) = log|P| / 2


def _gaussian_part(data: _Inputs, draws: slice) -> _Gaussian:
    real, ph = data.real, ~data.real
    mean = data.latent_mean[draws]
    cov = data.latent_cov[draws]
    lam = data.loadings[draws]
    theta = data.residual_variances[draws]
    xf = data.phantom_values
    cov_rr = cov[:, real][:, :, real]

    # Phantoms are observed: condition the real latents on them and keep their own density.
    log_ph = np.zeros((cov.shape[0], data.n_resp))
    mu_c = np.broadcast_to(mean[:, None, real], (cov.shape[0], data.n_resp, int(real.sum())))
    if ph.any():
        cov_ff = cov[:, ph][:, :, ph]
        cov_fr = cov[:, ph][:, :, real]
        chol_ff = np.linalg.cholesky(cov_ff)
        white = np.linalg.inv(chol_ff)  # L^-1, so that Sigma_ff^-1 = L^-T L^-1
        dev = np.einsum("skl,sil->sik", white, xf[None] - mean[:, None, ph])
        log_ph = -0.5 * (
            ph.sum() * _LOG_2PI
            + 2.0 * np.log(np.diagonal(chol_ff, axis1=1, axis2=2)).sum(axis=1)[:, None]
            + (dev**2).sum(axis=2)
        )
        gain = np.einsum("skl,skr->slr", white, cov_fr)  # L^-1 Sigma_fr
        mu_c = mu_c + np.einsum("sik,skr->sir", dev, gain)
        cov_rr = cov_rr - np.einsum("skl,skr->slr", gain, gain)

    lam_r = lam[:, :, real]
    offset = data.intercepts[draws][:, None, :] + np.einsum("sjk,ik->sij", lam[:, :, ph], xf)

    chol_c = np.linalg.cholesky(cov_rr)
    white_c = np.linalg.inv(chol_c)
    prior_prec = np.einsum("skl,skr->slr", white_c, white_c)
    log_det_c = 2.0 * np.log(np.diagonal(chol_c, axis1=1, axis2=2)).sum(axis=1)

    # Information form: residuals centred at the prior mean keep the quadratic forms small, so
    # the difference r'W r - h'P^-1 h = r'(Lambda Sigma Lambda' + Theta)^-1 r does not cancel.
    obs = data.obs_con[None]
    weight = np.where(obs, 1.0 / theta[:, None, :], 0.0)  # (cs, N, p)
    resid = np.where(obs, data.values[None] - offset - np.einsum("sjk,sik->sij", lam_r, mu_c), 0.0)
    prec = prior_prec[:, None] + np.einsum("sij,sjk,sjl->sikl", weight, lam_r, lam_r)
    h = np.einsum("sij,sjk->sik", weight * resid, lam_r)
    prec_chol = np.linalg.cholesky(prec)
    shift = np.linalg.solve(prec, h[..., None])[..., 0]
    log_det_chol = np.log(np.diagonal(prec_chol, axis1=2, axis2=3)).sum(axis=2)
    n_con = data.obs_con.sum(axis=1)
    log_theta = np.log(np.where(obs, theta[:, None, :], 1.0)).sum(axis=2)
    log_con = -0.5 * (
        n_con[None] * _LOG_2PI
        + log_theta
        + log_det_c[:, None]
        + 2.0 * log_det_chol
        + (weight * resid**2).sum(axis=2)
        - (h * shift).sum(axis=2)
    )
    return _Gaussian(
        log_density=log_ph + log_con,
        offset=offset,
        post_mean=mu_c + shift,
        prec_chol=prec_chol,
        log_det_chol=log_det_chol,
    )


@dataclass(frozen=True)
class _TProposal:
    """Student-t proposal draws, shared by all posterior draws (common random numbers)."""

    mean: np.ndarray  # (n, m)
    dev_t: np.ndarray  # (n, m, R): eta - mean
    features: np.ndarray  # (n, m*m + m, R): vec(dev dev') and dev, for the Gaussian log density
    log_q: np.ndarray  # (n, R)

    @classmethod
    def build(
        cls,
        mean: np.ndarray,
        cov: np.ndarray,
        z: np.ndarray,
        chi2: np.ndarray,
        *,
        df: float,
        inflation: float,
    ) -> _TProposal:
        m_real = z.shape[2]
        if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-10, atol=1e-12):
            raise ValueError("proposal_cov must be symmetric")
        chol = np.linalg.cholesky(inflation * cov)
        radius = np.sqrt(df / chi2)  # (n, R)
        dev = np.einsum("ikl,irl->irk", chol, z) * radius[..., None]
        maha = (z**2).sum(axis=2) * radius**2
        log_q = (
            gammaln(0.5 * (df + m_real))
            - gammaln(0.5 * df)
            - 0.5 * m_real * math.log(df * math.pi)
            - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)[:, None]
            - 0.5 * (df + m_real) * np.log1p(maha / df)
        )
        outer = (dev[..., :, None] * dev[..., None, :]).reshape(*dev.shape[:2], m_real * m_real)
        features = np.concatenate([outer, dev], axis=2).transpose(0, 2, 1)
        return cls(
            mean=mean,
            dev_t=np.ascontiguousarray(dev.transpose(0, 2, 1)),
            features=np.ascontiguousarray(features),
            log_q=log_q,
        )


def _log_weights(
    data: _Inputs,
    draws: slice,
    gauss: _Gaussian,
    resp: np.ndarray,
    z_t: np.ndarray,
    proposal: _TProposal | None,
) -> np.ndarray:
    """Log importance weights ``(n_resp, cs, R)`` for the respondents ``resp``."""
    real = data.real
    lam_r = data.loadings[draws][:, :, real]  # (cs, p, m)
    sd = np.sqrt(data.residual_variances[draws])  # (cs, p)
    cuts = data.cuts[draws]
    prec_chol = gauss.prec_chol[:, resp]
    post_mean = gauss.post_mean[:, resp]
    n_draws_block = lam_r.shape[0]
    n_samples = z_t.shape[2]

    if proposal is None:
        # eta = m + U^-T z with P = U U': Lambda_j . eta = Lambda_j . m + (U^-1 Lambda_j) . z.
        centre = post_mean
        coef = np.einsum("sikl,sjl->ijsk", np.linalg.inv(prec_chol), lam_r)  # (n, p, cs, m)
        samples_t = z_t
        lw = np.zeros((len(resp), n_draws_block, n_samples))
    else:
        # Weight = N(eta; m, P^-1) / q(eta): with eta = mean_q + d and delta = m - mean_q,
        # -(eta - m)'P(eta - m)/2 = -d'Pd/2 + delta'P d - delta'P delta/2, linear in the
        # features (vec(dd'), d) that were computed once for all draws.
        centre = np.broadcast_to(proposal.mean[None], post_mean.shape)
        coef = None
        samples_t = proposal.dev_t
        prec = prec_chol @ np.swapaxes(prec_chol, -1, -2)
        delta = post_mean - proposal.mean[None]
        p_delta = np.einsum("sikl,sil->sik", prec, delta)
        lin = np.concatenate([-0.5 * prec.reshape(*prec.shape[:2], -1), p_delta], axis=2)
        lin = lin.transpose(1, 0, 2)  # (n, cs, m*m + m)
        const = (
            -0.5 * real.sum() * _LOG_2PI
            + gauss.log_det_chol[:, resp]
            - 0.5 * (p_delta * delta).sum(axis=2)
        ).T  # (n, cs)
        lw = np.matmul(lin, proposal.features)
        lw += const[..., None]
        lw -= proposal.log_q[:, None, :]

    # Linear predictor at the proposal centre, (cs, n, p).
    base = gauss.offset[:, resp] + np.einsum("sjk,sik->sij", lam_r, centre)
    codes = data.codes[resp]
    for j in np.flatnonzero(data.obs_ord[resp].any(axis=0)):
        who = np.flatnonzero(data.obs_ord[resp, j])
        code = codes[who, j]
        lo = ((cuts[:, j, code] - base[:, who, j]) / sd[:, j, None]).T  # (n_j, cs)
        hi = ((cuts[:, j, code + 1] - base[:, who, j]) / sd[:, j, None]).T
        if coef is None:
            spread = np.matmul(lam_r[None, :, j, :], samples_t[who])  # (n_j, cs, R)
        else:
            spread = np.matmul(coef[who, j], samples_t[who])
        spread /= sd[None, :, j, None]
        a = lo[..., None] - spread
        np.subtract(hi[..., None], spread, out=spread)
        lw[who] += _log_ndtr_diff(a, spread)
    return lw


def _log_ndtr_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a <= b``, accurate in both tails.

    An interval in the upper tail is reflected, ``Phi(b) - Phi(a) = Phi(-a) - Phi(-b)``, so that
    ``lo <= 0``: ``Phi(lo)`` has a relative error of a few ulp and ``Phi(hi)`` one of at most
    ``eps`` (relative where small, absolute near 1). The difference is then as accurate as the
    ``log_ndtr`` form (measured against mpmath: below ``3e-11`` in the log for cut widths above
    ``1e-4`` sd) and ``ndtr`` costs half of ``log_ndtr`` on positive arguments, in the inner
    loop. Only where ``Phi(hi)`` underflows, or the rounded difference is not positive, does
    :func:`_log_ndtr_diff_tail` take over.
    """
    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    p_hi = ndtr(hi)
    out = ndtr(lo)
    np.subtract(p_hi, out, out=out)
    slow = (out <= 0) | (p_hi < _NDTR_FLOOR)
    with np.errstate(divide="ignore"):
        np.log(out, out=out)
    if slow.any():
        out[slow] = _log_ndtr_diff_tail(lo[slow], hi[slow])
    return out


def _log_ndtr_diff_tail(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(Phi(hi) - Phi(lo))`` for ``lo <= min(hi, 0)`` from ``log_ndtr`` alone.

    ``log Phi(hi) + log(1 - exp(log Phi(lo) - log Phi(hi)))``; ``log(-expm1(x))`` keeps an absolute
    error of a few ulp for every ``x <= 0``, so what remains is the rounding of ``x`` itself,
    about ``eps * |log Phi(lo)| / (Phi(hi) / Phi(lo) - 1)``: negligible unless two thresholds
    nearly coincide.
    """
    log_hi = log_ndtr(hi)
    out = log_ndtr(lo)
    out -= log_hi
    with np.errstate(divide="ignore", invalid="ignore"):
        np.expm1(out, out=out)
        np.negative(out, out=out)
        np.log(out, out=out)
    out += log_hi
    return out


def _pareto_k(log_weights: np.ndarray) -> np.ndarray:
    """Largest Pareto ``k`` over the checked draws, ``(n_draws, n, R) -> (n,)``."""
    # Imported late: arviz is heavy and only the diagnostic needs it.
    from arviz import psislw

    finite = np.isfinite(log_weights).any(axis=-1)
    safe = np.where(finite[..., None], log_weights, 0.0)
    _, k = psislw(safe.reshape(-1, log_weights.shape[-1]))
    k = np.where(finite, np.asarray(k).reshape(log_weights.shape[:2]), np.nan)
    # fmax skips NaN without the all-NaN warning of nanmax.
    return np.fmax.reduce(k, axis=0)
