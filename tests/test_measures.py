"""Reliability and validity: closed forms, lavaan's estimates, and the Holzinger-Swineford data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_rent.results.measures import (
    average_variance_extracted,
    composite_reliability,
    constructs,
    cronbach_alpha,
    fornell_larcker,
    htmt,
    reliability_table,
    standardized_loadings,
    validity_table,
)
from bayes_rent.results.standardized import matrices_from_parameters

DATA = Path(__file__).parent / "data"
HS_ITEMS = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
}


def pt_frame(rows: list[tuple]) -> pd.DataFrame:
    pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est"])
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["label"] = ""
    return pt


def one_factor(loadings, residuals, phi=1.0, extra=()):
    rows = [("f", "=~", f"y{i + 1}", lam) for i, lam in enumerate(loadings)]
    rows += [("f", "~~", "f", phi)]
    rows += [(f"y{i + 1}", "~~", f"y{i + 1}", th) for i, th in enumerate(residuals)]
    rows += list(extra)
    return pt_frame(rows)


def two_factor(lam_a, lam_b, r):
    """Standardized two-factor model (unit latent and item variances)."""
    rows = [("A", "=~", f"a{i + 1}", v) for i, v in enumerate(lam_a)]
    rows += [("B", "=~", f"b{i + 1}", v) for i, v in enumerate(lam_b)]
    rows += [("A", "~~", "A", 1.0), ("B", "~~", "B", 1.0), ("A", "~~", "B", r)]
    rows += [(f"a{i + 1}", "~~", f"a{i + 1}", 1 - v**2) for i, v in enumerate(lam_a)]
    rows += [(f"b{i + 1}", "~~", f"b{i + 1}", 1 - v**2) for i, v in enumerate(lam_b)]
    return pt_frame(rows)


@pytest.fixture(scope="module")
def hs():
    est = pd.read_csv(DATA / "HS_cfa_estimates.csv")
    pt = est[["lhs", "op", "rhs", "est", "std.all"]].rename(columns={"std.all": "std_all"})
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["label"] = ""
    data = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    return pt, matrices_from_parameters(pt), data


def jittered(pt, chains=2, draws=30, seed=0):
    rng = np.random.default_rng(seed)
    vals = pt["est"].to_numpy(dtype=float) * np.exp(
        rng.normal(scale=0.1, size=(chains, draws, len(pt)))
    )
    return xr.DataArray(vals, dims=("chain", "draw", "par"), coords={"par": pt["id"].values})


# ------------------------------------------------------------------------------ reliability


def test_cr_and_ave_from_standardized_loadings_match_closed_forms():
    lam = np.array([0.7, 0.8, 0.6])
    pt = one_factor(lam, 1 - lam**2, extra=[("y1", "~~", "y2", 0.1)])
    mats = matrices_from_parameters(pt)
    cr = float(composite_reliability(mats, pt).squeeze())
    expected = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum() + 2 * 0.1)
    assert cr == pytest.approx(expected)
    ave = float(average_variance_extracted(mats, pt).squeeze())
    assert ave == pytest.approx((lam**2).mean())


def test_raw_and_standardized_cr():
    lam, theta, phi = np.array([1.0, 2.0, 1.5]), np.array([1.0, 2.0, 0.5]), 0.5
    pt = one_factor(lam, theta, phi=phi)
    mats = matrices_from_parameters(pt)
    raw = float(composite_reliability(mats, pt, standardized=False).squeeze())
    assert raw == pytest.approx(lam.sum() ** 2 * phi / (lam.sum() ** 2 * phi + theta.sum()))
    var = lam**2 * phi + theta
    lam_s = lam * np.sqrt(phi / var)
    std = float(composite_reliability(mats, pt).squeeze())
    assert std == pytest.approx(lam_s.sum() ** 2 / (lam_s.sum() ** 2 + (theta / var).sum()))
    np.testing.assert_allclose(
        standardized_loadings(mats, pt)["f"].values.ravel(), lam_s, rtol=1e-12
    )


def test_cr_ave_from_lavaan_standardized_loadings(hs):
    pt, mats, _ = hs
    cr = composite_reliability(mats, pt).squeeze()
    ave = average_variance_extracted(mats, pt).squeeze()
    for c, items in HS_ITEMS.items():
        rows = pt[pt["lhs"].eq(c) & pt["op"].eq("=~")]
        lam = rows["std_all"].to_numpy()
        theta = pt[pt["op"].eq("~~") & pt["lhs"].isin(items) & pt["lhs"].eq(pt["rhs"])]
        theta = theta["std_all"].to_numpy()
        expected = lam.sum() ** 2 / (lam.sum() ** 2 + theta.sum())
        assert float(cr.sel(construct=c)) == pytest.approx(expected, abs=1e-6)
        assert float(ave.sel(construct=c)) == pytest.approx((lam**2).mean(), abs=1e-6)


def test_vectorized_equals_per_draw_loop(hs):
    pt, _, data = hs
    draws = jittered(pt, chains=2, draws=4)
    mats = matrices_from_parameters(pt, draws)
    batch = {
        "cr": composite_reliability(mats, pt).values,
        "ave": average_variance_extracted(mats, pt).values,
        "htmt": htmt(mats, pt).values,
        "fl": fornell_larcker(mats, pt)["correlation"].values,
    }
    for c in range(2):
        for d in range(4):
            one = mats.isel(chain=[c], draw=[d])
            np.testing.assert_allclose(
                batch["cr"][c, d], composite_reliability(one, pt).values[0, 0]
            )
            np.testing.assert_allclose(
                batch["ave"][c, d], average_variance_extracted(one, pt).values[0, 0]
            )
            np.testing.assert_allclose(batch["htmt"][c, d], htmt(one, pt).values[0, 0])
            np.testing.assert_allclose(
                batch["fl"][c, d], fornell_larcker(one, pt)["correlation"].values[0, 0]
            )


def second_order_pt():
    """F =~ a + b + c, each dimension with three items; a residual item covariance in a."""
    rows = []
    lam = {"a": (1.0, 0.9, 0.8), "b": (1.0, 1.1, 0.7), "c": (1.0, 0.6, 0.9)}
    for dim, ls in lam.items():
        rows += [(dim, "=~", f"{dim}{i + 1}", v) for i, v in enumerate(ls)]
    rows += [("F", "=~", "a", 1.0), ("F", "=~", "b", 0.8), ("F", "=~", "c", 1.2)]
    rows += [("F", "~~", "F", 0.6), ("a", "~~", "a", 0.3), ("b", "~~", "b", 0.4),
             ("c", "~~", "c", 0.2)]
    rows += [(f"{d}{i}", "~~", f"{d}{i}", 0.5) for d in "abc" for i in (1, 2, 3)]
    rows += [("a1", "~~", "a2", 0.1), ("G", "=~", "g1", 1.0), ("G", "=~", "g2", 1.0),
             ("G", "~~", "G", 1.0), ("G", "~~", "F", 0.3), ("g1", "~~", "g1", 1.0),
             ("g2", "~~", "g2", 1.0)]
    return pt_frame(rows)


def test_second_order_reliability_over_dimensions():
    pt = second_order_pt()
    mats = matrices_from_parameters(pt)
    cons = constructs(pt)
    assert cons["F"] == ["a", "b", "c"]
    cr = composite_reliability(mats, pt).squeeze()
    ave = average_variance_extracted(mats, pt).squeeze()
    phi, b = 0.6, np.array([1.0, 0.8, 1.2])
    psi = np.array([0.3, 0.4, 0.2])
    var_dim = b**2 * phi + psi
    lam = b * np.sqrt(phi / var_dim)
    expected = lam.sum() ** 2 / (lam.sum() ** 2 + (psi / var_dim).sum())
    assert float(cr.sel(construct="F")) == pytest.approx(expected)
    assert float(ave.sel(construct="F")) == pytest.approx((lam**2).mean())
    # first-order dimension a over its items, with the residual covariance
    la = np.array([1.0, 0.9, 0.8])
    var_items = la**2 * var_dim[0] + 0.5
    ls = la * np.sqrt(var_dim[0] / var_items)
    th = 0.5 / var_items
    th12 = 0.1 / np.sqrt(var_items[0] * var_items[1])
    expected_a = ls.sum() ** 2 / (ls.sum() ** 2 + th.sum() + 2 * th12)
    assert float(cr.sel(construct="a")) == pytest.approx(expected_a)
    tab = reliability_table(mats, pt)
    assert tab.set_index("construct").loc["F", "level"] == "second-order"
    assert tab.set_index("construct").loc["a", "level"] == "first-order"
    assert tab["alpha"].isna().all()  # no data given


def test_cronbach_alpha_matches_direct_computation(hs):
    _, _, data = hs
    items = HS_ITEMS["visual"]
    x = data[items]
    k = len(items)
    direct = k / (k - 1) * (1 - x.var(ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    assert cronbach_alpha(data, items) == pytest.approx(direct, rel=1e-12)
    several = cronbach_alpha(data, HS_ITEMS)
    assert isinstance(several, pd.Series)
    assert several["visual"] == pytest.approx(direct)
    # rows with a missing item are dropped
    holes = data.copy()
    holes.loc[:9, "x1"] = np.nan
    x2 = data.loc[10:, items]
    direct2 = k / (k - 1) * (1 - x2.var(ddof=1).sum() / x2.sum(axis=1).var(ddof=1))
    assert cronbach_alpha(holes, items) == pytest.approx(direct2)


def test_cronbach_alpha_bayesian_bootstrap(hs):
    _, _, data = hs
    post = cronbach_alpha(data, HS_ITEMS["textual"], posterior=True, draws=800, seed=7)
    again = cronbach_alpha(data, HS_ITEMS["textual"], posterior=True, draws=800, seed=7)
    assert post.dims == ("chain", "draw") and post.sizes["draw"] == 800
    np.testing.assert_array_equal(post.values, again.values)
    classical = post.attrs["classical"]
    assert abs(float(post.mean()) - classical) < 0.01
    lo, hi = np.quantile(post.values, [0.05, 0.95])
    assert lo < classical < hi and hi - lo < 0.1
    many = cronbach_alpha(data, HS_ITEMS, posterior=True, draws=200, seed=1)
    assert many.dims == ("chain", "draw", "construct")
    with pytest.raises(KeyError, match="nope"):
        cronbach_alpha(data, ["x1", "nope"])
    with pytest.raises(ValueError, match="two items"):
        cronbach_alpha(data, ["x1"])


def test_reliability_table_with_data(hs):
    pt, _, data = hs
    draws = jittered(pt, chains=2, draws=100)
    mats = matrices_from_parameters(pt, draws)
    tab = reliability_table(mats, pt, data, bootstrap_draws=300, seed=2)
    assert list(tab.columns) == [
        "construct", "level", "n_indicators", "alpha", "alpha_hdi_low", "alpha_hdi_high",
        "composite_reliability", "composite_reliability_hdi_low",
        "composite_reliability_hdi_high", "p_cr", "ave", "ave_hdi_low", "ave_hdi_high", "p_ave",
    ]
    t = tab.set_index("construct")
    assert t.loc["visual", "alpha"] == pytest.approx(cronbach_alpha(data, HS_ITEMS["visual"]))
    assert (t["alpha_hdi_low"] < t["alpha"]).all() and (t["alpha"] < t["alpha_hdi_high"]).all()
    cr = composite_reliability(mats, pt)
    assert t.loc["speed", "p_cr"] == pytest.approx(
        float((cr.sel(construct="speed") >= 0.7).mean())
    )
    assert t.loc["speed", "composite_reliability"] == pytest.approx(
        float(cr.sel(construct="speed").mean())
    )
    assert tab.attrs["kind"] == "reliability" and tab.attrs["cr_threshold"] == 0.7


def test_second_order_alpha_uses_dimension_scores():
    rng = np.random.default_rng(5)
    pt = second_order_pt()
    cols = [f"{d}{i}" for d in "abc" for i in (1, 2, 3)] + ["g1", "g2"]
    base = rng.normal(size=(200, 1))
    data = pd.DataFrame(base + rng.normal(size=(200, len(cols))), columns=cols)
    tab = reliability_table(matrices_from_parameters(pt), pt, data, bootstrap_draws=0)
    scores = pd.DataFrame({d: data[[f"{d}{i}" for i in (1, 2, 3)]].mean(axis=1) for d in "abc"})
    t = tab.set_index("construct")
    assert t.loc["F", "alpha"] == pytest.approx(cronbach_alpha(scores, ["a", "b", "c"]))
    assert np.isnan(t.loc["F", "alpha_hdi_low"])


# --------------------------------------------------------------------------------- validity


def test_htmt_equals_latent_correlation_for_tau_equivalent_items():
    pt = two_factor([0.7, 0.7, 0.7], [0.8, 0.8], r=0.45)
    h = htmt(matrices_from_parameters(pt), pt)
    assert h.dims == ("chain", "draw", "construct", "construct_col")
    assert float(h.sel(construct="A", construct_col="B").squeeze()) == pytest.approx(0.45)
    assert np.isnan(h.sel(construct="A", construct_col="A")).all()


def test_htmt_per_draw_matches_manual_formula():
    lam_a, lam_b, r = np.array([0.9, 0.6, 0.7]), np.array([0.5, 0.8]), 0.4
    pt = two_factor(lam_a, lam_b, r)
    corr_aa = np.outer(lam_a, lam_a)[np.triu_indices(3, 1)].mean()
    corr_bb = lam_b[0] * lam_b[1]
    hetero = (np.outer(lam_a, lam_b) * r).mean()
    expected = hetero / np.sqrt(corr_aa * corr_bb)
    h = htmt(matrices_from_parameters(pt), pt)
    assert float(h.sel(construct="B", construct_col="A").squeeze()) == pytest.approx(expected)
    h2 = htmt(matrices_from_parameters(pt), pt, method="geometric")
    geo = np.exp(np.log(np.outer(lam_a, lam_b) * r).mean())
    geo /= np.sqrt(np.exp(np.log(np.outer(lam_a, lam_a)[np.triu_indices(3, 1)]).mean())
                   * corr_bb)
    assert float(h2.sel(construct="A", construct_col="B").squeeze()) == pytest.approx(geo)
    with pytest.raises(ValueError, match="method"):
        htmt(matrices_from_parameters(pt), pt, method="median")


def test_classical_htmt_from_data(hs):
    pt, _, data = hs
    h = htmt(data, pt)
    corr = data[[i for v in HS_ITEMS.values() for i in v]].corr().abs()
    a, b = HS_ITEMS["visual"], HS_ITEMS["speed"]
    mono = lambda items: corr.loc[items, items].to_numpy()[np.triu_indices(3, 1)].mean()  # noqa: E731
    expected = corr.loc[a, b].to_numpy().mean() / np.sqrt(mono(a) * mono(b))
    assert h.loc["visual", "speed"] == pytest.approx(expected)
    assert h.loc["speed", "visual"] == pytest.approx(expected)


def test_fornell_larcker():
    pt = two_factor([0.8, 0.8], [0.7, 0.7], r=0.5)  # sqrt(AVE) = .8 and .7 > .5
    fl = fornell_larcker(matrices_from_parameters(pt), pt)
    assert float(fl["holds"].sel(construct="A", construct_col="B").squeeze()) == 1.0
    np.testing.assert_allclose(fl["sqrt_ave"].values.ravel(), [0.8, 0.7])
    pt = two_factor([0.8, 0.8], [0.7, 0.7], r=0.75)  # .75 > sqrt(AVE_B) = .7
    fl = fornell_larcker(matrices_from_parameters(pt), pt)
    assert float(fl["holds"].sel(construct="A", construct_col="B").squeeze()) == 0.0
    assert np.isnan(fl["holds"].sel(construct="A", construct_col="A")).all()


def test_validity_table(hs):
    pt, _, data = hs
    draws = jittered(pt, chains=2, draws=60)
    mats = matrices_from_parameters(pt, draws)
    tab = validity_table(mats, pt, data)
    assert list(tab.columns) == [
        "construct_1", "construct_2", "correlation", "correlation_hdi_low",
        "correlation_hdi_high", "htmt", "htmt_hdi_low", "htmt_hdi_high", "htmt_classical",
        "p_htmt", "p_fornell_larcker",
    ]
    assert [tuple(p) for p in tab[["construct_1", "construct_2"]].values] == [
        ("visual", "textual"), ("visual", "speed"), ("textual", "speed")
    ]
    h = htmt(mats, pt).sel(construct="visual", construct_col="speed")
    row = tab.iloc[1]
    assert row["htmt"] == pytest.approx(float(h.mean()))
    assert row["p_htmt"] == pytest.approx(float((h < 0.85).mean()))
    assert row["htmt_classical"] == pytest.approx(htmt(data, pt).loc["visual", "speed"])
    fl = fornell_larcker(mats, pt)["holds"].sel(construct="visual", construct_col="speed")
    assert row["p_fornell_larcker"] == pytest.approx(float(fl.mean()))
    assert tab.attrs["kind"] == "validity"


def test_second_order_validity_skips_nested_pairs():
    pt = second_order_pt()
    mats = matrices_from_parameters(pt)
    tab = validity_table(mats, pt)
    pairs = {frozenset(p) for p in tab[["construct_1", "construct_2"]].values}
    assert frozenset({"F", "a"}) not in pairs
    assert frozenset({"F", "G"}) in pairs and frozenset({"a", "b"}) in pairs
    # F vs G: latent correlation of the two constructs
    r = 0.3 / np.sqrt(0.6 * 1.0)
    fg = tab[tab["construct_1"].eq("F") & tab["construct_2"].eq("G")].iloc[0]
    assert fg["correlation"] == pytest.approx(r)
    h = htmt(mats, pt)
    assert np.isnan(h.sel(construct="F", construct_col="b")).all()
