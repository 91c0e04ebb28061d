"""Multi-group models: group=, group_equal, pooling='partial' (issue 4).

References: Holzinger & Swineford's two schools (tests/data), where a configural fit must agree
with fitting each school alone, and lavaan's conventions for what ``group.equal`` ties and
frees; simulated groups with known paths for partial pooling.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from conftest import HOLZINGER_SWINEFORD, assert_calibrated, calibration_distance

import bayes_rent as br
from bayes_rent.data.observed import DataError
from bayes_rent.data.population import simulate_data
from bayes_rent.fit import parameter_names
from bayes_rent.spec.groups import group_partable
from bayes_rent.spec.partable import build_partable, n_free

# the package's default run (4 × (1 000 + 1 000)): with 4 × 500 the HS fits end at R-hat 1.013
FAST = dict(seed=11, progressbar=False)


def _converged(fit, divergences: int = 0):
    """The package's own bar (R-hat ≤ 1.01, bulk ESS ≥ 400), with ``divergences`` allowed."""
    c = fit.convergence
    assert c.max_r_hat <= 1.01 and c.min_ess_bulk >= 400, c.message()
    assert c.divergences <= divergences, c.message()


def _fit(data, divergences: int = 0, **kwargs):
    """A CFA of HS that must converge (no warning is silenced)."""
    with warnings.catch_warnings(record=True):
        fit = br.cfa(HOLZINGER_SWINEFORD, data, **FAST, **kwargs)
    _converged(fit, divergences)
    return fit


@pytest.fixture(scope="module")
def configural(hs_data):
    return _fit(hs_data, group="school")


@pytest.fixture(scope="module")
def metric(hs_data):
    return _fit(hs_data, group="school", group_equal=["loadings"])


@pytest.fixture(scope="module")
def scalar(hs_data):
    return _fit(hs_data, group="school", group_equal=["loadings", "intercepts"])


# ---------------------------------------------------------------------- parameter table
def test_free_parameter_counts_follow_lavaan():
    """lavaan's HS invariance models: 60 (configural), 54 (metric), 48 (scalar) parameters."""
    one = build_partable(HOLZINGER_SWINEFORD)
    assert n_free(group_partable(one, 2)) == 60
    assert n_free(group_partable(one, 2, ["loadings"])) == 54
    scalar = group_partable(one, 2, ["loadings", "intercepts"])
    assert n_free(scalar) == 48
    means = scalar.query("op == '~1' and lhs in ['visual', 'textual', 'speed']")
    # equal intercepts free the latent means of the second group only
    assert means.groupby("group")["free"].sum().to_dict() == {1: 0, 2: 3}


def test_labels_belong_to_the_first_group_and_fixed_values_to_all():
    pt = group_partable(build_partable("f =~ x1 + a*x2 + 0.5*x3"), 3)
    rows = pt.query("op == '=~'")
    assert rows.loc[rows["rhs"] == "x2", "label"].tolist() == ["a", "", ""]
    assert rows.loc[rows["rhs"] == "x3", "value"].tolist() == [0.5, 0.5, 0.5]
    tied = group_partable(build_partable("f =~ x1 + a*x2 + x3"), 2, ["loadings"])
    # a tied row keeps the user's label, and the other groups take it
    assert tied.query("op == '=~' and rhs == 'x2'")["label"].tolist() == ["a", "a"]


def test_std_lv_metric_model_frees_later_groups_latent_variances():
    one = build_partable("f =~ x1 + x2 + x3", std_lv=True)
    pt = group_partable(one, 2, ["loadings"], std_lv=True)
    var = pt.query("lhs == 'f' and op == '~~' and rhs == 'f'")
    assert var["free"].tolist() == [False, True]


def test_bad_group_options_are_clear_errors(hs_data):
    model = br.Model(HOLZINGER_SWINEFORD)
    with pytest.raises(ValueError, match="unknown 'weights'"):
        group_partable(model.partable, 2, ["weights"])
    with pytest.raises(DataError, match="group column 'campus' is not in the data"):
        model.fit(hs_data, group="campus")
    gaps = hs_data.assign(school=hs_data["school"].where(hs_data.index != 7))
    with pytest.raises(DataError, match=r"missing values in rows \[8\]"):
        model.fit(gaps, group="school")
    flat = hs_data.copy()
    flat.loc[flat["school"] == "Pasteur", "x4"] = 3.0
    with pytest.raises(DataError, match="Pasteur"):
        model.fit(flat, group="school")
    with pytest.raises(ValueError, match="give group="):
        model.fit(hs_data, group_equal=["loadings"])
    with pytest.raises(ValueError, match="cannot be combined"):
        br.Model("y ~ x").fit(hs_data.rename(columns={"x1": "x", "x2": "y"}), group="school",
                              pooling="partial", group_equal=["regressions"])


# ---------------------------------------------------------------------- Holzinger–Swineford
def _sd_mcse(fit, names: list[str]) -> np.ndarray:
    """Monte Carlo SE of each parameter's posterior SD estimate (delta method on the variance:
    the MC SE of the mean squared deviation, over twice the SD)."""
    draws = fit.idata.posterior["parameters"].sel(parameter=names).values
    squared = (draws - draws.mean((0, 1))) ** 2
    return np.array([
        np.ravel(az.mcse(squared[..., k], method="mean"))[0] / (2 * np.sqrt(squared[..., k].mean()))
        for k in range(len(names))
    ])


def test_configural_fit_agrees_with_each_school_alone(configural, hs_data):
    """The configural posterior factorizes by group: each school alone gives the same one.

    Tolerance: 4 Monte Carlo standard errors of the difference of two posterior means,
    sd·sqrt(1/ess_group + 1/ess_alone), per parameter.
    """
    table = configural.summary()
    for school in ("Pasteur", "Grant-White"):
        # Pasteur's weakly identified speed factor: alone, 4 × 1 000 draws end at R-hat 1.017,
        # and its heavy-tailed loadings leave a divergence or so; the comparison below is in
        # Monte Carlo errors, which the ESS bar keeps small
        alone_fit = _fit(hs_data.loc[hs_data["school"] == school], divergences=2, draws=2000)
        alone = alone_fit.summary()
        mine = table.loc[table["group"] == school].reset_index(drop=True)
        free = mine["free"].to_numpy()
        assert (mine[["lhs", "op", "rhs"]].to_numpy() == alone[["lhs", "op", "rhs"]]
                .to_numpy()).all()
        sd = alone["sd"].to_numpy()[free]
        mc = sd * np.sqrt(1 / mine["ess_bulk"].to_numpy()[free]
                          + 1 / alone["ess_bulk"].to_numpy()[free])
        gap = np.abs(mine["mean"].to_numpy()[free] - alone["mean"].to_numpy()[free])
        assert (gap < 4 * mc).all(), mine.loc[free].assign(gap=gap, mc=mc).query("gap > 4 * mc")
        # SDs within 20 %, or within 4 Monte Carlo SEs of the difference of the two SD
        # estimates where that is wider: the weakly identified speed factor of Pasteur has
        # heavy-tailed loadings whose SD estimate moves by 40 % between seeds at 4 x 2 000
        # draws (its MC SE is about a third of the SD)
        names = parameter_names(mine.loc[free])
        sd_mc = np.hypot(_sd_mcse(configural, [f"{n} [{school}]" for n in names]),
                         _sd_mcse(alone_fit, names))
        sd_gap = np.abs(mine["sd"].to_numpy()[free] - sd)
        within = sd_gap <= np.maximum(0.2 * sd, 4 * sd_mc)
        assert within.all(), list(zip(names, sd_gap, sd_mc, strict=True))


def test_configural_results_carry_the_group(configural):
    assert configural.group_names == ["Pasteur", "Grant-White"]
    assert set(configural.summary()["group"]) == {"Pasteur", "Grant-White"}
    std = configural.standardized()
    assert std.groupby("group").size().tolist() == [36, 36]
    assert set(configural.r2()["group"]) == {"Pasteur", "Grant-White"}
    assert configural.matrices["Lambda"].dims[:3] == ("group", "chain", "draw")
    ll = configural.log_likelihood()
    assert ll.sizes["respondent"] == len(configural.data)
    assert configural.scores().sizes["respondent"] == len(configural.data)
    assert configural.priors.groupby("group").size().to_dict() == {"Grant-White": 30,
                                                                   "Pasteur": 30}
    indices = configural.fit_indices()
    assert not indices["defined"].any() and indices["reason"].str.contains("loo").all()


def test_equal_loadings_give_one_set_of_loadings(metric, configural):
    table = metric.summary().query("op == '=~'")
    by_group = [g[["mean", "sd"]].to_numpy() for _, g in table.groupby("group", sort=False)]
    np.testing.assert_array_equal(by_group[0], by_group[1])
    draws = metric.idata.posterior["parameters"]
    np.testing.assert_array_equal(draws.sel(parameter="visual =~ x2 [Pasteur]").values,
                                  draws.sel(parameter="visual =~ x2 [Grant-White]").values)
    assert n_free(metric.partable) == 54
    # the common loading sits between the schools' own loadings (for a loading that differs)
    own = configural.summary().query("op == '=~' and rhs == 'x3'")["mean"].to_numpy()
    common = table.query("rhs == 'x3'")["mean"].iloc[0]
    assert own.min() < common < own.max()


def test_invariance_comparison_by_loo(configural, metric, scalar):
    """lavaan's likelihood-ratio tests on these data: metric holds, scalar does not.

    By LOO the scalar model must be worse than the metric one by more than one SE of the
    difference, and the effective numbers of parameters follow the models' sizes.
    """
    table = br.compare({"configural": configural, "metric": metric, "scalar": scalar})
    assert table.index[-1] == "scalar"
    gap = table.loc["scalar", "elpd_diff"] - table.loc["metric", "elpd_diff"]
    assert gap > table.loc["scalar", "dse"]
    p = table["p_loo"]
    assert p["configural"] > p["metric"] > p["scalar"]
    means = scalar.summary().query("op == '~1' and lhs in ['visual', 'textual', 'speed']")
    grant = means.loc[means["group"] == "Grant-White"].set_index("lhs")
    # Grant-White scores higher on textual than Pasteur (the latent mean difference lavaan
    # reports for this model is about +0.58)
    assert grant.loc["textual", "hdi_low"] > 0


# ---------------------------------------------------------------------- partial pooling
GROUP_SIZES = [40, 60, 100, 150]
TRUE_PATHS = [0.35, 0.45, 0.5, 0.6]


def _pooling_data() -> pd.DataFrame:
    parts = []
    for k, (n, beta) in enumerate(zip(GROUP_SIZES, TRUE_PATHS, strict=True)):
        syntax = f"""
        x =~ 1*x1 + 0.8*x2 + 0.9*x3
        y =~ 1*y1 + 0.7*y2 + 0.8*y3
        y ~ {beta}*x
        x ~~ 1*x
        y ~~ 0.6*y
        x1 ~~ 0.5*x1
        x2 ~~ 0.5*x2
        x3 ~~ 0.5*x3
        y1 ~~ 0.5*y1
        y2 ~~ 0.5*y2
        y3 ~~ 0.5*y3
        """
        parts.append(simulate_data(syntax, n, seed=100 + k).assign(region=f"r{k + 1}"))
    return pd.concat(parts, ignore_index=True)


def test_partial_pooling_shrinks_small_groups_paths():
    data = _pooling_data()
    syntax = "x =~ x1 + x2 + x3\ny =~ y1 + y2 + y3\ny ~ x"
    kwargs = dict(group="region", group_equal=["loadings"], **FAST)
    # the spread of four groups' paths is barely identified, so its hierarchy has a funnel:
    # 23 of 4 000 transitions diverge at target_accept 0.8, 2-3 at 0.95
    with warnings.catch_warnings(record=True):
        pooled = br.sem(syntax, data, pooling="partial", target_accept=0.95, **kwargs)
    _converged(pooled, divergences=3)
    # the unpooled fit of the 30-firm group leaves 3 divergences at the package's settings;
    # only its posterior SD is used, as the baseline that pooling must narrow
    with warnings.catch_warnings(record=True):
        separate = br.sem(syntax, data, **kwargs)
    _converged(separate, divergences=5)
    post = pooled.idata.posterior
    assert post["path_means"].dims[-1] == "pooled_path"
    assert post["path_z"].sizes["group"] == len(GROUP_SIZES)
    # the common path covers the groups' mean path
    lo, hi = np.quantile(post["path_means"].values, [0.05, 0.95])
    assert lo < np.mean(TRUE_PATHS) < hi
    priors = pooled.priors.query("op == '~'")["prior"]
    assert priors.str.startswith("normal(path_means, path_spread)").all()
    paths_p = pooled.summary().query("op == '~'").set_index("group")
    paths_s = separate.summary().query("op == '~'").set_index("group")
    # the smallest group borrows strength: a narrower posterior than on its own
    assert paths_p.loc["r1", "sd"] < paths_s.loc["r1", "sd"]
    covered = [paths_p.loc[g, "hdi_low"] < truth < paths_p.loc[g, "hdi_high"]
               for g, truth in zip(["r1", "r2", "r3", "r4"], TRUE_PATHS, strict=True)]
    # 90 % intervals: at least 3 of 4 cover with probability 0.95
    assert sum(covered) >= 3, paths_p
    # the count cannot see intervals that are too wide; the joint distance of the four true
    # paths from the posterior can (χ²(4), two-sided at 1 %)
    draws = pooled.idata.posterior["parameters"].sel(
        parameter=[f"y ~ x [{g}]" for g in ("r1", "r2", "r3", "r4")])
    distance = calibration_distance(
        draws.stack(s=("chain", "draw")).transpose("s", "parameter").values,
        np.asarray(TRUE_PATHS))
    print(f"calibration distance of the pooled paths: {distance:.2f} (chi2(4))")
    assert_calibrated(distance, len(TRUE_PATHS))
