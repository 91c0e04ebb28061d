"""The probabilistic coupling index computed from posterior firm scores."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_rent import grey

matplotlib.use("Agg")

NAMES = [*grey.NC_DIMENSIONS, *grey.AC_DIMENSIONS, "KR", "IG"]


def synthetic_scores(
    true: np.ndarray, rng: np.random.Generator, chains: int = 2, draws: int = 200,
    posterior_sd: float = 0.3, names: list[str] | None = None,
) -> xr.DataArray:
    """Posterior-like draws around true scores, shaped like fit.scores()."""
    names = names or NAMES[: true.shape[1]]
    values = true[None, None] + posterior_sd * rng.normal(size=(chains, draws, *true.shape))
    return xr.DataArray(values, dims=("chain", "draw", "respondent", "construct"),
                        coords={"construct": names,
                                "respondent": [f"firm{i:03d}" for i in range(true.shape[0])]})


def firms(rng: np.random.Generator, n: int, coupled: bool) -> np.ndarray:
    """NC and AC dimension scores; AC follows the NC factor when coupled, else its own factor."""
    f = rng.normal(size=n)
    g = f if coupled else rng.normal(size=n)
    nc = 0.8 * f[:, None] + 0.6 * rng.normal(size=(n, 4))
    ac = 0.8 * g[:, None] + 0.6 * rng.normal(size=(n, 4))
    return np.concatenate([nc, ac], axis=1)


@pytest.fixture
def small_scores() -> xr.DataArray:
    rng = np.random.default_rng(20)
    true = rng.normal(size=(12, 10))
    return synthetic_scores(true, rng, chains=2, draws=4)


def test_vectorized_equals_per_draw_loop_exactly(small_scores: xr.DataArray) -> None:
    s = small_scores
    clusters = np.repeat(["A", "B", "C"], 4)
    rng = np.random.default_rng(1)
    # Random parts (bootstrap and perturbed weights) drawn up front so the loop can reuse them.
    boot = grey.bayesian_bootstrap_weights({"chain": 2, "draw": 4}, 12, seed=rng,
                                           coords=s["respondent"].values)
    wx = grey.dirichlet_weights(pd.Series(0.25, index=list(grey.NC_DIMENSIONS)), 30.0,
                                sizes={"chain": 2, "draw": 4}, seed=rng, indicator_dim="construct")
    for options in (
        {"x_weights": "entropy", "y_weights": "equal"},
        {"x_weights": wx, "bootstrap": boot, "method": "wang"},
    ):
        kw = {"cluster": clusters, "outcomes": ["KR", "IG"], "keep_coefficients": True,
              **options}
        vec = grey.coupling_from_scores(s, **kw)
        for c in range(2):
            for d in range(4):
                sel = {"chain": [c], "draw": [d]}
                kw_d = {k: v.isel(sel) if isinstance(v, xr.DataArray) else v
                        for k, v in kw.items()}
                one = grey.coupling_from_scores(s.isel(sel), **kw_d)
                for var in vec.posterior.data_vars:
                    np.testing.assert_array_equal(vec.posterior[var].isel(sel).values,
                                                  one.posterior[var].values, err_msg=var)
                np.testing.assert_array_equal(vec.grey.coefficients.isel(sel).values,
                                              one.grey.coefficients.values)


def test_result_layout(small_scores: xr.DataArray) -> None:
    res = grey.coupling_from_scores(small_scores, cluster=np.repeat(["A", "B"], 6),
                                    outcomes=["KR", "IG"])
    post = res.posterior
    assert post["grey_C"].dims == ("chain", "draw", "respondent")
    assert post["gamma"].dims == ("chain", "draw", "x", "y")
    assert list(post["gamma"]["x"].values) == list(grey.NC_DIMENSIONS)
    assert list(post["gamma"]["y"].values) == list(grey.AC_DIMENSIONS)
    assert post["D"].dims == ("chain", "draw", "respondent")
    assert post["D_cluster"].dims == ("chain", "draw", "cluster")
    assert post["D_overall"].dims == ("chain", "draw")
    assert post["U"].dims == ("chain", "draw", "respondent", "system")
    assert list(post["U"]["system"].values) == ["NC", "AC"]
    assert post["grade"].dims == ("chain", "draw", "outcome", "index")
    # Cluster means are the means of their firms' values.
    np.testing.assert_allclose(post["D_cluster"].sel(cluster="A"),
                               post["D"].isel(respondent=slice(0, 6)).mean("respondent"))
    np.testing.assert_allclose(post["ratio"], post["U"].sel(system="NC") /
                               post["U"].sel(system="AC"))
    assert (post["C"] <= 1).all() and (post["grey_C"] <= 1).all()


def test_cluster_from_coordinate(small_scores: xr.DataArray) -> None:
    s = small_scores.assign_coords(park=("respondent", np.repeat(["SIP", "Kunshan"], 6)))
    res = grey.coupling_from_scores(s, cluster="park")
    assert sorted(res.posterior["D_cluster"]["cluster"].values) == ["Kunshan", "SIP"]


def test_coupled_and_uncoupled_samples_are_separated() -> None:
    rng = np.random.default_rng(2024)
    coupled = synthetic_scores(firms(rng, 200, True), rng, names=NAMES[:8])
    uncoupled = synthetic_scores(firms(rng, 200, False), rng, names=NAMES[:8])
    for method in ("standard", "wang", "fan"):
        rc = grey.coupling_from_scores(coupled, method=method).posterior
        ru = grey.coupling_from_scores(uncoupled, method=method).posterior
        p_c = float((rc["C_overall"] > ru["C_overall"]).mean())
        assert p_c > 0.95, (method, p_c)
        if method != "standard":
            # The standard C crowds near 1 (the reason for the corrections), so D separates the
            # two samples less sharply with it; the corrected forms pass on D too.
            assert float((rc["D_overall"] > ru["D_overall"]).mean()) > 0.95


def test_coupled_and_uncoupled_clusters_are_separated() -> None:
    rng = np.random.default_rng(7)
    true = np.concatenate([firms(rng, 100, True), firms(rng, 100, False)])
    s = synthetic_scores(true, rng, names=NAMES[:8])
    res = grey.coupling_from_scores(s, cluster=np.repeat(["coupled", "uncoupled"], 100))
    # D = √(C·T) also depends on the development level T, so only the coupling degrees are
    # expected to order the clusters.
    for var in ("grey_C_cluster", "C_cluster"):
        da = res.posterior[var]
        p = float((da.sel(cluster="coupled") > da.sel(cluster="uncoupled")).mean())
        assert p > 0.95, (var, p)
    # The NC–AC relational degrees keep their pair layout. They are not expected to order the
    # clusters pair by pair: fitted on each half alone, P(coupled > uncoupled) ranges from
    # 0.03 to 0.88 over the 16 pairs with this seed; the coupling degrees above carry the signal.
    gamma = res.posterior["gamma"]
    assert gamma.dims == ("chain", "draw", "x", "y")


def test_level_probabilities_of_firms_and_clusters(small_scores: xr.DataArray) -> None:
    res = grey.coupling_from_scores(small_scores, cluster=np.repeat(["A", "B"], 6))
    p = res.level_probabilities("D")
    assert p.shape == (12, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    good = res.prob_at_least("good coordination")
    expected = (res.posterior["D"] > 0.8).mean(("chain", "draw")).to_pandas()
    np.testing.assert_allclose(good, expected)
    table = res.levels("D_cluster")
    assert list(table.index) == ["A", "B"]
    assert {"mean", "hdi_low", "hdi_high", "level", "level_zh", "p_level",
            "p_at_least_good_coordination"} <= set(table.columns)
    assert res.levels("C").shape[0] == 12
    overall = res.levels("D_overall")
    assert overall.shape[0] == 1
    pc = res.level_probabilities("C_cluster")
    assert list(pc.columns) == grey.COUPLING_BANDS.names
    # Which system lags: bands of U1/U2 named after the systems.
    lag = res.level_probabilities("ratio")
    assert list(lag.columns) == ["NC lags", "synchronous", "AC lags"]
    np.testing.assert_allclose(lag["NC lags"],
                               (res.posterior["ratio"] <= 0.8).mean(("chain", "draw")))


def test_bayesian_bootstrap_adds_sampling_uncertainty() -> None:
    rng = np.random.default_rng(3)
    true = rng.normal(size=(50, 8))
    fixed = synthetic_scores(true, rng, draws=100, posterior_sd=0.0, names=NAMES[:8])
    plain = grey.coupling_from_scores(fixed).posterior
    boot = grey.coupling_from_scores(fixed, bootstrap=True, seed=1).posterior
    # Without score uncertainty every draw is the same; the bootstrap spreads the population means.
    assert float(plain["D_overall"].std()) == pytest.approx(0.0, abs=1e-12)
    assert float(boot["D_overall"].std()) > 1e-3
    assert float(boot["gamma"].std(("chain", "draw")).min()) > 0
    # Firm-level values are not touched, and the bootstrap is centred on the plain mean.
    np.testing.assert_array_equal(boot["D"].values, plain["D"].values)
    assert float(boot["D_overall"].mean()) == pytest.approx(float(plain["D_overall"].mean()),
                                                            abs=3 * float(boot["D_overall"].std()))


def test_dirichlet_perturbed_weights(small_scores: xr.DataArray) -> None:
    res = grey.coupling_from_scores(small_scores, dirichlet=200.0, seed=4)
    wx = res.posterior["x_weights"]
    assert wx.dims == ("chain", "draw", "x")
    np.testing.assert_allclose(wx.sum("x"), 1.0)
    assert float(wx.std(("chain", "draw")).min()) > 0
    ent = grey.coupling_from_scores(small_scores, x_weights="entropy", y_weights="entropy")
    assert ent.posterior["y_weights"].dims == ("chain", "draw", "y")


def test_outcome_grades_rank_the_related_outcome_first() -> None:
    rng = np.random.default_rng(5)
    base = firms(rng, 150, True)
    res0 = grey.coupling_from_scores(synthetic_scores(base, rng, posterior_sd=0.0, draws=2,
                                                      names=NAMES[:8]))
    d = res0.posterior["D"].isel(chain=0, draw=0).values
    kr = 3 * d + 0.02 * rng.normal(size=150)  # knowledge rent follows coordination
    ig = rng.normal(size=150)  # growth unrelated here
    s = synthetic_scores(np.column_stack([base, kr, ig]), rng, posterior_sd=0.05, draws=100)
    res = grey.coupling_from_scores(s, outcomes=["KR", "IG"])
    grade = res.posterior["grade"]
    assert float((grade.sel(outcome="KR", index="D") >
                  grade.sel(outcome="IG", index="D")).mean()) > 0.95
    table = res.outcome_grades()
    assert {"mean", "sd", "hdi_low", "hdi_high"} <= set(table.columns)
    assert table.loc[("KR", "D"), "hdi_low"] <= table.loc[("KR", "D"), "mean"]


@pytest.mark.filterwarnings("ignore:Passing a dict or None as alias_mapping")
def test_arviz_summaries_and_plots(small_scores: xr.DataArray) -> None:
    import matplotlib.pyplot as plt

    res = grey.coupling_from_scores(small_scores, cluster=np.repeat(["A", "B"], 6))
    summ = res.summary()
    assert "D_overall" in summ.index and "D_cluster[A]" in summ.index
    assert {"mean", "sd", "hdi_5%", "hdi_95%", "r_hat"} <= set(summ.columns)
    drivers = res.drivers()
    assert set(drivers["system"]) == {"x", "y"} and drivers["p_first"].between(0, 1).all()
    ax = res.plot_posterior(["D_overall"])
    assert ax is not None
    axes = res.plot_forest(["D_cluster"])
    assert axes is not None
    plt.close("all")


def test_regression_over_draws_recovers_paired_slope() -> None:
    rng = np.random.default_rng(6)
    n = 300
    d_true = rng.uniform(0.3, 0.9, n)
    # Joint posterior draws of D and KR for every firm, paired draw by draw (as from one SEM).
    d = xr.DataArray(d_true + rng.normal(0, 0.03, (2, 200, n)),
                     dims=("chain", "draw", "respondent"))
    kr = 1.0 + 2.0 * d + rng.normal(0, 0.2, (2, 200, n))
    fit = grey.regression_over_draws(kr, {"D": d})
    row = fit.table.loc["D"]
    assert row["ci_low"] < 2.0 < row["ci_high"]
    assert 0.0 < row["frac_index_uncertainty"] < 1.0
    assert row["se_total"] >= row["se_within"]
    assert fit.draws.dims == ("sample", "term")
    sub = grey.regression_over_draws(kr, {"D": d}, n_draws=50, seed=1)
    assert sub.draws.sizes["sample"] == 50


def test_input_errors(small_scores: xr.DataArray) -> None:
    with pytest.raises(ValueError, match="not in scores"):
        grey.coupling_from_scores(small_scores, x=["vision", "reach"])
    with pytest.raises(TypeError, match="DataArray"):
        grey.coupling_from_scores(small_scores.values)
    with pytest.raises(ValueError, match="one label per respondent"):
        grey.coupling_from_scores(small_scores, cluster=["A", "B"])
    with pytest.raises(ValueError, match="no dimension"):
        grey.coupling_from_scores(small_scores.rename(respondent="firm"))
