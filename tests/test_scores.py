"""Posterior latent scores of the marginal backend, checked against simulated true scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

import bayes_rent as br


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
