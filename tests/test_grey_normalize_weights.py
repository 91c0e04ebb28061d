"""Normalisation and weighting methods of bayes_rent.grey, checked against hand calculations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_rent import grey


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"sales": [2.0, 4.0, 10.0], "cost": [5.0, 3.0, 1.0]},
                        index=pd.Index(["f1", "f2", "f3"], name="firm"))


def test_minmax_positive_and_negative(table: pd.DataFrame) -> None:
    out = grey.normalize(table, direction={"cost": "negative"})
    # sales: (x − 2)/8; cost (negative): (5 − x)/4
    np.testing.assert_allclose(out["sales"], [0.0, 0.25, 1.0])
    np.testing.assert_allclose(out["cost"], [0.0, 0.5, 1.0])
    assert list(out.index) == ["f1", "f2", "f3"] and out.index.name == "firm"


def test_minmax_feature_range(table: pd.DataFrame) -> None:
    out = grey.normalize(table, feature_range=(0.01, 0.99))
    np.testing.assert_allclose(out["sales"], [0.01, 0.01 + 0.98 * 0.25, 0.99])


def test_initial_mean_zscore(table: pd.DataFrame) -> None:
    np.testing.assert_allclose(grey.normalize(table, "initial")["sales"], [1.0, 2.0, 5.0])
    np.testing.assert_allclose(grey.normalize(table, "mean")["sales"],
                               [2 / 16 * 3, 4 / 16 * 3, 10 / 16 * 3])
    z = grey.normalize(table, "zscore")
    # sales mean 16/3, sd (ddof 1) = sqrt(((2−16/3)² + (4−16/3)² + (10−16/3)²)/2)
    sd = np.sqrt(((2 - 16 / 3) ** 2 + (4 - 16 / 3) ** 2 + (10 - 16 / 3) ** 2) / 2)
    np.testing.assert_allclose(z["sales"], (np.array([2, 4, 10]) - 16 / 3) / sd)
    zn = grey.normalize(table, "zscore", direction="negative")
    np.testing.assert_allclose(zn["sales"], -z["sales"])


def test_normalize_errors(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="indicator"):
        grey.normalize(table.assign(flat=1.0))
    with pytest.raises(ValueError, match="'minmax' and 'zscore'"):
        grey.normalize(table, "mean", direction="negative")
    with pytest.raises(ValueError, match="unknown indicator"):
        grey.normalize(table, direction={"profit": "negative"})
    with pytest.raises(ValueError, match="unknown normalisation"):
        grey.normalize(table, "log")


def test_normalize_numpy_and_xarray_batch() -> None:
    rng = np.random.default_rng(3)
    arr = rng.normal(size=(2, 3, 6, 4))
    da = xr.DataArray(arr, dims=("chain", "draw", "firm", "indicator"))
    out = grey.normalize(da, "zscore")
    assert out.dims == da.dims
    for c in range(2):
        for d in range(3):
            np.testing.assert_array_equal(out.values[c, d], grey.normalize(arr[c, d], "zscore"))
    # A DataArray in another dimension order keeps its order.
    swapped = da.transpose("firm", "chain", "draw", "indicator")
    out2 = grey.normalize(swapped, sample_dim="firm", indicator_dim="indicator")
    assert out2.dims == swapped.dims


def test_entropy_weights_by_hand() -> None:
    X = pd.DataFrame({"a": [0.0, 0.5, 1.0], "b": [0.4, 0.5, 0.6]})
    # a: p = (0, 1/3, 2/3); e = −(1/ln 3)(⅓ ln ⅓ + ⅔ ln ⅔)
    e_a = -(1 / 3 * np.log(1 / 3) + 2 / 3 * np.log(2 / 3)) / np.log(3)
    p_b = np.array([0.4, 0.5, 0.6]) / 1.5
    e_b = -(p_b * np.log(p_b)).sum() / np.log(3)
    d = np.array([1 - e_a, 1 - e_b])
    w = grey.entropy_weights(X)
    np.testing.assert_allclose(w.to_numpy(), d / d.sum())
    assert list(w.index) == ["a", "b"]
    assert w.sum() == pytest.approx(1.0)


def test_entropy_weights_batched_equal_loop() -> None:
    rng = np.random.default_rng(5)
    da = xr.DataArray(rng.uniform(size=(2, 4, 10, 3)), dims=("chain", "draw", "firm", "ind"),
                      coords={"ind": ["p", "q", "r"]})
    w = grey.entropy_weights(da)
    assert w.dims == ("chain", "draw", "ind")
    for c in range(2):
        for d in range(4):
            np.testing.assert_array_equal(w.values[c, d],
                                          grey.entropy_weights(da.values[c, d]))


def test_entropy_weights_errors_and_uniform() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        grey.entropy_weights(pd.DataFrame({"a": [-1.0, 1.0]}))
    w = grey.entropy_weights(pd.DataFrame({"a": [1.0, 1.0], "b": [2.0, 2.0]}))
    np.testing.assert_allclose(w, [0.5, 0.5])


def test_equal_and_user_weights() -> None:
    assert grey.equal_weights(4).tolist() == [0.25] * 4
    assert grey.user_weights([1, 1, 2], ["a", "b", "c"]).tolist() == [0.25, 0.25, 0.5]
    s = grey.user_weights({"b": 1.0, "a": 3.0}, ["a", "b"])
    assert s.index.tolist() == ["a", "b"] and s.tolist() == [0.75, 0.25]
    with pytest.raises(ValueError, match="non-negative"):
        grey.user_weights([1, -1])
    with pytest.raises(ValueError, match="missing"):
        grey.user_weights({"a": 1.0}, ["a", "b"])


def test_ahp_consistent_matrix() -> None:
    A = pd.DataFrame([[1, 2, 4], [1 / 2, 1, 2], [1 / 4, 1 / 2, 1]],
                     index=["vision", "construction", "portfolio"])
    res = grey.ahp_weights(A)
    np.testing.assert_allclose(res.weights, [4 / 7, 2 / 7, 1 / 7])
    assert res.lambda_max == pytest.approx(3.0)
    assert res.cr == pytest.approx(0.0, abs=1e-12)
    assert res.weights.index.tolist() == ["vision", "construction", "portfolio"]
    geo = grey.ahp_weights(A, method="geometric")
    np.testing.assert_allclose(geo.weights, [4 / 7, 2 / 7, 1 / 7])


def test_ahp_consistency_ratio_by_definition() -> None:
    A = np.array([[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 1 / 2, 1]])
    res = grey.ahp_weights(A)
    w = res.weights.to_numpy()
    # Principal eigenpair: A w = λ w; CI = (λ − n)/(n − 1); CR = CI / 0.58.
    np.testing.assert_allclose(A @ w, res.lambda_max * w, rtol=1e-10)
    assert res.ci == pytest.approx((res.lambda_max - 3) / 2)
    assert res.cr == pytest.approx(res.ci / 0.58)
    assert 0 < res.cr < 0.1 and res.consistent


def test_ahp_inconsistent_matrix_raises_clearly() -> None:
    # a > b, b > c but c > a: circular judgements.
    A = [[1, 5, 1 / 5], [1 / 5, 1, 5], [5, 1 / 5, 1]]
    with pytest.raises(grey.AHPConsistencyError, match=r"CR = \d+\.\d+ ≥ 0.1"):
        grey.ahp_weights(A)
    res = grey.ahp_weights(A, check=False)
    assert res.cr >= 0.1 and not res.consistent


def test_ahp_bad_matrices() -> None:
    with pytest.raises(ValueError, match="square"):
        grey.ahp_weights([[1, 2, 3]])
    with pytest.raises(ValueError, match="reciprocal"):
        grey.ahp_weights([[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="diagonal"):
        grey.ahp_weights([[2, 2], [0.5, 1]])


def test_dirichlet_weights_mean_and_batch() -> None:
    base = pd.Series([0.5, 0.3, 0.2], index=["a", "b", "c"])
    w = grey.dirichlet_weights(base, 100.0, sizes={"chain": 2, "draw": 2000}, seed=7)
    assert w.dims == ("chain", "draw", "indicator")
    np.testing.assert_allclose(w.sum("indicator"), 1.0)
    np.testing.assert_allclose(w.mean(("chain", "draw")), base, atol=0.01)
    # Var(w_j) = w_j (1 − w_j)/(κ + 1)
    np.testing.assert_allclose(w.var(("chain", "draw")), base * (1 - base) / 101, rtol=0.1)
    # Per-draw base weights (e.g. entropy weights) are perturbed draw by draw.
    per_draw = xr.DataArray(np.tile([0.6, 0.4], (3, 1)), dims=("draw", "ind"))
    w2 = grey.dirichlet_weights(per_draw, 50.0, seed=1)
    assert w2.dims == ("draw", "ind")
