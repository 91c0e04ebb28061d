"""Posterior latent scores of the marginal backend, checked against simulated true scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

import bayes_rent as br
from bayes_rent.results.scores import conditional_score_draws, conditional_score_means


def simulate_two_factors(n: int, seed: int):
    rng = np.random.default_rng(seed)
    eta = rng.multivariate_normal([0, 0], [[1.0, 0.4], [0.4, 1.0]], size=n, method="cholesky")
    lam = np.array([1.0, 0.8, 0.9, 0.7])
    items = {}
    for f, name in enumerate(("f", "g")):
        for j, loading in enumerate(lam):
            items[f"{name}{j + 1}"] = loading * eta[:, f] + rng.normal(scale=0.6, size=n)
    return pd.DataFrame(items), eta


def test_score_intervals_cover_true_scores():
    data, eta = simulate_two_factors(250, seed=5)
    data.iloc[::7, 1] = np.nan  # some respondents skipped an item
    fit = br.sem("f =~ f1 + f2 + f3 + f4\ng =~ g1 + g2 + g3 + g4", data, seed=3,
                 progressbar=False)
    scores = fit.scores(seed=1)
    assert scores.dims == ("chain", "draw", "respondent", "construct")
    assert list(scores["construct"].values) == ["f", "g"]
    lo = scores.quantile(0.05, dim=("chain", "draw")).values
    hi = scores.quantile(0.95, dim=("chain", "draw")).values
    covered = int(((lo <= eta) & (eta <= hi)).sum())
    n = eta.size
    low, high = stats.binom.interval(0.99, n, 0.9)
    print(f"score coverage {covered}/{n}; 99% binomial interval [{low:.0f}, {high:.0f}]")
    assert low <= covered <= high
    eap = fit.scores(kind="mean").mean(("chain", "draw")).values
    assert np.corrcoef(eap[:, 0], eta[:, 0])[0, 1] > 0.85
    # the conditional means are the average of the conditional draws
    draws_mean = scores.mean(("chain", "draw")).values
    assert np.abs(draws_mean - eap).max() < 0.1


def _small_model(draws: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n, p, k = 40, 6, 2
    lam = np.repeat(rng.normal(size=(1, p, k)), draws, axis=0)
    a = rng.normal(size=(k, k))
    phi = np.repeat((a @ a.T + np.eye(k))[None], draws, axis=0)
    kappa = np.repeat(rng.normal(size=(1, k)), draws, axis=0)
    theta = np.repeat((0.5 * np.eye(p) + 0.1 * np.eye(p, k=1) + 0.1 * np.eye(p, k=-1))[None],
                      draws, axis=0)
    sigma = lam @ phi @ np.swapaxes(lam, -1, -2) + theta
    mu = np.repeat(rng.normal(size=(1, p)), draws, axis=0)
    y = rng.normal(size=(n, p))
    observed = rng.random((n, p)) > 0.3  # 0 to 6 missing answers per respondent
    observed[0] = True
    observed[1, 1:] = False
    y[~observed] = np.nan
    return lam, phi, kappa, theta, sigma, mu, y, observed


def _exact(lam, phi, kappa, sigma, mu, y, observed, i):
    """The conditional mean and covariance of respondent i's scores, from Σ_oo⁻¹ directly."""
    o = np.flatnonzero(observed[i])
    gain = phi @ lam[o].T @ np.linalg.inv(sigma[np.ix_(o, o)])
    return kappa + gain @ (y[i, o] - mu[o]), phi - gain @ lam[o] @ phi


def test_conditional_means_equal_the_per_respondent_formula():
    lam, phi, kappa, _, sigma, mu, y, observed = _small_model(draws=2)
    mean = conditional_score_means(lam, phi, kappa, sigma, mu, y, observed)
    for i in range(len(y)):
        expected, _ = _exact(lam[0], phi[0], kappa[0], sigma[0], mu[0], y, observed, i)
        np.testing.assert_allclose(mean[:, i], np.broadcast_to(expected, mean[:, i].shape),
                                   rtol=1e-10, atol=1e-12)


def test_conditional_draws_have_the_conditional_mean_and_covariance():
    """Matheron's rule: 20 000 draws per respondent against the exact moments.

    Tolerance: 4 Monte Carlo SEs, sqrt(c_ii / S) for a mean and sqrt((c_ii c_jj + c_ij²) / S)
    for a covariance.
    """
    draws = 20_000
    lam, phi, kappa, theta, sigma, mu, y, observed = _small_model(draws)
    scores = conditional_score_draws(lam, phi, kappa, theta, sigma, mu, y, observed,
                                     np.random.default_rng(5))
    for i in range(len(y)):
        mean, cov = _exact(lam[0], phi[0], kappa[0], sigma[0], mu[0], y, observed, i)
        x = scores[:, i]
        var = np.diag(cov)
        assert (np.abs(x.mean(0) - mean) < 4 * np.sqrt(var / draws)).all(), i
        se = np.sqrt((np.outer(var, var) + cov**2) / draws)
        assert (np.abs(np.cov(x, rowvar=False) - cov) < 4 * se).all(), i
