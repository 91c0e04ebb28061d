"""Grey relational coupling of two indicator systems: a hand-worked example and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_rent import grey


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    # Two samples, X with m = 2 indicators, Y with l = 2, already on a common scale.
    X = pd.DataFrame({"x1": [0.0, 2.0], "x2": [1.0, 0.0]}, index=pd.Index(["t1", "t2"]))
    Y = pd.DataFrame({"y1": [0.0, 1.0], "y2": [2.0, 3.0]}, index=pd.Index(["t1", "t2"]))
    return X, Y


def test_worked_example_all_extremes(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    X, Y = small
    res = grey.grey_coupling(X, Y, normalize=None, extremes="all")
    # Δ_ij(t) = |x_i(t) − y_j(t)|:
    #   t1: [[|0−0|, |0−2|], [|1−0|, |1−2|]] = [[0, 2], [1, 1]]
    #   t2: [[|2−1|, |2−3|], [|0−1|, |0−3|]] = [[1, 1], [1, 3]]
    # Over all pairs and samples Δmin = 0, Δmax = 3, ρΔmax = 1.5, ξ = 1.5 / (Δ + 1.5):
    xi_t1 = [[1.0, 3 / 7], [0.6, 0.6]]
    xi_t2 = [[0.6, 0.6], [0.6, 1 / 3]]
    np.testing.assert_allclose(res.coefficients.sel(sample="t1"), xi_t1)
    np.testing.assert_allclose(res.coefficients.sel(sample="t2"), xi_t2)
    # γ_ij = mean over t: [[0.8, (3/7 + 0.6)/2], [0.6, (0.6 + 1/3)/2]]
    gamma = [[0.8, (3 / 7 + 0.6) / 2], [0.6, (0.6 + 1 / 3) / 2]]
    np.testing.assert_allclose(res.degree_matrix, gamma)
    # C(t) = mean of the four ξ at t: (1 + 3/7 + 0.6 + 0.6)/4 = 0.657143; (3·0.6 + 1/3)/4 = 0.533333
    np.testing.assert_allclose(res.coupling, [(2.2 + 3 / 7) / 4, (1.8 + 1 / 3) / 4])
    assert float(res.coupling[0]) == pytest.approx(0.657143, abs=1e-6)
    # Row means (X drivers) and column means (Y drivers) of γ.
    np.testing.assert_allclose(res.x_means, [(0.8 + (3 / 7 + 0.6) / 2) / 2,
                                             (0.6 + (0.6 + 1 / 3) / 2) / 2])
    np.testing.assert_allclose(res.y_means, [0.7, ((3 / 7 + 0.6) / 2 + (0.6 + 1 / 3) / 2) / 2])
    assert float(res.overall) == pytest.approx(float(res.degree_matrix.mean()))
    assert res.coefficients.dims == ("sample", "x", "y")
    assert res.degree_matrix.dims == ("x", "y") and res.coupling.dims == ("sample",)
    assert list(res.degree_matrix["x"].values) == ["x1", "x2"]
    assert list(res.degree_matrix["y"].values) == ["y1", "y2"]
    drivers = res.drivers()
    top_x = drivers.query("system == 'x' and rank == 1")["indicator"].item()
    assert top_x == "x1"


def test_worked_example_per_sample_extremes(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    X, Y = small
    res = grey.grey_coupling(X, Y, normalize=None, extremes="sample")
    # t1: Δmin = 0, Δmax = 2, ξ = 1/(Δ + 1) = [[1, 1/3], [1/2, 1/2]] -> C = 7/12
    # t2: Δmin = 1, Δmax = 3, ξ = 2.5/(Δ + 1.5) = [[1, 1], [1, 5/9]] -> C = (3 + 5/9)/4
    np.testing.assert_allclose(res.coefficients.sel(sample="t1"), [[1, 1 / 3], [0.5, 0.5]])
    np.testing.assert_allclose(res.coefficients.sel(sample="t2"), [[1, 1], [1, 5 / 9]])
    np.testing.assert_allclose(res.coupling, [7 / 12, (3 + 5 / 9) / 4])


def test_worked_example_per_pair_extremes(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    X, Y = small
    res = grey.grey_coupling(X, Y, normalize=None, extremes="pair")
    # (x1, y1): Δ = (0, 1): min 0, max 1 -> ξ = 0.5/(Δ + 0.5) = (1, 1/3)
    # (x2, y2): Δ = (1, 3): min 1, max 3 -> ξ = 2.5/(Δ + 1.5) = (1, 5/9)
    np.testing.assert_allclose(res.coefficients.sel(x="x1", y="y1"), [1, 1 / 3])
    np.testing.assert_allclose(res.coefficients.sel(x="x2", y="y2"), [1, 5 / 9])


def test_zscore_standardisation_is_applied_first() -> None:
    rng = np.random.default_rng(8)
    X = pd.DataFrame(rng.normal(3, 2, size=(20, 3)), columns=["a", "b", "c"])
    Y = pd.DataFrame(rng.normal(-1, 5, size=(20, 2)), columns=["d", "e"])
    res = grey.grey_coupling(X, Y)
    ref = grey.grey_coupling(grey.normalize(X, "zscore"), grey.normalize(Y, "zscore"),
                             normalize=None)
    np.testing.assert_allclose(res.coefficients, ref.coefficients)
    # Scale and shift of an indicator do not matter after standardisation.
    res2 = grey.grey_coupling(X * 10 + 4, Y)
    np.testing.assert_allclose(res2.coupling, res.coupling)


@pytest.mark.parametrize("extremes", ["all", "sample", "pair"])
def test_coefficient_properties(extremes: str) -> None:
    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 4))
    Y = rng.normal(size=(40, 3))
    res = grey.grey_coupling(X, Y, extremes=extremes)
    xi = res.coefficients.values
    assert np.all(xi > 0) and np.all(xi <= 1)
    assert np.all((res.coupling > 0) & (res.coupling <= 1))
    # Identical systems: every diagonal coefficient is 1.
    same = grey.grey_coupling(X, X, extremes=extremes)
    diag = np.diagonal(same.coefficients.values, axis1=-2, axis2=-1)
    np.testing.assert_array_equal(diag, 1.0)


def test_groups_and_weights() -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(12, 2))
    Y = rng.normal(size=(12, 3))
    groups = np.array(["b", "a", "b", "a", "c", "c", "a", "b", "c", "a", "b", "c"])
    res = grey.grey_coupling(X, Y, groups=groups, group_dim="cluster")
    for g in ("a", "b", "c"):
        mask = groups == g
        np.testing.assert_allclose(res.group_coupling.sel(cluster=g),
                                   res.coupling.values[mask].mean())
        np.testing.assert_allclose(res.group_degree_matrix.sel(cluster=g),
                                   res.coefficients.values[mask].mean(axis=0))
    # Equal sample weights reproduce the plain means; general weights give weighted means.
    eq = grey.grey_coupling(X, Y, groups=groups, sample_weights=np.ones(12))
    np.testing.assert_allclose(eq.degree_matrix, res.degree_matrix)
    np.testing.assert_allclose(eq.group_coupling, res.group_coupling.values)
    w = rng.uniform(size=12)
    wt = grey.grey_coupling(X, Y, sample_weights=w)
    np.testing.assert_allclose(wt.overall, np.average(res.coupling, weights=w))
    np.testing.assert_allclose(wt.degree_matrix,
                               np.average(res.coefficients.values, axis=0, weights=w))


def test_xarray_batch_dims_kept_and_equal_loop() -> None:
    rng = np.random.default_rng(10)
    dims = ("chain", "draw", "firm", "indicator")
    X = xr.DataArray(rng.normal(size=(2, 3, 15, 4)), dims=dims,
                     coords={"indicator": ["vision", "construction", "management", "portfolio"]})
    Y = xr.DataArray(rng.normal(size=(2, 3, 15, 2)), dims=dims,
                     coords={"indicator": ["acquisition", "assimilation"]})
    res = grey.grey_coupling(X, Y)
    assert res.coefficients.dims == ("chain", "draw", "firm", "x", "y")
    assert res.degree_matrix.dims == ("chain", "draw", "x", "y")
    assert res.coupling.dims == ("chain", "draw", "firm")
    assert res.overall.dims == ("chain", "draw")
    for c in range(2):
        for d in range(3):
            one = grey.grey_coupling(X.values[c, d], Y.values[c, d])
            np.testing.assert_array_equal(res.coefficients.values[c, d], one.coefficients)
            np.testing.assert_array_equal(res.degree_matrix.values[c, d], one.degree_matrix)
            np.testing.assert_array_equal(res.coupling.values[c, d], one.coupling)


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="samples"):
        grey.grey_coupling(np.zeros((4, 2)) + np.arange(4)[:, None], np.arange(3.0)[:, None])
    with pytest.raises(ValueError, match="extremes"):
        grey.grey_coupling(np.eye(3), np.eye(3), extremes="global")
    with pytest.raises(ValueError, match="groups"):
        grey.grey_coupling(np.eye(3), np.eye(3), groups=["a", "b"])
