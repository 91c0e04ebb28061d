"""Firms nested in clusters: cell statistics, the clustered likelihood, and recovery.

The likelihood is checked against things written independently of it: the marginal backend's
pattern likelihood (all cluster effects 0), and scipy's normal density summed firm by firm
(with missing answers). The sampling tests fit simulated data with a known between-cluster SD
and known cluster paths; the replicate study behind their claims is ``bench/bench_pooling.py``.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import assert_calibrated, calibration_distance
from scipy import stats

import bayes_rent as br
from bayes_rent import sampling as br_sample
from bayes_rent.backend.clustered import (
    augmented_cluster_loglik,
    build_clustered_model,
    cluster_implied_moments,
    cluster_loglik,
    cluster_moments,
    grand_mean_groups,
    grand_mean_shift,
    random_mean_latents,
    random_path_elements,
    respondent_loglik,
)
from bayes_rent.backend.marginal import build_model, pattern_loglik
from bayes_rent.backend.parameters import prior_groups
from bayes_rent.backend.start import start_values
from bayes_rent.data.observed import DataError, check_data, moments
from bayes_rent.data.population import simulate_clustered_data
from bayes_rent.spec.implied import implied_moments
from bayes_rent.spec.layout import build_layout
from bayes_rent.spec.partable import build_partable

POPULATION = """
X =~ 1*x1 + 0.8*x2 + 0.7*x3
M =~ 1*m1 + 0.9*m2 + 0.8*m3
Y =~ 1*y1 + 0.8*y2 + 0.9*y3
M ~ 0.5*X
Y ~ 0.4*M + 0.2*X
x1 ~~ 0.5*x1
m1 ~~ 0.5*m1
y1 ~~ 0.5*y1
M ~~ 0.6*M
Y ~~ 0.6*Y
"""

ANALYSIS = """
X =~ x1 + x2 + x3
M =~ m1 + m2 + m3
Y =~ y1 + y2 + y3
M ~ X
Y ~ M + X
"""

#: eight clusters of 15-80 firms, as the acceptance criterion asks
SIZES = [15, 20, 25, 35, 45, 55, 65, 80]
LATENTS = ["X", "M", "Y"]


@pytest.fixture(scope="module")
def layout():
    return build_layout(build_partable(ANALYSIS))


@pytest.fixture(scope="module")
def incomplete(layout):
    """Clustered data with 10 % of answers missing and random paths, one empty row."""
    sim = simulate_clustered_data(POPULATION, SIZES, 0.5, seed=11, path_sd=0.2,
                                  missing_rate=0.1)
    data = sim.data.copy()
    data.loc[3, layout.observed] = np.nan  # a firm without answers contributes nothing
    return data


def _point(layout, seed: int, n_clusters: int):
    """A valid parameter point: elements near the truth, effects and path deviations."""
    rng = np.random.default_rng(seed)
    values = {"loading": 0.8, "path": 0.3, "sd": 0.9, "intercept": 0.1, "correlation": 0.2}
    x = np.array([values[e.kind] for e in layout.elements])
    x = x + rng.uniform(-0.1, 0.1, size=x.shape)
    effects = rng.normal(0.0, 0.5, size=(n_clusters, 3))
    deltas = rng.normal(0.0, 0.2, size=(n_clusters, len(layout.elements_of("path"))))
    return x, effects, deltas


def _firm_by_firm(frame, codes, sigma, mu):
    """Sum of scipy normal log-densities of every firm's answers (per-cluster Σ if given)."""
    total = 0.0
    for row, c in zip(frame.to_numpy(), codes, strict=True):
        o = ~np.isnan(row)
        if o.any():
            s = sigma[c] if len(sigma) > 1 else sigma[0]
            total += stats.multivariate_normal(mu[c][o], s[np.ix_(o, o)]).logpdf(row[o])
    return total


# ---------------------------------------------------------------------- statistics
def test_cell_statistics_reproduce_the_firm_by_firm_likelihood(layout, incomplete):
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    assert cm.n_total == len(frame) - 1 and cm.cluster_sizes.sum() == cm.n_total
    assert len(cm.patterns) > 5 and len(cm.n) > len(cm.patterns)  # many (cluster, pattern) cells
    codes = pd.factorize(incomplete["cluster"], sort=True)[0]
    x, effects, deltas = _point(layout, 0, cm.n_clusters)
    paths = random_path_elements(layout, True)
    # random intercepts only: one Σ, one Cholesky per pattern, μ per cluster
    sigma, mu = cluster_implied_moments(layout, x, effects)
    assert sigma.shape[0] == 1
    expected = _firm_by_firm(frame, codes, sigma, mu)
    assert cluster_loglik(sigma, mu, cm.as_data()) == pytest.approx(expected, rel=1e-11)
    # random paths: Σ per cluster, one Cholesky per cell
    sigma, mu = cluster_implied_moments(layout, x, effects, deltas, paths)
    assert sigma.shape[0] == cm.n_clusters
    expected = _firm_by_firm(frame, codes, sigma, mu)
    assert cluster_loglik(sigma, mu, cm.as_data(True)) == pytest.approx(expected, rel=1e-11)


def test_zero_cluster_effects_give_the_marginal_likelihood(layout, incomplete):
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    m = moments(frame)
    x, _, _ = _point(layout, 1, cm.n_clusters)
    zero = np.zeros((cm.n_clusters, 3))
    paths = random_path_elements(layout, True)
    sigma, mu = implied_moments(layout, x)
    marginal = pattern_loglik(sigma, mu, m.n, m.mask, m.mean, m.factor)
    s, u = cluster_implied_moments(layout, x, zero)
    assert cluster_loglik(s, u, cm.as_data()) == pytest.approx(marginal, rel=1e-11)
    s, u = cluster_implied_moments(layout, x, zero, np.zeros((cm.n_clusters, 3)), paths)
    assert cluster_loglik(s, u, cm.as_data(True)) == pytest.approx(marginal, rel=1e-11)
    # vectorized over draws: equals one draw at a time
    xs = np.stack([x, x * 1.05])[:, None]
    s2, u2 = cluster_implied_moments(layout, xs, np.stack([zero, zero + 0.3])[:, None])
    ll = cluster_loglik(s2, u2, cm.as_data())
    assert ll.shape == (2, 1)
    one = cluster_loglik(*cluster_implied_moments(layout, x * 1.05, zero + 0.3), cm.as_data())
    assert ll[1, 0] == pytest.approx(one, rel=1e-12)


def _potential_at(model, values):
    """The model's likelihood term at a point given on the constrained scale."""
    from pymc.initial_point import make_initial_point_fn

    point = make_initial_point_fn(
        model=model, overrides=values, jitter_rvs=set(), return_transformed=True
    )(0)
    fn = model.compile_logp(vars=model.potentials, jacobian=False, mode="FAST_COMPILE")
    return float(fn(point))


def test_compiled_models_agree_with_the_marginal_backend(layout, incomplete):
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    groups = prior_groups(layout, None)
    start = start_values(layout, moments(frame), data=frame)
    values = {g.name: start[g.elements] for g in groups}  # default priors: natural scale
    marginal = _potential_at(build_model(layout, moments(frame), groups), values)
    rng = np.random.default_rng(5)
    for random_paths in (False, True):
        # the item intercepts sampled as they are written (the likelihood's graph is
        # what is checked here; the grand-mean coordinates have a test of their own)
        model = build_clustered_model(layout, cm, groups, random_paths=random_paths,
                                      grand_mean_intercepts=False)
        free = {v.name for v in model.free_RVs}
        assert {g.name for g in groups} | {"cluster_sd", "cluster_z"} <= free
        assert model.named_vars_to_dims["cluster_effects"] == ("cluster", "latent")
        assert list(model.coords["latent"]) == LATENTS
        zero = dict(values, cluster_sd=np.full(3, 0.4), cluster_z=np.zeros((8, 3)))
        if random_paths:
            zero.update(path_sd=np.full(3, 0.2), path_z=np.zeros((8, 3)))
        # all u_c = 0 (and δ_c = 0): the marginal backend's likelihood
        assert _potential_at(model, zero) == pytest.approx(marginal, rel=1e-10)
        # non-zero effects: the symbolic graph equals the numpy likelihood checked above
        point = dict(zero, cluster_z=rng.normal(size=(8, 3)))
        effects = point["cluster_z"] * 0.4
        deltas, paths = None, None
        if random_paths:
            point["path_z"] = rng.normal(size=(8, 3))
            deltas, paths = point["path_z"] * 0.2, random_path_elements(layout, True)
        expected = cluster_loglik(
            *cluster_implied_moments(layout, start, effects, deltas, paths),
            cm.as_data(random_paths),
        )
        assert _potential_at(model, point) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("centred", [False, True])
def test_grand_mean_intercepts_leave_the_density_unchanged(layout, incomplete, centred):
    """(ν, u) → (m = ν + Λ(I − B)⁻¹ū, u) is a shear: the joint log density (priors, the
    transforms' Jacobians and the likelihood) at (m, u, ...) equals that of the model written
    with ν at ν = m − Λ(I − B)⁻¹ū, and the deterministic ν is that value."""
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    groups = prior_groups(layout, None)
    as_written = build_clustered_model(layout, cm, groups, centred=centred,
                                       grand_mean_intercepts=False)
    sheared = build_clustered_model(layout, cm, groups, centred=centred)
    assert {"intercepts_grand"} <= {v.name for v in sheared.free_RVs}
    assert "intercepts" in {v.name for v in sheared.deterministics}
    items = grand_mean_groups(layout, groups)["intercepts"]
    start = start_values(layout, moments(frame), data=frame)
    effect_name = "cluster_effects" if centred else "cluster_z"
    logp_written = as_written.compile_logp()
    logp_sheared = sheared.compile_logp()
    nu_of = sheared.compile_fn(sheared.replace_rvs_by_values([sheared["intercepts"]])[0],
                               inputs=sheared.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(12)
    nu_group = next(g for g in groups if g.name == "intercepts")
    for _ in range(5):
        x = start * rng.uniform(0.9, 1.1, size=start.shape)
        point = {g.name: x[g.elements] for g in groups}
        point.update({"cluster_sd": np.full(3, 0.4),
                      effect_name: rng.normal(size=(8, 3)) * (0.4 if centred else 1.0)})
        effects = point[effect_name] * (1.0 if centred else 0.4)
        shift = grand_mean_shift(layout, x, effects.mean(0), [0, 1, 2])
        grand = dict(point)
        grand["intercepts_grand"] = grand.pop("intercepts") + shift[items]
        written = _value_point(as_written, point)
        moved = _value_point(sheared, grand)
        assert logp_sheared(moved) == pytest.approx(logp_written(written), rel=1e-10)
        np.testing.assert_allclose(nu_of(moved), x[nu_group.elements], rtol=1e-10)
    # random paths: the clusters' operators differ, so ν is sampled as written
    assert grand_mean_groups(layout, groups, True) == {}
    with_paths = build_clustered_model(layout, cm, groups, random_paths=True)
    assert "intercepts" in {v.name for v in with_paths.free_RVs}


def _value_point(model, values):
    """The model's value variables (unconstrained scale) at a point given by name."""
    from pymc.initial_point import make_initial_point_fn

    return make_initial_point_fn(
        model=model, overrides=values, jitter_rvs=set(), return_transformed=True
    )(0)


def test_per_firm_loglik_sums_to_the_cell_likelihood(layout, incomplete):
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    groups = prior_groups(layout, None)
    x, effects, deltas = _point(layout, 2, cm.n_clusters)
    paths = random_path_elements(layout, True)
    names = [layout.elements[k].name for k in paths]
    coords = {"chain": [0], "draw": [0, 1], "cluster": cm.clusters, "latent": LATENTS,
              "random_path": names}
    xs = np.stack([x, x * 0.95])[None]
    ds = {g.name: (("chain", "draw", g.dim), xs[..., g.elements]) for g in groups}
    eff = np.stack([effects, -effects])[None]
    dev = np.stack([deltas, deltas * 0.5])[None]
    post = xr.Dataset(
        {**ds, "cluster_effects": (("chain", "draw", "cluster", "latent"), eff),
         "path_effects": (("chain", "draw", "cluster", "random_path"), dev)},
        coords={**coords, **{g.dim: [layout.elements[k].name for k in g.elements]
                             for g in groups}},
    )
    ll = respondent_loglik(post, layout, groups, frame, cm)
    assert ll.sizes == {"chain": 1, "draw": 2, "respondent": len(frame) - 1}
    expected = cluster_loglik(
        *cluster_implied_moments(layout, xs, eff, dev, paths), cm.as_data(True)
    )
    np.testing.assert_allclose(ll.sum("respondent").values, expected, rtol=1e-11)


@pytest.mark.parametrize(
    "cluster, match",
    [
        (["a"] * 5 + ["b"], r"'b' \(1 firm with answers; rows \[6\]\)"),
        (["a"] * 3 + [None] + ["b"] * 2, r"1 firm\(s\) have no cluster id \(rows \[4\]"),
        (["a"] * 5, r"5 ids for 6 rows"),
    ],
)
def test_bad_cluster_ids_give_clear_errors(cluster, match):
    d = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 7], "y": [2.0, 1, 4, 3, 5, 9]})
    with pytest.raises(DataError, match=match):
        cluster_moments(d, cluster)


def test_a_cluster_whose_firms_gave_no_answers_is_named():
    d = pd.DataFrame({"x": [1.0, 2, 3, np.nan, 5], "y": [2.0, 1, 4, np.nan, 5]})
    with pytest.raises(DataError, match=r"'b' \(1 firm with answers"):
        cluster_moments(d, pd.Series(["a", "a", "b", "b", "a"]))


def test_categorical_ids_keep_their_order():
    d = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [2.0, 1, 4, 3]})
    ids = pd.Series(pd.Categorical(["z", "a", "z", "a"], categories=["z", "a", "unused"]))
    assert cluster_moments(d, ids).clusters == ["z", "a"]


# ---------------------------------------------------------------------- sampling
def _checked_fit(syntax, data, cluster, **kwargs):
    """Fit and print the convergence figures; only the ConvergenceWarning is held back.

    Nothing else is silenced, and each test states what it demands of convergence. These are
    short runs (2 × 500 draws; the clustered model compiles and samples for about a minute
    each): the package's own bar (R-hat ≤ 1.01, bulk ESS ≥ 400) would need about four times
    the draws. What the tests check is coarse against their Monte Carlo error: with a bulk ESS
    of 100 the posterior mean moves by a tenth of a posterior SD between runs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        fit = br.Model(syntax).fit(data, cluster=cluster, **kwargs)
    c = fit.convergence
    print(f"max R-hat {c.max_r_hat:.3f}, min bulk ESS {c.min_ess_bulk:.0f}, "
          f"{c.divergences} divergences")
    return fit


def test_between_cluster_sd_is_recovered():
    """Acceptance: 8 clusters of 15-80 firms, between-cluster SD 0.5 of every latent mean.

    Two replicates × three latents: six 90 % HDIs of ``cluster_sd``. Coverage at the nominal
    rate gives at least 4 of 6 with probability 0.98; the figures over more replicates are in
    ``bench/bench_pooling.py``. The second replicate reuses the first one's compiled model.
    """
    truth = 0.5
    hits, rows, distance = [], [], 0.0
    n_compiled = len(br_sample._COMPILED)
    for rep in range(2):
        sim = simulate_clustered_data(POPULATION, SIZES, truth, seed=100 + rep)
        cfit = _checked_fit(ANALYSIS, sim.data, "cluster", seed=rep, draws=500, tune=500,
                          chains=2, progressbar=False)
        post = cfit.idata.posterior
        summary = az.summary(post, var_names=["cluster_sd"], hdi_prob=0.9)
        # the SDs of the cluster effects are what this test is about: mixed well enough for
        # their 90 % HDIs (MC error of the mean ≤ SD / 10). With 8 clusters and 2 × 500 draws
        # their R-hat ranges 1.01-1.025 between runs of the same seed on different machines
        assert summary["r_hat"].max() < 1.03, summary
        assert summary["ess_bulk"].min() >= 100, summary
        assert int(cfit.idata.sample_stats["diverging"].sum()) <= 5
        inside = (summary["hdi_5%"] <= truth) & (truth <= summary["hdi_95%"])
        hits.extend(inside.tolist())
        # on the log scale, where an SD's posterior is close to normal
        log_sd = np.log(post["cluster_sd"].stack(s=("chain", "draw")).transpose("s", ...).values)
        distance += calibration_distance(log_sd, np.full(log_sd.shape[1], np.log(truth)))
        rows.append(summary[["mean", "sd", "hdi_5%", "hdi_95%"]].round(3))
        # the cluster results are labelled by cluster; the latent means track the truth
        res = cfit.cluster_results()
        assert res["latent_intercept"].dims == ("chain", "draw", "cluster", "latent")
        est = res["latent_intercept"].mean(("chain", "draw")).to_pandas()
        true = sim.effects.loc[est.index, est.columns]
        assert np.corrcoef(est.to_numpy().ravel(), true.to_numpy().ravel())[0, 1] > 0.6
    assert len(br_sample._COMPILED) == n_compiled + 1
    print(pd.concat(rows, keys=["rep 0", "rep 1"]))
    print(f"90% HDIs covering the true between-cluster SD {truth}: {sum(hits)}/{len(hits)}")
    assert sum(hits) >= 4
    # the count cannot see intervals that are too wide; the joint distance over both
    # replicates (χ²(6), two-sided at 1 %) can
    print(f"calibration distance of log cluster_sd: {distance:.2f} (chi2({len(hits)}))")
    assert_calibrated(distance, len(hits))


def test_partial_pooling_of_paths_beats_no_pooling_for_small_clusters():
    """Light version of ``bench/bench_pooling.py``: one data set, the three smallest clusters.

    Partial pooling (one fit, paths B + δ_c) against no pooling (each cluster fitted alone).
    The RMSE of the posterior-mean paths against the clusters' true paths is computed over
    3 clusters × 3 paths; the margin asked for (a ratio below 0.8) is far from the replicate
    study's average (see the bench) but not so far that a wrong pooling could pass.
    """
    sim = simulate_clustered_data(POPULATION, SIZES, 0.3, seed=7, path_sd=0.25)
    cfit = _checked_fit(ANALYSIS, sim.data, "cluster", random_paths=True, seed=1, draws=500,
                      tune=500, chains=2, progressbar=False)
    paths = cfit.cluster_results()["path"].mean(("chain", "draw")).to_pandas()
    small = [f"c{k}" for k in (1, 2, 3)]  # 15, 20 and 25 firms
    truth = sim.paths.loc[small, paths.columns]
    partial = paths.loc[small]
    alone = {}
    model = br.Model(ANALYSIS)
    for c in small:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(sim.data.loc[sim.data["cluster"] == c], seed=1, draws=500,
                            tune=500, chains=2, progressbar=False)
        est = fit.summary().query("op == '~'")
        alone[c] = {f"{a}~{b}": m for a, b, m in est[["lhs", "rhs", "mean"]].itertuples(
            index=False)}
    none = pd.DataFrame(alone).T.loc[small, paths.columns]
    rmse_partial = float(np.sqrt(((partial - truth) ** 2).to_numpy().mean()))
    rmse_none = float(np.sqrt(((none - truth) ** 2).to_numpy().mean()))
    print(f"RMSE of the small clusters' paths: partial pooling {rmse_partial:.3f}, "
          f"no pooling {rmse_none:.3f}")
    print(pd.concat({"truth": truth, "partial": partial, "none": none}, axis=1).round(2))
    assert rmse_partial < 0.8 * rmse_none


def test_clustered_fit_reports_per_firm_likelihood_and_refuses_chi_square_indices():
    sim = simulate_clustered_data(POPULATION, SIZES, 0.3, seed=8)
    fit = _checked_fit(ANALYSIS, sim.data, "cluster", seed=2, draws=200, tune=300, chains=2,
                     progressbar=False)
    ll = fit.log_likelihood()
    assert ll.sizes["respondent"] == len(sim.data)
    res = fit.cluster_results()
    assert list(res["latent_mean"]["cluster"].values) == fit.clusters.clusters
    with pytest.raises(NotImplementedError, match="clusters"):
        fit.fit_indices()
    with pytest.raises(NotImplementedError, match="cluster"):
        fit.scores()


# ---------------------------------------------------------------------- data augmentation
def _conditional_logpdf(frame, codes, sigma, mu, filled):
    """Σ_i log p(y_mis,i | y_obs,i) under N(μ_c(i), Σ_c(i)): the density of the sampled answers."""
    total = 0.0
    for row, full, c in zip(frame.to_numpy(), filled, codes, strict=True):
        o, m = ~np.isnan(row), np.isnan(row)
        if not m.any():
            continue
        s = sigma[c] if len(sigma) > 1 else sigma[0]
        if o.any():
            gain = np.linalg.solve(s[np.ix_(o, o)], s[np.ix_(o, m)]).T  # Σ_mo Σ_oo⁻¹
            mean = mu[c][m] + gain @ (row[o] - mu[c][o])
            cov = s[np.ix_(m, m)] - gain @ s[np.ix_(o, m)]
        else:
            mean, cov = mu[c], s
        total += stats.multivariate_normal(mean, cov).logpdf(full[m])
    return total


def _filled_at_random(frame, seed):
    values = frame.to_numpy(dtype=float)
    cells = np.nonzero(np.isnan(values))
    filled = values.copy()
    filled[cells] = np.random.default_rng(seed).normal(0.5, 1.5, size=len(cells[0]))
    return cells, filled


@pytest.mark.parametrize("random_paths", [False, True])
def test_augmented_likelihood_is_the_firms_complete_data_densities(layout, incomplete,
                                                                   random_paths):
    frame = check_data(incomplete, layout.observed)
    codes = pd.factorize(incomplete["cluster"], sort=True)[0]
    paths = random_path_elements(layout, True) if random_paths else None
    for seed in range(3):
        x, effects, deltas = _point(layout, 10 + seed, 8)
        sigma, mu = cluster_implied_moments(layout, x, effects,
                                            deltas if random_paths else None, paths)
        _, filled = _filled_at_random(frame, seed)
        complete = pd.DataFrame(filled, columns=frame.columns)
        expected = _firm_by_firm(complete, codes, sigma, mu)
        got = augmented_cluster_loglik(sigma, mu, filled, codes)
        assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("random_paths", [False, True])
def test_integrating_out_the_sampled_answers_gives_the_cell_likelihood(layout, incomplete,
                                                                       random_paths):
    """log p(y_obs, y_mis) − log p(y_mis | y_obs) = log p(y_obs) at any sampled answers.

    Exact for every value of the missing answers, so the augmented posterior's marginal over
    the parameters is the posterior of the cell likelihood (the route without augmentation).
    """
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    codes = pd.factorize(incomplete["cluster"], sort=True)[0]
    paths = random_path_elements(layout, True) if random_paths else None
    for seed in range(3):
        x, effects, deltas = _point(layout, 20 + seed, cm.n_clusters)
        sigma, mu = cluster_implied_moments(layout, x, effects,
                                            deltas if random_paths else None, paths)
        _, filled = _filled_at_random(frame, 100 + seed)
        joint = augmented_cluster_loglik(sigma, mu, filled, codes)
        integrated = joint - _conditional_logpdf(frame, codes, sigma, mu, filled)
        observed = cluster_loglik(sigma, mu, cm.as_data(random_paths))
        assert integrated == pytest.approx(observed, rel=1e-10)


@pytest.mark.parametrize("random_paths", [False, True])
def test_compiled_augmented_model_equals_the_numpy_likelihood(layout, incomplete,
                                                              random_paths):
    frame = check_data(incomplete, layout.observed)
    cm = cluster_moments(frame, incomplete["cluster"])
    codes = pd.factorize(incomplete["cluster"], sort=True)[0]
    groups = prior_groups(layout, None)
    cells, filled = _filled_at_random(frame, 7)
    model = build_clustered_model(layout, cm, groups, random_paths=random_paths,
                                  missing_cells=cells, filled=np.nan_to_num(frame.to_numpy()),
                                  cluster_of_row=codes, grand_mean_intercepts=False)
    assert model.named_vars_to_dims["missing_answers"] == ("missing_answer",)
    assert model.coords["missing_answer"][0] == f"{layout.observed[cells[1][0]]}[{cells[0][0]}]"
    rng = np.random.default_rng(8)
    start = start_values(layout, moments(frame), data=frame)
    for _ in range(3):
        x = start * rng.uniform(0.9, 1.1, size=start.shape)
        point = {g.name: x[g.elements] for g in groups}
        point.update(cluster_sd=np.full(3, 0.4), cluster_z=rng.normal(size=(8, 3)),
                     missing_answers=filled[cells])
        deltas = paths = None
        if random_paths:
            point.update(path_sd=np.full(3, 0.2), path_z=rng.normal(size=(8, 3)))
            deltas, paths = point["path_z"] * 0.2, random_path_elements(layout, True)
        sigma, mu = cluster_implied_moments(layout, x, point["cluster_z"] * 0.4, deltas, paths)
        expected = augmented_cluster_loglik(sigma, mu, filled, codes)
        assert _potential_at(model, point) == pytest.approx(expected, rel=1e-10)
    # the gradient reaches the sampled answers through the incremental statistics: against
    # central differences of the reference form (error O(h²) ≈ 1e-10 relative)
    grad = _answers_gradient_at(model, point)
    h = 1e-5
    for k in rng.choice(len(cells[0]), size=5, replace=False):
        up, down = filled.copy(), filled.copy()
        up[cells[0][k], cells[1][k]] += h
        down[cells[0][k], cells[1][k]] -= h
        numeric = (augmented_cluster_loglik(sigma, mu, up, codes)
                   - augmented_cluster_loglik(sigma, mu, down, codes)) / (2 * h)
        assert grad[k] == pytest.approx(numeric, rel=1e-6, abs=1e-6)


def _answers_gradient_at(model, values):
    """d log p / d missing_answers at a point given on the constrained scale."""
    from pymc.initial_point import make_initial_point_fn

    point = make_initial_point_fn(
        model=model, overrides=values, jitter_rvs=set(), return_transformed=True
    )(0)
    fn = model.compile_dlogp(vars=[model["missing_answers"]], jacobian=False,
                             mode="FAST_COMPILE")
    return np.asarray(fn(point))


SCATTERED_POPULATION = """
X =~ 1*x1 + 0.8*x2 + 0.7*x3 + 0.9*x4 + 0.8*x5 + 0.7*x6
M =~ 1*m1 + 0.9*m2 + 0.8*m3 + 0.7*m4 + 0.9*m5 + 0.8*m6
Y =~ 1*y1 + 0.8*y2 + 0.9*y3 + 0.7*y4 + 0.8*y5 + 0.9*y6
M ~ 0.5*X
Y ~ 0.4*M + 0.2*X
x1 ~~ 0.5*x1
m1 ~~ 0.5*m1
y1 ~~ 0.5*y1
M ~~ 0.6*M
Y ~~ 0.6*Y
"""

SCATTERED_ANALYSIS = """
X =~ x1 + x2 + x3 + x4 + x5 + x6
M =~ m1 + m2 + m3 + m4 + m5 + m6
Y =~ y1 + y2 + y3 + y4 + y5 + y6
M ~ X
Y ~ M + X
"""


@pytest.fixture(scope="module")
def scattered():
    """18 items, 5 % of the answers missing at random: ~100 patterns, so augmentation."""
    return simulate_clustered_data(SCATTERED_POPULATION, SIZES, 0.5, seed=31,
                                   missing_rate=0.05)


def test_scattered_answers_switch_the_clustered_backend_to_augmentation(scattered):
    from bayes_rent.backend.base import FitRequest
    from bayes_rent.backend.registry import BACKENDS

    data = scattered.data
    items = [c for c in data.columns if c != "cluster"]
    assert moments(check_data(data, items)).scattered
    request = FitRequest(draws=10, tune=10, chains=2, seed=1, sampler="nutpie",
                         progressbar=False, target_accept=None, cluster="cluster")
    prepared = BACKENDS["clustered"].prepare(br.Model(SCATTERED_ANALYSIS), data, request)
    values = data[prepared.fit_parts["layout"].observed].to_numpy()
    rows, cols = np.nonzero(np.isnan(values))
    assert prepared.pm_model.named_vars_to_dims["missing_answers"] == ("missing_answer",)
    assert len(prepared.pm_model.coords["missing_answer"]) == len(rows)
    for point in prepared.initvals:  # the missing answers start at their column's mean
        np.testing.assert_allclose(point["missing_answers"], np.nanmean(values, axis=0)[cols])
    assert set(prepared.data) == {"augmented_shift", "augmented_sums", "augmented_cross",
                                  "augmented_rows"}
    # the same data without scattered gaps keep the cell likelihood
    few = data.copy()
    few[items] = few[items].fillna(few[items].mean())
    plain = BACKENDS["clustered"].prepare(br.Model(SCATTERED_ANALYSIS), few, request)
    assert "missing_answers" not in plain.pm_model.named_vars and "cell_n" in plain.data


def test_between_cluster_sd_is_recovered_with_scattered_missing_answers(scattered):
    """Data augmentation in a fit: 5 % of 18 items missing, 4 × 1 000 draws.

    The package's bar (R-hat ≤ 1.01, bulk ESS ≥ 400, no divergences) holds for every
    parameter. It did not before the item intercepts were sampled at the clusters' grand mean:
    ν lay on a ridge with the clusters' mean effect (ν + Λ ū is what the data see) and reached
    R-hat 1.03-1.04 and bulk ESS 130-200 with seed 3. With the default target_accept (0.8)
    the same seed now gives R-hat 1.006 and bulk ESS 1 386 but one divergence in 4 000 draws,
    in the funnel of the cluster SDs, so the fit takes the remedy the convergence warning
    names, target_accept 0.9. Three 90 % HDIs of ``cluster_sd`` (true 0.5): at least 2 of 3
    cover it with probability 0.97 at the nominal rate. The per-firm log-likelihood
    integrates the sampled answers out: summed over firms it is the cell likelihood at the
    same draws.
    """
    fit = _checked_fit(SCATTERED_ANALYSIS, scattered.data, "cluster", seed=3,
                       target_accept=0.9, progressbar=False)
    post = fit.idata.posterior
    assert "missing_answers" in post and post.sizes["missing_answer"] == int(
        scattered.data.drop(columns="cluster").isna().sum().sum())
    assert fit.convergence.converged, fit.convergence.message()
    summary = az.summary(post, var_names=["cluster_sd", "missing_answers"], hdi_prob=0.9)
    assert summary["r_hat"].max() <= 1.01 and summary["ess_bulk"].min() >= 400, summary
    summary = summary.loc[[i for i in summary.index if i.startswith("cluster_sd")]]
    print(summary)
    inside = (summary["hdi_5%"] <= 0.5) & (0.5 <= summary["hdi_95%"])
    assert inside.sum() >= 2
    ll = fit.log_likelihood()
    assert ll.sizes["respondent"] == len(scattered.data)
    sub = post.isel(chain=[0], draw=[0, 500])
    layout = fit.layout
    elements = np.stack([np.concatenate([sub[g.name].values[0, d] for g in fit.groups])
                         for d in range(2)])
    x = np.zeros((2, len(layout.elements)))
    offset = 0
    for g in fit.groups:
        x[:, g.elements] = elements[:, offset:offset + len(g.elements)]
        offset += len(g.elements)
    effects = sub["cluster_effects"].values[0]
    cells = fit.clusters.as_data()
    expected = [cluster_loglik(*cluster_implied_moments(layout, x[d], effects[d]), cells)
                for d in range(2)]
    np.testing.assert_allclose(ll.isel(chain=0, draw=[0, 500]).sum("respondent").values,
                               expected, rtol=1e-10)


def test_random_means_choose_the_latents_of_a_second_order_model():
    syntax = "F =~ f1 + f2; f1 =~ x1 + x2 + x3; f2 =~ x4 + x5 + x6"
    lay = build_layout(build_partable(syntax))
    rng = np.random.default_rng(4)
    d = pd.DataFrame(rng.normal(size=(40, 6)), columns=lay.observed)
    cm = cluster_moments(d, np.arange(40) % 4)
    groups = prior_groups(lay, None)
    for which, names in (("all", ["F", "f1", "f2"]), ("first_order", ["f1", "f2"]),
                         ("top", ["F"]), (["f2"], ["f2"])):
        model = build_clustered_model(lay, cm, groups, random_means=which)
        assert list(model.coords["latent"]) == names
    with pytest.raises(ValueError, match="not latent variables"):
        build_clustered_model(lay, cm, groups, random_means=["x1"])
    # effects on a subset of latents = effects on all of them with zeros elsewhere
    x = np.array([0.8 if e.kind == "loading" else 1.0 if e.kind == "sd" else 0.1
                  for e in lay.elements])
    top = random_mean_latents(lay, "top")
    u = rng.normal(size=(4, 1))
    full = np.zeros((4, 3))
    full[:, top] = u
    np.testing.assert_allclose(cluster_implied_moments(lay, x, u, latent_index=top)[1],
                               cluster_implied_moments(lay, x, full)[1], rtol=1e-12)
