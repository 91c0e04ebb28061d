"""Standardized solution and R², checked against lavaan's published values and closed forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import POLITICAL_DEMOCRACY  # noqa: E402

from bayes_rent.results.standardized import (
    labelled_moments,
    matrices_from_parameters,
    parameter_values,
    phantom_map,
    r2,
    standardized_draws,
    standardized_summary,
    std_all,
    std_lv,
)

DATA = Path(__file__).parent / "data"

PD_SYNTAX = POLITICAL_DEMOCRACY
HS_SYNTAX = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"


def lavaan_table(name: str) -> pd.DataFrame:
    est = pd.read_csv(DATA / name)
    pt = est[["lhs", "op", "rhs", "est", "std.all"]].rename(columns={"std.all": "std_all"})
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["label"] = ""
    return pt


def pt_frame(rows: list[tuple], labels: dict[int, str] | None = None) -> pd.DataFrame:
    pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est"])
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["label"] = [(labels or {}).get(i, "") for i in range(len(pt))]
    return pt


def jittered_draws(pt: pd.DataFrame, chains: int = 2, draws: int = 4, seed: int = 0):
    """Fake posterior draws around the table's estimates (variances kept positive)."""
    rng = np.random.default_rng(seed)
    base = pt["est"].to_numpy(dtype=float)
    noise = rng.normal(scale=0.1, size=(chains, draws, len(base)))
    vals = base * np.exp(noise)  # multiplicative keeps fixed zeros at zero, signs as they are
    return xr.DataArray(
        vals,
        dims=("chain", "draw", "par"),
        coords={"chain": np.arange(chains), "draw": np.arange(draws), "par": pt["id"].values},
    )


@pytest.mark.parametrize(
    "name", ["PoliticalDemocracy_sem_estimates.csv", "HS_cfa_estimates.csv"]
)
def test_std_all_reproduces_lavaan(name):
    pt = lavaan_table(name)
    mats = matrices_from_parameters(pt)
    got = std_all(mats, pt).values.ravel()
    np.testing.assert_allclose(got, pt["std_all"].to_numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("syntax", "name"),
    [(PD_SYNTAX, "PoliticalDemocracy_sem_estimates.csv"), (HS_SYNTAX, "HS_cfa_estimates.csv")],
)
def test_std_all_on_backend_matrices_reproduces_lavaan(syntax, name):
    """The same check on matrices laid out by the backend, from the package's own partable."""
    from bayes_rent.spec import layout as layout_mod
    from bayes_rent.spec import partable as partable_mod

    lav = lavaan_table(name)
    pt = partable_mod.build_partable(syntax)
    key = {(r.lhs, r.op, r.rhs): r for r in lav.itertuples()}
    values = np.zeros(len(pt))
    for k, (lhs, op, rhs) in enumerate(pt[["lhs", "op", "rhs"]].itertuples(index=False)):
        if (lhs, op, rhs) in key:
            values[k] = key[(lhs, op, rhs)].est
        elif op == "~~" and (rhs, op, lhs) in key:
            values[k] = key[(rhs, op, lhs)].est
        else:
            assert op == "~1", f"row {lhs} {op} {rhs} missing from lavaan's table"
    lay = layout_mod.build_layout(pt)
    arrays = lay.matrices(values[None, None, :])
    dims = {
        "Lambda": ("observed", "latent"), "B": ("latent", "latent_col"),
        "Psi": ("latent", "latent_col"), "Theta": ("observed", "observed_col"),
        "nu": ("observed",), "alpha": ("latent",),
    }
    mats = xr.Dataset(
        {k: (("chain", "draw") + d, arrays[k]) for k, d in dims.items()},
        coords={
            "observed": lay.observed, "observed_col": lay.observed,
            "latent": lay.latent, "latent_col": lay.latent,
        },
    ).assign_coords(phantom=("latent", lay.phantom))
    draws = xr.DataArray(values[None, None, :], dims=("chain", "draw", "par"),
                         coords={"par": pt["id"].values})
    got = std_all(mats, pt, draws).values[0, 0]
    for k, (lhs, op, rhs) in enumerate(pt[["lhs", "op", "rhs"]].itertuples(index=False)):
        row = key.get((lhs, op, rhs)) or key.get((rhs, op, lhs))
        if row is not None:
            assert got[k] == pytest.approx(row.std_all, abs=1e-6), (lhs, op, rhs)


def test_parameter_draws_and_matrices_agree():
    pt = lavaan_table("PoliticalDemocracy_sem_estimates.csv")
    draws = jittered_draws(pt)
    mats = matrices_from_parameters(pt, draws)
    back = parameter_values(mats, pt)
    np.testing.assert_allclose(back.values, draws.values, rtol=1e-12)
    np.testing.assert_allclose(
        std_all(mats, pt, draws).values, std_all(mats, pt).values, rtol=1e-12
    )


def test_vectorized_equals_per_draw_loop():
    pt = lavaan_table("PoliticalDemocracy_sem_estimates.csv")
    draws = jittered_draws(pt, chains=2, draws=3)
    mats = matrices_from_parameters(pt, draws)
    for kind in ("std_all", "std_lv"):
        batch = standardized_draws(mats, pt, draws, kind=kind).values
        rr = r2(mats).values
        for c in range(2):
            for d in range(3):
                one = mats.isel(chain=[c], draw=[d])
                single = standardized_draws(one, pt, draws.isel(chain=[c], draw=[d]), kind=kind)
                np.testing.assert_allclose(batch[c, d], single.values[0, 0], rtol=1e-12)
                np.testing.assert_allclose(rr[c, d], r2(one).values[0, 0], rtol=1e-12)


def test_std_lv_closed_form():
    # f =~ 1*y1 + 2*y2, var(f) = 4, var(g) = 9, cov(f, g) = 3, g =~ 1*y3 + 0.5*y4
    pt = pt_frame([
        ("f", "=~", "y1", 1.0), ("f", "=~", "y2", 2.0),
        ("g", "=~", "y3", 1.0), ("g", "=~", "y4", 0.5),
        ("f", "~~", "f", 4.0), ("g", "~~", "g", 9.0), ("f", "~~", "g", 3.0),
        ("y1", "~~", "y1", 1.0), ("y2", "~~", "y2", 2.0), ("y3", "~~", "y3", 1.0),
        ("y4", "~~", "y4", 1.0), ("y1", "~~", "y3", 0.5), ("f", "~1", "", 2.0),
        ("y1", "~1", "", 3.0),
    ])
    mats = matrices_from_parameters(pt)
    lv = std_lv(mats, pt).values.ravel()
    expected = [2.0, 4.0, 3.0, 1.5, 1.0, 1.0, 0.5, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 3.0]
    np.testing.assert_allclose(lv, expected)
    sa = std_all(mats, pt).values.ravel()
    var = {"y1": 5.0, "y2": 18.0, "y3": 10.0, "y4": 3.25}
    np.testing.assert_allclose(sa[0], 2.0 / np.sqrt(var["y1"]))
    np.testing.assert_allclose(sa[3], 1.5 / np.sqrt(var["y4"]))
    np.testing.assert_allclose(sa[8], 2.0 / var["y2"])
    # residual covariance over residual SDs (cov.std = TRUE): 0.5 / sqrt(1 * 1)
    np.testing.assert_allclose(sa[11], 0.5)
    np.testing.assert_allclose(sa[13], 3.0 / np.sqrt(var["y1"]))


def test_phantom_regression_and_defined_rows():
    # observed mediation X -> M -> Y with direct path; all three are phantoms
    pt = pt_frame(
        [
            ("M", "~", "X", 0.5), ("Y", "~", "M", 0.4), ("Y", "~", "X", 0.2),
            ("X", "~~", "X", 4.0), ("M", "~~", "M", 1.0), ("Y", "~~", "Y", 1.0),
            ("ab", ":=", "a*b", np.nan),
        ],
        labels={0: "a", 1: "b"},
    )
    mats = matrices_from_parameters(pt)
    assert phantom_map(mats) == {"M": "M", "Y": "Y", "X": "X"}
    var_x, var_m = 4.0, 0.25 * 4 + 1
    var_y = 0.4**2 * var_m + 0.2**2 * var_x + 2 * 0.4 * 0.2 * 0.5 * var_x + 1
    sa = std_all(mats, pt).values.ravel()
    np.testing.assert_allclose(sa[0], 0.5 * np.sqrt(var_x / var_m))
    np.testing.assert_allclose(sa[1], 0.4 * np.sqrt(var_m / var_y))
    np.testing.assert_allclose(sa[4], 1.0 / var_m)
    # lavaan re-evaluates := at the standardized values of the labels
    np.testing.assert_allclose(sa[6], sa[0] * sa[1])
    # std.lv leaves observed (phantom) variables alone
    np.testing.assert_allclose(std_lv(mats, pt).values.ravel()[:6], pt["est"].to_numpy()[:6])
    rr = r2(mats).squeeze()
    assert list(rr["variable"].values) == ["M", "Y"]
    np.testing.assert_allclose(rr.sel(variable="Y"), 1 - 1 / var_y)


def test_second_order_standardization():
    pt = pt_frame([
        ("a", "=~", "y1", 1.0), ("a", "=~", "y2", 1.0),
        ("b", "=~", "y3", 1.0), ("b", "=~", "y4", 1.0),
        ("F", "=~", "a", 1.0), ("F", "=~", "b", 0.8),
        ("F", "~~", "F", 2.0), ("a", "~~", "a", 0.5), ("b", "~~", "b", 0.72),
        ("y1", "~~", "y1", 1.0), ("y2", "~~", "y2", 1.0),
        ("y3", "~~", "y3", 1.0), ("y4", "~~", "y4", 1.0),
    ])
    mats = matrices_from_parameters(pt)
    assert float(mats["B"].sel(latent="b", latent_col="F").squeeze()) == 0.8
    var_a, var_b = 2.0 + 0.5, 0.64 * 2.0 + 0.72
    sa = std_all(mats, pt).values.ravel()
    np.testing.assert_allclose(sa[4], np.sqrt(2.0 / var_a))
    np.testing.assert_allclose(sa[5], 0.8 * np.sqrt(2.0 / var_b))
    np.testing.assert_allclose(sa[7], 0.5 / var_a)  # disturbance share of the dimension
    np.testing.assert_allclose(sa[0], np.sqrt(var_a / (var_a + 1.0)))
    rr = r2(mats).squeeze()
    assert set(rr["variable"].values) == {"y1", "y2", "y3", "y4", "a", "b"}
    np.testing.assert_allclose(rr.sel(variable="a"), 1 - 0.5 / var_a)


def test_r2_matches_lavaan_residual_shares():
    pt = lavaan_table("PoliticalDemocracy_sem_estimates.csv")
    rr = r2(matrices_from_parameters(pt)).squeeze()
    expected = ["x1", "x2", "x3"] + [f"y{i}" for i in range(1, 9)] + ["dem60", "dem65"]
    assert sorted(rr["variable"].values) == sorted(expected)
    variances = pt[(pt["op"] == "~~") & (pt["lhs"] == pt["rhs"])].set_index("lhs")["std_all"]
    for v in expected:
        assert float(rr.sel(variable=v)) == pytest.approx(1 - variances[v], abs=1e-6)


def test_implied_moments_match_sigma_formula():
    pt = lavaan_table("HS_cfa_estimates.csv")
    mats = matrices_from_parameters(pt)
    mom = labelled_moments(mats)
    lam = mats["Lambda"].values[0, 0]
    psi = mats["Psi"].values[0, 0]
    theta = mats["Theta"].values[0, 0]
    np.testing.assert_allclose(mom["observed_cov"].values[0, 0], lam @ psi @ lam.T + theta)


def test_standardized_summary_shape():
    pt = lavaan_table("HS_cfa_estimates.csv")
    draws = jittered_draws(pt, chains=2, draws=50)
    summ = standardized_summary(matrices_from_parameters(pt, draws), pt, draws)
    assert list(summ.columns[:4]) == ["lhs", "op", "rhs", "label"]
    assert {"mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"} <= set(summ.columns)
    assert summ.attrs["kind"] == "standardized"
    assert len(summ) == len(pt)
    # latent variances are 1 in every draw: no interval, no R-hat
    assert summ.loc[summ["lhs"].eq("visual") & summ["rhs"].eq("visual"), "sd"].iloc[0] < 1e-12


def test_missing_defined_rows_in_fit_draws_are_evaluated():
    """The fit's draws carry no ':=' rows; they are computed from the labels."""
    pt = pt_frame(
        [("M", "~", "X", 0.5), ("Y", "~", "M", 0.4), ("X", "~~", "X", 1.0),
         ("M", "~~", "M", 1.0), ("Y", "~~", "Y", 1.0), ("ab", ":=", "a*b", np.nan)],
        labels={0: "a", 1: "b"},
    )
    draws = xr.DataArray(pt["est"].to_numpy()[None, None, :5], dims=("chain", "draw", "par"),
                         coords={"par": pt["id"].values[:5]})
    mats = matrices_from_parameters(pt.iloc[:5], draws)
    lv = std_lv(mats, pt, draws).values.ravel()
    np.testing.assert_allclose(lv[5], 0.2)


def test_bad_kind():
    pt = lavaan_table("HS_cfa_estimates.csv")
    with pytest.raises(ValueError, match="kind"):
        standardized_draws(matrices_from_parameters(pt), pt, kind="std_nox")
