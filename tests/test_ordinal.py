"""Ordinal (Likert) indicators: the conditional backend with ordered-probit items.

The data are simulated from known models in the theta parameterization (residual variance of
every latent response 1), so the population values are the model's own parameters. Interval
checks count hits against the central 99 % binomial interval of the nominal rate.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import (
    FIVE_POINT,
    SEVEN_POINT,
    SMALL,
    SMALL_POPULATION,
    assert_calibrated,
    calibration_distance,
)
from scipy import special, stats

import bayes_rent as br
from bayes_rent.backend.conditional import log_probit_interval
from bayes_rent.data.observed import DataError
from bayes_rent.data.population import population_values, simulate_ordinal_data
from bayes_rent.results.standardized import standardized_draws
from bayes_rent.spec.implied import implied_from_matrices
from bayes_rent.spec.layout import build_layout
from bayes_rent.spec.partable import build_partable

POPULATION = """
f1 =~ 1*y1 + 0.8*y2 + 1.2*y3 + 0.9*y4 + 1.0*y5
f2 =~ 1*y6 + 0.7*y7 + 1.1*y8 + 0.9*y9 + 1.3*y10
f3 =~ 1*y11 + 0.9*y12 + 0.8*y13 + 1.2*y14 + 1.0*y15
f4 =~ 1*y16 + 1.1*y17 + 0.9*y18 + 0.8*y19 + 1.0*y20
f4 ~ 0.5*f1
f1 ~~ 1*f1 + 0.3*f2 + 0.3*f3
f2 ~~ 1*f2 + 0.3*f3
f3 ~~ 1*f3
f4 ~~ 0.75*f4
"""
ANALYSIS = """
f1 =~ y1 + y2 + y3 + y4 + y5
f2 =~ y6 + y7 + y8 + y9 + y10
f3 =~ y11 + y12 + y13 + y14 + y15
f4 =~ y16 + y17 + y18 + y19 + y20
f4 ~ f1
"""


def _quiet_fit(model, data, **kwargs):
    """Fit with the ConvergenceWarning held back; each test checks convergence itself.

    Most runs here are 2 × 500 draws, to keep the module to a few minutes: they are held to
    R-hat < 1.05 and a bulk ESS of at least 100, not to the package's 1.01 and 400. What they
    check is recovery at the scale of a posterior SD, and with an ESS of 100 a posterior mean
    moves by a tenth of an SD between runs. The package's own bar is held by the default run
    (``test_ordinal_default_is_std_lv_with_the_first_loading_held_positive``) and at
    N = 2 800 by ``bench/bench_ordinal.py``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        fit = model.fit(data, progressbar=False, **kwargs)
    c = fit.convergence
    print(f"\nmax R-hat {c.max_r_hat:.3f}, min bulk ESS {c.min_ess_bulk:.0f}, "
          f"{c.divergences} divergences")
    return fit


def _mixed_enough(fit) -> None:
    assert fit.convergence.max_r_hat < 1.05, fit.convergence.message()
    assert fit.convergence.min_ess_bulk >= 100, fit.convergence.message()


def _distance(fit, truth: pd.Series) -> float:
    """:func:`calibration_distance` of the true std_all values from their posterior draws."""
    draws = standardized_draws(fit.matrices, fit.partable, fit.parameter_draws)
    ids = fit.partable.set_index(["lhs", "op", "rhs"]).loc[truth.index, "id"].to_numpy()
    x = draws.sel(par=ids).stack(s=("chain", "draw")).transpose("s", "par").values
    return calibration_distance(x, truth.to_numpy())


def _std_truth(population: str) -> pd.Series:
    """std_all loadings and paths of the population model (latent-response scale)."""
    table = population_values(population)
    layout = build_layout(table)
    mats = layout.matrices(table["value"].to_numpy())
    a = np.linalg.inv(np.eye(layout.n_latent) - mats["B"])
    cov = a @ mats["Psi"] @ a.T
    total = np.diag(mats["Lambda"] @ cov @ mats["Lambda"].T + mats["Theta"])
    sd_lat = np.sqrt(np.diag(cov))
    out = {}
    for r in table.itertuples():
        if r.op == "=~" and r.rhs in layout.latent:  # a second-order loading
            i, j = layout.latent.index(r.rhs), layout.latent.index(r.lhs)
            out[(r.lhs, r.op, r.rhs)] = r.value * sd_lat[j] / sd_lat[i]
        elif r.op == "=~":
            i, j = layout.observed.index(r.rhs), layout.latent.index(r.lhs)
            out[(r.lhs, r.op, r.rhs)] = r.value * sd_lat[j] / np.sqrt(total[i])
        elif r.op == "~":
            i, j = layout.latent.index(r.lhs), layout.latent.index(r.rhs)
            out[(r.lhs, r.op, r.rhs)] = r.value * sd_lat[j] / sd_lat[i]
    return pd.Series(out)


def _covered(table: pd.DataFrame, truth: pd.Series) -> np.ndarray:
    t = table.set_index(["lhs", "op", "rhs"]).loc[truth.index]
    return ((t["hdi_low"] <= truth) & (truth <= t["hdi_high"])).to_numpy()


def _binomial_ok(hits: int, n: int, p: float = 0.9) -> bool:
    lo, hi = stats.binom.interval(0.99, n, p)
    return lo <= hits <= hi


# ---------------------------------------------------------------- numerics
def test_log_probit_interval_matches_scipy_in_both_tails():
    lo = np.array([-1e3, -1e3, -0.5, 6.0, 30.0, -36.0, 2.0, -3.0, -1e3])
    hi = np.array([-30.0, 0.3, 0.5, 7.0, 1e3, -35.0, 2.0 + 1e-6, 1e3, 1e3])
    got = log_probit_interval(pt.as_tensor(lo), pt.as_tensor(hi)).eval()
    # reference: the interval reflected into the lower tail, in log space (scipy)
    a, b = np.where(lo + hi > 0, -hi, lo), np.where(lo + hi > 0, -lo, hi)
    ref = special.log_ndtr(b) + np.log1p(-np.exp(special.log_ndtr(a) - special.log_ndtr(b)))
    # narrow intervals (width 1e-6 SD) lose digits to cancellation, still 1e-9 relative
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    assert got[-1] == 0.0


# ---------------------------------------------------------------- the parameter table
def test_thresholds_from_their_anchor_are_ordered_invertible_with_the_right_jacobian():
    """The anchored ordered transform: items of 4, 3, 1 and 2 thresholds anchored at the
    lowest, a middle, the only and the highest threshold."""
    from bayes_rent.backend.conditional import _thresholds_from_raw, _thresholds_to_raw

    anchor = np.array([0, 0, 0, 0, 5, 5, 5, 7, 9, 9])
    items = [slice(0, 4), slice(4, 7), slice(7, 8), slice(8, 10)]
    raw = pt.dvector("raw")
    tau, log_jac = _thresholds_from_raw(raw, anchor)
    f = pytensor.function([raw], [tau, log_jac, pytensor.gradient.jacobian(tau, raw)])
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = rng.normal(size=10)
        t, lj, jac = f(x)
        for s in items:
            assert np.all(np.diff(t[s]) > 0)
        # each item's anchor threshold is its raw value
        np.testing.assert_allclose(t[[0, 5, 7, 9]], x[[0, 5, 7, 9]], rtol=1e-14)
        np.testing.assert_allclose(_thresholds_to_raw(t, anchor), x, rtol=1e-12, atol=1e-12)
        # log |det dτ/draw| against the Jacobian PyTensor differentiates
        assert lj == pytest.approx(np.linalg.slogdet(jac)[1], rel=1e-12, abs=1e-12)


def test_thresholds_from_the_mean_score_leave_the_density_unchanged():
    """τ_j = τ'_j + λ_jᵀ η̄ is a shear with unit Jacobian: the model sampled in (τ', η) and
    the model as written, in (τ, η), have the same joint log density at the same natural
    parameters (priors, Jacobians of every reparameterization, latent density, likelihood),
    and both report the same thresholds. Two items are mixed in as continuous."""
    from bayes_rent.backend import conditional
    from bayes_rent.backend.base import FitRequest
    from bayes_rent.backend.registry import BACKENDS
    from bayes_rent.backend.start import conditional_start

    data = simulate_ordinal_data(SMALL_POPULATION, 80, FIVE_POINT, seed=31)
    request = FitRequest(draws=10, tune=10, chains=1, seed=1, sampler="nutpie",
                         progressbar=False, target_accept=None, ordered=["y1", "y2", "y5"])
    prepared = BACKENDS["conditional"].prepare(br.Model(SMALL), data, request)
    parts = prepared.fit_parts
    layout, groups, responses = parts["layout"], parts["groups"], parts["responses"]
    written = conditional.build_model(layout, groups, responses,
                                      thresholds_from_mean_score=False)
    sheared = prepared.pm_model
    start, scores = conditional_start(layout, parts["data"], responses, std_lv=True)
    rng = np.random.default_rng(4)
    logp_w, logp_s = written.compile_logp(), sheared.compile_logp()
    tau_w = written.compile_fn(written.replace_rvs_by_values([written["thresholds"]])[0],
                               inputs=written.value_vars, on_unused_input="ignore")
    tau_s = sheared.compile_fn(sheared.replace_rvs_by_values([sheared["thresholds"]])[0],
                               inputs=sheared.value_vars, on_unused_input="ignore")
    for _ in range(3):
        x = start * rng.uniform(0.9, 1.1, size=start.shape)
        z = scores + rng.normal(0.3, 0.5, size=scores.shape)  # scores whose mean is not 0
        point = {g.name: x[g.elements] for g in groups}
        at_w = _values(written, conditional.sampled_point(
            layout, groups, x, point, z, responses, thresholds_from_mean_score=False))
        at_s = _values(sheared, conditional.sampled_point(layout, groups, x, point, z,
                                                          responses))
        assert logp_s(at_s) == pytest.approx(logp_w(at_w), rel=1e-10)
        thresholds = x[[g for g in groups if g.kind == "threshold"][0].elements]
        np.testing.assert_allclose(tau_w(at_w), thresholds, rtol=1e-10)
        np.testing.assert_allclose(tau_s(at_s), thresholds, rtol=1e-10)


def _values(model, point):
    """The model's value variables at a point given on the sampled scales, by name."""
    from pymc.initial_point import make_initial_point_fn

    return make_initial_point_fn(model=model, overrides=point, jitter_rvs=set(),
                                 return_transformed=True)(0)


SECOND_ORDER_POPULATION = """
f1 =~ 1*y1 + 0.8*y2 + 1.2*y3
f2 =~ 1*y4 + 0.7*y5 + 1.1*y6
f3 =~ 1*y7 + 0.9*y8 + 0.8*y9
g =~ 1*f2 + 1.2*f3
g ~ 0.5*f1
f1 ~~ 1*f1
g ~~ 0.75*g
f2 ~~ 0.6*f2
f3 ~~ 0.6*f3
"""
SECOND_ORDER = """
f1 =~ y1 + y2 + y3
f2 =~ y4 + y5 + y6
f3 =~ y7 + y8 + y9
g =~ f2 + f3
g ~ f1
"""


@pytest.mark.parametrize("std_lv", [True, False], ids=["std_lv", "markers"])
def test_loadings_per_factor_sd_change_the_coordinates_not_the_posterior(std_lv):
    """Items' loadings per unit of their factor's SD (λ = λ̃ / sd_f) and the second-order
    loadings as a Fisher z (β = sinh(u)·√ψ_f / sd_g), the defaults, against both
    sampled as written: the joint log densities at the same natural parameters differ by
    exactly the log-Jacobian of the maps (the same posterior in two coordinates), and the
    reported loadings are the same. The model has a second-order factor with a path, so the
    SDs of f2, f3 and g are functions of other parameters (and, under markers, of f1 too)."""
    from bayes_rent.backend import conditional
    from bayes_rent.backend.base import FitRequest
    from bayes_rent.backend.registry import BACKENDS
    from bayes_rent.backend.start import conditional_start

    data = simulate_ordinal_data(SECOND_ORDER_POPULATION, 120, FIVE_POINT, seed=32)
    request = FitRequest(draws=10, tune=10, chains=1, seed=1, sampler="nutpie",
                         progressbar=False, target_accept=None, ordered=True)
    prepared = BACKENDS["conditional"].prepare(br.Model(SECOND_ORDER, std_lv=std_lv), data,
                                               request)
    parts = prepared.fit_parts
    layout, groups, responses = parts["layout"], parts["groups"], parts["responses"]
    scaled = conditional.loading_factors(layout)
    positive = set(conditional.positive_loadings(layout).tolist())
    assert {layout.latent[j] for j in scaled.values()} == {"f1", "f2", "f3"}
    slopes = conditional.second_order_loadings(layout)
    # under markers g =~ f2 is fixed at 1; under std_lv it is held positive
    assert [layout.elements[k].name for k in slopes] == ["g=~f2", "g=~f3"][1 - std_lv:]
    as_written = dict(loadings_per_factor_sd=False, second_order_fisher_z=False)
    written = conditional.build_model(layout, groups, responses, **as_written)
    per_sd = prepared.pm_model
    start, scores = conditional_start(layout, parts["data"], responses, std_lv=std_lv)
    rng = np.random.default_rng(5)
    logp_w, logp_s = written.compile_logp(), per_sd.compile_logp()
    loading_groups = [g for g in groups if g.kind == "loading"]

    def reported(model):
        out = model.replace_rvs_by_values([model[g.name] for g in loading_groups])
        return model.compile_fn(out, inputs=model.value_vars, on_unused_input="ignore")

    loadings_w, loadings_s = reported(written), reported(per_sd)
    for _ in range(3):
        x = start * rng.uniform(0.8, 1.2, size=start.shape)
        z = scores + rng.normal(0.0, 0.3, size=scores.shape)
        point = {g.name: x[g.elements] for g in groups}
        at_w = _values(written, conditional.sampled_point(
            layout, groups, x, point, z, responses, **as_written))
        at_s = _values(per_sd, conditional.sampled_point(layout, groups, x, point, z,
                                                         responses))
        # densities of the same posterior in two coordinates: they differ by log |dλ/dλ̃|,
        # except for the loadings sampled on the log scale (log λ̃ = log λ + log sd_f is a shift)
        mats = layout.matrices(layout.row_values(x))
        sd = np.sqrt(np.diag(implied_from_matrices(mats).latent_cov))
        log_jacobian = -sum(np.log(sd[j]) for k, j in scaled.items() if k not in positive)
        # and a second-order loading β sampled as u = asinh(β sd_g / √ψ_f): dβ/du; held
        # positive, as log u rather than log β
        for k, (f, g) in slopes.items():
            psi_sd = np.sqrt(mats["Psi"][f, f])
            u = np.arcsinh(x[k] * sd[g] / psi_sd)
            log_jacobian += np.log(np.cosh(u) * psi_sd / sd[g])
            if k in positive:
                log_jacobian += np.log(u) - np.log(x[k])
        assert abs(log_jacobian) > 1e-3  # far above the comparison's 1e-10 × |log p|
        assert logp_s(at_s) == pytest.approx(logp_w(at_w) + log_jacobian, rel=1e-10)
        for got_w, got_s, g in zip(loadings_w(at_w), loadings_s(at_s), loading_groups,
                                   strict=True):
            np.testing.assert_allclose(got_w, x[g.elements], rtol=1e-10)
            np.testing.assert_allclose(got_s, x[g.elements], rtol=1e-10)


def test_a_construct_without_items_is_integrated_out_of_the_latent_density():
    """The second-order factor g has no items. The model writes the density of the other
    scores as N(μ_k, Σ_kk) of the implied moments (checked against scipy, with the moments
    built here from B, Ψ and α), and reports g's scores as draws from their normal given the
    others: μ_g + Σ_gk Σ_kk⁻¹ (η_k − μ_k) + chol(Σ_g|k) w, w the sampled standard normals."""
    from bayes_rent.backend import conditional
    from bayes_rent.backend.base import FitRequest
    from bayes_rent.backend.registry import BACKENDS
    from bayes_rent.backend.start import conditional_start

    data = simulate_ordinal_data(SECOND_ORDER_POPULATION, 60, FIVE_POINT, seed=33)
    request = FitRequest(draws=10, tune=10, chains=1, seed=1, sampler="nutpie",
                         progressbar=False, target_accept=None, ordered=True)
    prepared = BACKENDS["conditional"].prepare(br.Model(SECOND_ORDER), data, request)
    parts = prepared.fit_parts
    layout, groups, responses = parts["layout"], parts["groups"], parts["responses"]
    model = prepared.pm_model
    assert model.named_vars_to_dims["higher_order_residuals"] == (
        "respondent", "higher_order_construct")
    assert list(model.coords["higher_order_construct"]) == ["g"]
    outputs = model.replace_rvs_by_values([model["latent_density"], model["latent_scores"]])
    evaluate = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")
    start, scores = conditional_start(layout, parts["data"], responses, std_lv=True)
    rng = np.random.default_rng(6)
    g, k = layout.latent.index("g"), [layout.latent.index(f) for f in ("f1", "f2", "f3")]
    for _ in range(3):
        x = start * rng.uniform(0.8, 1.2, size=start.shape)
        point = conditional.sampled_point(layout, groups, x, {gr.name: x[gr.elements]
                                                             for gr in groups}, scores, responses)
        w = rng.normal(size=point["higher_order_residuals"].shape)
        point["higher_order_residuals"] = w
        density, eta = evaluate(_values(model, point))
        mats = layout.matrices(layout.row_values(x))
        a = np.linalg.inv(np.eye(layout.n_latent) - mats["B"])
        cov, mu = a @ mats["Psi"] @ a.T, a @ mats["alpha"]
        sd = np.sqrt(np.diag(cov))
        eta_k = (point["score_means_standardized"] + point["score_deviations_standardized"]) * sd[k]
        np.testing.assert_allclose(eta[:, k], eta_k, rtol=1e-10)
        expected = stats.multivariate_normal(mu[k], cov[np.ix_(k, k)]).logpdf(eta_k).sum()
        expected += len(eta_k) * np.log(sd[k]).sum()  # the standardized scores' Jacobian
        assert density == pytest.approx(expected, rel=1e-10)
        gain = cov[g, k] @ np.linalg.inv(cov[np.ix_(k, k)])
        spread = np.sqrt(cov[g, g] - gain @ cov[k, g])
        np.testing.assert_allclose(eta[:, g], mu[g] + (eta_k - mu[k]) @ gain + spread * w[:, 0],
                                   rtol=1e-9)


@pytest.fixture(scope="module")
def second_order_fit():
    data = simulate_ordinal_data(SECOND_ORDER_POPULATION, 500, FIVE_POINT, seed=12)
    return _quiet_fit(br.Model(SECOND_ORDER), data, ordered=True, seed=6, draws=2500)


def test_second_order_model_meets_the_bar_and_recovers_its_loadings(second_order_fit):
    """A second-order factor measured by two dimensions (the book's KR and IG; standardized
    second-order loadings 0.79 and 0.84) converges to the package's own bar with 2 × 2 500
    draws, the README's advice for second-order models, and the standardized loadings and
    path cover their population values."""
    fit = second_order_fit
    assert fit.convergence.converged, fit.convergence.message()
    truth = _std_truth(SECOND_ORDER_POPULATION)
    assert len(truth) == 12
    hits = _covered(fit.standardized(), truth)
    print(f"\nsecond order: {hits.sum()}/{len(hits)} std loadings and path covered")
    assert _binomial_ok(int(hits.sum()), len(hits))
    assert_calibrated(_distance(fit, truth), len(truth))
    # g's scores are reported with the others, and follow the first-order scores
    scores = fit.scores().mean(("chain", "draw"))
    assert scores.sizes["construct"] == 4
    r = np.corrcoef(scores.sel(construct="g"), scores.sel(construct="f3"))[0, 1]
    assert r > 0.5


def test_ordered_items_get_thresholds_and_theta_scale():
    pt_ = build_partable(SMALL, ordered={"y1": 4, "y5": 2})
    thr = pt_.query("op == '|'")
    assert thr[["lhs", "rhs"]].values.tolist() == [
        ["y1", "t1"], ["y1", "t2"], ["y1", "t3"], ["y1", "t4"], ["y5", "t1"], ["y5", "t2"],
    ]
    assert thr["free"].all()
    for item in ("y1", "y5"):
        assert pt_.loc[(pt_.lhs == item) & (pt_.op == "~1"), "value"].item() == 0.0
        var = pt_.loc[(pt_.lhs == item) & (pt_.op == "~~") & (pt_.rhs == item)]
        assert not var["free"].item() and var["value"].item() == 1.0
    # a continuous item keeps free intercept and residual variance
    assert pt_.query("lhs == 'y2' and op == '~1'")["free"].item()
    assert br.Model(SMALL).ordinal_items(["y2", "y1"]) == ["y1", "y2"]


def test_bad_ordinal_requests_are_clear_errors():
    data = simulate_ordinal_data(SMALL_POPULATION, 100, FIVE_POINT, seed=3)
    with pytest.raises(ValueError, match="'z9'"):
        br.Model(SMALL).fit(data, ordered=["z9"])
    with pytest.raises(DataError, match="y1.*6 thresholds.*5 categories"):
        br.Model(SMALL + "y1 | t1 + t2 + t3 + t4 + t5 + t6").fit(data, progressbar=False)
    with pytest.raises(NotImplementedError, match="y1 ~~ y2"):
        br.Model(SMALL + "y1 ~~ y2").fit(data, ordered=True, progressbar=False)


# ---------------------------------------------------------------- recovery
@pytest.fixture(scope="module")
def five_point_fit():
    data = simulate_ordinal_data(POPULATION, 300, FIVE_POINT, seed=11)
    return _quiet_fit(br.Model(ANALYSIS), data, ordered=True, seed=5, draws=500, tune=500)


def test_five_point_recovery_of_standardized_loadings_and_path(five_point_fit):
    fit = five_point_fit
    _mixed_enough(fit)
    assert fit.convergence.divergences == 0
    truth = _std_truth(POPULATION)
    hits = _covered(fit.standardized(), truth)
    print(f"\n5-point: {hits.sum()}/{len(hits)} std loadings and path covered")
    assert _binomial_ok(int(hits.sum()), len(hits))
    # with few intervals the count's window reaches n, so only the distance can see
    # intervals that are too wide
    assert_calibrated(_distance(fit, truth), len(truth))


def test_five_point_thresholds_recovered(five_point_fit):
    thr = five_point_fit.summary().query("op == '|'")
    assert len(thr) == 80
    truth = np.tile(FIVE_POINT, 20)
    covered = (thr["hdi_low"].to_numpy() <= truth) & (truth <= thr["hdi_high"].to_numpy())
    print(f"\nthresholds: {covered.sum()}/80 covered")
    assert _binomial_ok(int(covered.sum()), 80)
    z = (thr["mean"].to_numpy() - truth) / thr["sd"].to_numpy()
    assert np.abs(z).max() < 4.0


def test_ordinal_fit_reports_scores_and_latent_response_scale(five_point_fit):
    fit = five_point_fit
    scores = fit.scores()
    assert scores.dims == ("chain", "draw", "respondent", "construct")
    assert list(scores["construct"].values) == ["f1", "f2", "f3", "f4"]
    # each factor's posterior mean score follows the sum of its items
    items = fit.data[[f"y{k}" for k in range(1, 6)]].sum(axis=1)
    r = np.corrcoef(scores.sel(construct="f1").mean(("chain", "draw")), items)[0, 1]
    assert r > 0.9
    # std_all on the latent-response scale: Var(y*) = λ² Var(η) + 1 for every item
    std = fit.standardized().query("op == '~~' and lhs == rhs and lhs.str.startswith('y')")
    lam = fit.standardized().query("op == '=~'")
    np.testing.assert_allclose(std["mean"].to_numpy(), 1 - (
        lam.set_index("rhs").loc[std["lhs"], "mean"].to_numpy() ** 2
    ), atol=0.03)


def test_missing_answers_at_random_still_cover_the_truth():
    rng = np.random.default_rng(21)
    data = simulate_ordinal_data(POPULATION, 300, FIVE_POINT, seed=12).astype(float)
    # MAR: answers go missing more often for firms that gave a high answer on y1 (always kept)
    p = np.where(data["y1"] >= 4, 0.16, 0.07)[:, None]
    drop = rng.random((300, 19)) < p
    data.iloc[:, 1:] = data.iloc[:, 1:].mask(drop)
    share = data.isna().to_numpy().mean()
    assert 0.08 < share < 0.12
    fit = _quiet_fit(br.Model(ANALYSIS), data, ordered=True, seed=6, draws=500, tune=500)
    _mixed_enough(fit)
    truth = _std_truth(POPULATION)
    hits = _covered(fit.standardized(), truth)
    print(f"\n10 % MAR: {hits.sum()}/{len(hits)} covered")
    assert _binomial_ok(int(hits.sum()), len(hits))
    assert_calibrated(_distance(fit, truth), len(truth))


def test_seven_point_items_with_an_unchosen_category():
    data = simulate_ordinal_data(SMALL_POPULATION, 250, SEVEN_POINT, seed=13)
    data.loc[data["y4"] == 7, "y4"] = 6  # nobody chose 7 on y4
    fit = _quiet_fit(br.Model(SMALL), data, ordered=True, seed=7, draws=500, tune=500)
    _mixed_enough(fit)
    thr = fit.summary().query("op == '|'")
    assert (thr["lhs"] == "y4").sum() == 5
    assert (thr["lhs"] == "y1").sum() == 6
    truth = _std_truth(SMALL_POPULATION)
    s = fit.standardized().set_index(["lhs", "op", "rhs"]).loc[truth.index]
    z = (s["mean"] - truth) / s["sd"]
    assert np.abs(z).max() < 3.5, z


def test_mixed_ordinal_and_continuous_items():
    data = simulate_ordinal_data(
        SMALL_POPULATION, 250, {v: FIVE_POINT for v in ("y1", "y2", "y5", "y6")}, seed=14
    )
    fit = _quiet_fit(br.Model(SMALL), data, ordered=["y1", "y2", "y5", "y6"], seed=8,
                     draws=500, tune=500)
    _mixed_enough(fit)
    summ = fit.summary().set_index(["lhs", "op", "rhs"])
    assert summ.index.isin([("y1", "|", "t4")]).any()
    assert not summ.index.isin([("y3", "|", "t1")]).any()
    # the continuous items' residual variances are estimated (population value 1)
    z = (summ.loc[("y3", "~~", "y3"), "mean"] - 1.0) / summ.loc[("y3", "~~", "y3"), "sd"]
    assert abs(z) < 3.5
    truth = _std_truth(SMALL_POPULATION)
    s = fit.standardized().set_index(["lhs", "op", "rhs"]).loc[truth.index]
    assert np.abs((s["mean"] - truth) / s["sd"]).max() < 3.5


REVERSED_POPULATION = SMALL_POPULATION.replace("1*y1", "-1*y1")


def test_ordinal_default_is_std_lv_with_the_first_loading_held_positive():
    # y1 is reverse-keyed: its loading is negative in the population. The default for ordinal
    # items identifies by unit variances and holds each first loading positive, so f1 comes
    # out mirrored (y1 positive, its other items and its covariance with f2 negative).
    data = simulate_ordinal_data(REVERSED_POPULATION, 250, FIVE_POINT, seed=15)
    fit = _quiet_fit(br.Model(SMALL), data, ordered=True, seed=10)
    assert fit.settings["chains"] == 2 and fit.settings["target_accept"] == 0.65
    # the default run meets the package's own bar
    assert fit.convergence.converged, fit.convergence.message()
    pt_ = fit.partable.set_index(["lhs", "op", "rhs"])
    assert not pt_.loc[("f1", "~~", "f1"), "free"] and pt_.loc[("f1", "~~", "f1"), "value"] == 1
    assert pt_.loc[("f1", "=~", "y1"), "free"]
    # sampled on the log scale: positive in every draw of every chain
    first = fit.idata.posterior["parameters"].sel(parameter=["f1 =~ y1", "f2 =~ y5"])
    assert bool((first > 0).all())
    mirror = pd.Series(1.0, index=_std_truth(REVERSED_POPULATION).index)
    mirror[[("f1", "=~", f"y{k}") for k in range(1, 5)]] = -1.0
    truth = _std_truth(REVERSED_POPULATION) * mirror
    s = fit.standardized().set_index(["lhs", "op", "rhs"])
    z = (s.loc[truth.index, "mean"] - truth) / s.loc[truth.index, "sd"]
    assert np.abs(z).max() < 3.5, z
    # the latent correlation is mirrored too (population +0.4)
    r = s.loc[("f1", "~~", "f2")]
    assert abs((r["mean"] + 0.4) / r["sd"]) < 3.5
    # the sampled scores live in the same mode as the parameters: f1 rises with y1
    scores = fit.scores().sel(construct="f1").mean(("chain", "draw"))
    assert np.corrcoef(scores, data.loc[fit.scores()["respondent"].values, "y1"])[0, 1] > 0.5


def test_loo_ranks_the_true_ordinal_model_above_a_misspecified_one():
    data = simulate_ordinal_data(SMALL_POPULATION, 250, FIVE_POINT, seed=15)
    one_factor = "f =~ y1 + y2 + y3 + y4 + y5 + y6 + y7 + y8"
    fits = {
        name: _quiet_fit(br.Model(syntax), data, ordered=True, seed=9, draws=250, tune=350)
        for name, syntax in (("two factors", SMALL), ("one factor", one_factor))
    }
    ll = fits["two factors"].log_likelihood()
    assert ll.dims == ("chain", "draw", "respondent") and ll.sizes["respondent"] == 250
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PSIS's own notes on individual k values
        table = br.compare(fits)
    print("\n", table[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse"]])
    assert table.index[0] == "two factors"
    row = table.loc["one factor"]
    assert row["elpd_diff"] > 2 * row["dse"]
    # about as many effective parameters as the model has (8 loadings-or-so per factor
    # structure, 32 thresholds), not one per respondent
    assert table.loc["two factors", "p_loo"] < 60
