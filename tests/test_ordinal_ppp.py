"""PPP for models with ordinal items (bayes_rent.results.ordinal_ppp).

The numerics are checked against scipy (bivariate normal CDF, rectangle probabilities) and
against finite differences; the replicate machinery by the uniformity of the PPP when every
draw sits at the true parameters; the whole chain by short fits of a correct and of a
misspecified model. The 20 + 20 calibration study is bench/bench_ordinal_ppp.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import FIVE_POINT, SMALL, SMALL_POPULATION
from scipy import stats

import bayes_rent as br
from bayes_rent.data.population import simulate_ordinal_data
from bayes_rent.results import fit_indices
from bayes_rent.results.ordinal_ppp import (
    _density_grid,
    _grid,
    bivariate_normal_cdf,
    ordinal_discrepancies,
    ordinal_ppp,
    ordinal_ppp_draws,
    pair_probabilities,
)

# two factors, five 5-point items each; the misspecified population adds a cross-loading of
# 0.8 of y5 on f2 that the analysis model leaves out
POPULATION = """
f1 =~ 1*y1 + 0.9*y2 + 1.2*y3 + 0.8*y4 + 1.0*y5
f2 =~ 1*y6 + 1.1*y7 + 0.9*y8 + 0.7*y9 + 1.0*y10
f1 ~~ 1*f1 + 0.4*f2
f2 ~~ 1*f2
"""
CROSS_LOADING = POPULATION.replace("1.0*y10", "1.0*y10 + 0.8*y5")
ANALYSIS = """
f1 =~ y1 + y2 + y3 + y4 + y5
f2 =~ y6 + y7 + y8 + y9 + y10
"""


def _fit(syntax, data, **kwargs):
    options = dict(seed=1, draws=300, tune=300, chains=2, progressbar=False, ordered=True)
    with warnings.catch_warnings():
        # 300 draws is short for R-hat < 1.01; the PPP needs a posterior sample, not a
        # converged summary of every threshold
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.cfa(syntax, data, **{**options, **kwargs})


# ---------------------------------------------------------------- numerics
def test_bivariate_normal_cdf_matches_scipy():
    rng = np.random.default_rng(3)
    h = rng.normal(scale=2.0, size=120)
    k = rng.normal(scale=2.0, size=120)
    rho = rng.uniform(-0.98, 0.98, size=120)
    h[:6], k[4:10] = 0.0, 0.0  # the formula divides by h and k
    h[10:14], k[12:16] = [-6.0, 5.5, -7.5, 8.0], [6.5, -5.0, -7.0, 7.0]  # far tails
    got = bivariate_normal_cdf(h, k, rho)
    ref = np.array([
        stats.multivariate_normal.cdf([a, b], cov=[[1.0, r], [r, 1.0]], abseps=1e-13,
                                      releps=1e-13)
        for a, b, r in zip(h, k, rho, strict=True)
    ])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    # open ends: the univariate CDF of the other limit, or 0
    inf = np.inf
    np.testing.assert_allclose(
        bivariate_normal_cdf([inf, 0.7, inf, -inf, 0.3], [-0.4, inf, inf, 1.0, -inf], 0.6),
        [stats.norm.cdf(-0.4), stats.norm.cdf(0.7), 1.0, 0.0, 0.0], rtol=0, atol=1e-15,
    )
    # independence: the product of the margins
    np.testing.assert_allclose(bivariate_normal_cdf(h, k, 0.0),
                               stats.norm.cdf(h) * stats.norm.cdf(k), rtol=1e-12, atol=1e-15)


def test_pair_probabilities_cells_sums_and_margins():
    # a 3-category and a 5-category item, latent responses not standardized
    tau_j = np.array([-0.5, 1.4])
    tau_k = np.array([-2.0, -0.3, 0.9, 2.6])
    mean = np.array([0.3, -0.2])
    cov = np.array([[2.5, -1.1], [-1.1, 1.7]])
    p = pair_probabilities(tau_j, tau_k, mean, cov)
    assert p.shape == (3, 5)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=0, atol=1e-14)
    # margins: the univariate probit probabilities of each item
    sd = np.sqrt(np.diag(cov))
    for axis, tau, m, s in ((1, tau_j, mean[0], sd[0]), (0, tau_k, mean[1], sd[1])):
        cdf = stats.norm.cdf(np.r_[-np.inf, tau, np.inf], m, s)
        np.testing.assert_allclose(p.sum(axis=axis), np.diff(cdf), rtol=0, atol=1e-14)
    # every cell: scipy's rectangle probability of the unstandardized normal
    edges_j, edges_k = np.r_[-np.inf, tau_j, np.inf], np.r_[-np.inf, tau_k, np.inf]
    mvn = stats.multivariate_normal(mean, cov, abseps=1e-13, releps=1e-13)
    ref = np.array([[
        mvn.cdf([edges_j[a + 1], edges_k[b + 1]], lower_limit=[edges_j[a], edges_k[b]])
        for b in range(5)] for a in range(3)])
    np.testing.assert_allclose(p, ref, rtol=0, atol=1e-12)
    # vectorized over draws: each draw's table is its own
    many = pair_probabilities(np.stack([tau_j, tau_j + 0.2]), np.stack([tau_k, tau_k]),
                              np.stack([mean, mean]), np.stack([cov, cov]))
    np.testing.assert_array_equal(many[0], p)
    assert not np.allclose(many[1], p)


def test_correlation_slope_is_the_derivative_of_the_cell_probabilities():
    tj, tk = np.array([[-1.1, 0.2, 1.5]]), np.array([[-0.4, 0.8]])
    rho, eps = np.array([0.45]), 1e-5
    numeric = (_grid(tj, tk, rho + eps) - _grid(tj, tk, rho - eps)) / (2 * eps)
    np.testing.assert_allclose(_density_grid(tj, tk, rho), numeric, rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------- replicates
def test_ppp_is_uniform_when_every_draw_is_the_truth():
    """With θ fixed at the truth, D_obs and each D_rep are exchangeable: PPP ~ U(0, 1)."""
    rng = np.random.default_rng(8)
    n, draws = 300, 100
    lam = np.array([1.0, 0.8, 1.2, 0.6, 0.9, 1.1])
    cov = np.outer(lam, lam) * 0.8 + np.eye(6)
    mean = np.array([0.0, 0.2, -0.1, 0.0, 0.3, 0.0])
    cuts = [[-1.8, -0.7, 0.5, 1.6], [-0.5, 0.8], [-1.8, -0.7, 0.5, 1.6], [0.1],
            [-1.0, 0.0, 1.2], [-1.8, -0.7, 0.5, 1.6]]
    thresholds = np.full((6, 4), np.inf)
    for j, c in enumerate(cuts):
        thresholds[j, : len(c)] = c
    ppp = {"correlation": [], "pearson": []}
    rep_mean = []
    for _ in range(150):
        ystar = rng.multivariate_normal(mean, cov, size=n)
        codes = (ystar[..., None] > thresholds[None]).sum(-1)
        codes[rng.random(codes.shape) < 0.1] = -1  # 10 % answers missing at random
        out = ordinal_discrepancies(
            codes, np.broadcast_to(thresholds, (draws, 6, 4)), np.broadcast_to(mean, (draws, 6)),
            np.broadcast_to(cov, (draws, 6, 6)), rng=rng,
        )
        for name in ppp:
            ppp[name].append(out.ppp(name))
        rep_mean.append(out.correlation_rep.mean(0))
    for name, values in ppp.items():
        ks = stats.kstest(values, "uniform")
        print(f"\n{name}: mean PPP {np.mean(values):.3f}, KS p = {ks.pvalue:.3f}")
        assert ks.pvalue > 0.01
    # each pair's correlation component is a one-df score statistic: mean 1 under the model
    # (15 000 replicate values per pair, so the SE of the mean is about 0.012)
    per_pair = np.mean(rep_mean, axis=0)
    assert np.abs(per_pair - 1.0).max() < 0.06, per_pair


def test_missing_answers_leave_only_their_own_tables():
    codes = np.array([[0, 1, 1], [1, -1, 0], [1, 1, -1], [0, 0, 0], [-1, 1, 1]])
    thr = np.zeros((4, 3, 1))
    out = ordinal_discrepancies(codes, thr, np.zeros((4, 3)),
                                np.broadcast_to(np.eye(3) + 0.3, (4, 3, 3)), rng=0)
    assert out.pairs == [(0, 1), (0, 2), (1, 2)]
    np.testing.assert_array_equal(out.n_pair, [3, 3, 3])
    with pytest.raises(ValueError, match="shapes do not agree"):
        ordinal_discrepancies(codes, thr, np.zeros((4, 2)), np.zeros((4, 3, 3)))


# ---------------------------------------------------------------- fits
@pytest.fixture(scope="module")
def correct_fit():
    return _fit(ANALYSIS, simulate_ordinal_data(POPULATION, 300, FIVE_POINT, seed=1))


@pytest.fixture(scope="module")
def misspecified_fit():
    return _fit(ANALYSIS, simulate_ordinal_data(CROSS_LOADING, 300, FIVE_POINT, seed=2))


def test_ppp_of_a_correct_model_is_not_small(correct_fit):
    draws = ordinal_ppp_draws(correct_fit, seed=1)
    print(f"\ncorrect model: PPP {draws.attrs['ppp']:.3f}, "
          f"Pearson PPP {draws.attrs['ppp_pearson']:.3f}")
    assert draws.attrs["ppp"] > 0.05
    assert draws.attrs["ppp_pearson"] > 0.05
    assert draws.attrs["items"] == [f"y{k}" for k in range(1, 11)]
    assert draws.sizes == {"chain": 2, "draw": 300, "pair": 45}
    # replicated discrepancy: about one df per pair
    assert 35 < float(draws["chisq_rep"].mean()) < 55


def test_omitted_cross_loading_gives_a_small_ppp(misspecified_fit):
    draws = ordinal_ppp_draws(misspecified_fit, seed=1)
    worst = draws["ppp_pair"].to_series().nsmallest(5)
    print(f"\nomitted cross-loading: PPP {draws.attrs['ppp']:.3f}, "
          f"Pearson PPP {draws.attrs['ppp_pearson']:.3f}\nworst pairs:\n{worst}")
    assert draws.attrs["ppp"] < 0.05
    # the misfit sits in y5's correlations with the second factor's items
    assert "y5" in worst.index[0].split(":")


def test_fit_indices_of_an_ordinal_fit(correct_fit):
    table = correct_fit.fit_indices(seed=4)
    assert list(table.columns) == ["mean", "sd", "hdi_low", "hdi_high", "note"]
    assert table.loc["ppp", "mean"] == fit_indices.ppp(correct_fit, seed=4)
    assert table.loc["ppp", "mean"] == ordinal_ppp(correct_fit, seed=4)
    assert table.loc["ppp_pearson", "mean"] == ordinal_ppp(
        correct_fit, seed=4, discrepancy="pearson")
    assert table.loc["chisq_correlation", "hdi_low"] < table.loc["chisq_correlation", "mean"]
    for name in ("chisq", "brmsea", "bgammahat", "bcfi", "btli", "srmr"):
        assert np.isnan(table.loc[name, "mean"])
        assert table.loc[name, "note"].startswith("not defined for ordinal items")
    draws = fit_indices.fit_index_draws(correct_fit, seed=4)
    assert float((draws["chisq_rep"] >= draws["chisq"]).mean()) == draws.attrs["ppp"]
    with pytest.raises(ValueError, match="not defined"):
        correct_fit.fit_indices(null_fit=correct_fit)
    with pytest.raises(ValueError, match="discrepancy="):
        ordinal_ppp(correct_fit, discrepancy="gsquare")


def test_max_draws_thins_evenly_within_chains(correct_fit):
    thin = ordinal_ppp_draws(correct_fit, seed=2, max_draws=100)
    assert thin.attrs["n_draws"] == 100
    np.testing.assert_array_equal(thin["draw"].values[[0, -1]], [0, 299])
    # the same seed gives the same replicates
    again = ordinal_ppp_draws(correct_fit, seed=2, max_draws=100)
    np.testing.assert_array_equal(thin["chisq_rep"].values, again["chisq_rep"].values)


def test_mixed_model_with_missing_answers_uses_the_ordinal_items_only():
    ordinal = ["y1", "y2", "y5", "y6"]
    data = simulate_ordinal_data(SMALL_POPULATION, 200, {v: FIVE_POINT for v in ordinal},
                                 seed=14)
    data.loc[::7, "y2"] = np.nan
    data.loc[::5, "y6"] = np.nan
    # only the bookkeeping is checked here, so a short run will do
    fit = _fit(SMALL, data, ordered=ordinal, draws=100, tune=200)
    draws = ordinal_ppp_draws(fit, seed=1)
    assert draws.attrs["items"] == ordinal
    answered = data[ordinal].notna()
    expected = [int((answered[a] & answered[b]).sum())
                for a, b in zip(draws["item_a"].values, draws["item_b"].values, strict=True)]
    np.testing.assert_array_equal(draws["n_answered"].values, expected)
    assert 0.0 <= draws.attrs["ppp"] <= 1.0
