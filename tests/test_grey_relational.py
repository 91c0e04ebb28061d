"""Deng's grey relational analysis: properties and a worked example computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_rent import grey


def test_worked_example_by_hand() -> None:
    # Reference x0 and two comparison sequences over four points k = 1..4.
    x0 = pd.Series([2.0, 4.0, 6.0, 8.0])
    X = pd.DataFrame({"x1": [2.0, 3.0, 6.0, 10.0], "x2": [4.0, 4.0, 3.0, 8.0]})
    # Step 1, differences:  Δ1 = |x0 − x1| = (0, 1, 0, 2),  Δ2 = |x0 − x2| = (2, 0, 3, 0).
    # Step 2, two-level extremes over all sequences: Δmin = 0, Δmax = 3; ρΔmax = 1.5.
    # Step 3, ξ = (0 + 1.5) / (Δ + 1.5):
    xi1 = [1.5 / 1.5, 1.5 / 2.5, 1.5 / 1.5, 1.5 / 3.5]  # 1, 0.6, 1, 3/7
    xi2 = [1.5 / 3.5, 1.5 / 1.5, 1.5 / 4.5, 1.5 / 1.5]  # 3/7, 1, 1/3, 1
    xi = grey.relational_coefficients(x0, X)
    np.testing.assert_allclose(xi["x1"], xi1)
    np.testing.assert_allclose(xi["x2"], xi2)
    # Step 4, grades = means: r1 = (1 + 0.6 + 1 + 3/7)/4, r2 = (3/7 + 1 + 1/3 + 1)/4.
    r = grey.relational_grade(xi)
    assert r["x1"] == pytest.approx((2.6 + 3 / 7) / 4)  # 0.757143
    assert r["x2"] == pytest.approx((3 / 7 + 7 / 3) / 4)  # 0.690476
    assert r["x1"] == pytest.approx(0.757143, abs=1e-6)
    # Weighted grade with point weights (0.4, 0.3, 0.2, 0.1): r1 = 0.4 + 0.18 + 0.2 + 0.3/7.
    rw = grey.relational_grade(xi, [0.4, 0.3, 0.2, 0.1])
    assert rw["x1"] == pytest.approx(0.4 + 0.18 + 0.2 + 0.3 / 7)  # 0.822857
    # Per-pair extremes: x1 alone has Δmax = 2, so ξ1 = 1/(Δ1 + 1) = (1, 1/2, 1, 1/3);
    # x2 alone has Δmax = 3, unchanged.
    xp = grey.relational_coefficients(x0, X, extremes="pair")
    np.testing.assert_allclose(xp["x1"], [1.0, 0.5, 1.0, 1 / 3])
    np.testing.assert_allclose(xp["x2"], xi2)


def test_reference_given_as_column_label() -> None:
    df = pd.DataFrame({"ref": [2.0, 4.0, 6.0, 8.0], "x1": [2.0, 3.0, 6.0, 10.0]})
    xi = grey.relational_coefficients("ref", df)
    assert list(xi.columns) == ["x1"]
    np.testing.assert_allclose(xi["x1"], [1.0, 0.5, 1.0, 1 / 3])


@pytest.mark.parametrize("extremes", ["all", "pair"])
def test_properties_on_random_sequences(extremes: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        x0 = rng.uniform(size=15)
        X = rng.uniform(size=(15, 6))
        X[:, 0] = x0  # one identical sequence, so Δmin = 0 under "all"
        xi = grey.relational_coefficients(x0, X, extremes=extremes)
        assert np.all(xi > 0) and np.all(xi <= 1)
        # Identical sequences give ξ = 1.
        np.testing.assert_array_equal(xi[:, 0], 1.0)
        if extremes == "all":
            # With Δmin = 0 and ρ = 0.5 every ξ ≥ ρ/(1 + ρ) = 1/3.
            assert np.all(xi >= 1 / 3 - 1e-15)


@pytest.mark.parametrize("rho", [0.1, 0.5, 1.0])
def test_lower_bound_for_any_rho(rho: float) -> None:
    rng = np.random.default_rng(2)
    x0 = rng.normal(size=30)
    X = rng.normal(size=(30, 4))
    X[3, 1] = x0[3]  # forces Δmin = 0
    xi = grey.relational_coefficients(x0, X, rho)
    assert xi.min() >= rho / (1 + rho) - 1e-15
    assert xi.min() == pytest.approx(rho / (1 + rho))  # attained where Δ = Δmax


def test_all_identical_sequences_give_one() -> None:
    x0 = np.array([0.2, 0.4, 0.6])
    xi = grey.relational_coefficients(x0, np.column_stack([x0, x0]))
    np.testing.assert_array_equal(xi, 1.0)


def test_rho_validation() -> None:
    with pytest.raises(ValueError, match="rho"):
        grey.relational_coefficients([1.0, 2.0], [[1.0], [2.0]], rho=0.0)
    with pytest.raises(ValueError, match="extremes"):
        grey.relational_coefficients([1.0, 2.0], [[1.0], [2.0]], extremes="sample")


def test_missing_values_are_refused() -> None:
    with pytest.raises(ValueError, match="missing"):
        grey.relational_coefficients([1.0, np.nan], [[1.0], [2.0]])


def test_batched_reference_and_comparison_equal_loop() -> None:
    rng = np.random.default_rng(4)
    ref = xr.DataArray(rng.uniform(size=(2, 3, 8)), dims=("chain", "draw", "firm"))
    comp = xr.DataArray(rng.uniform(size=(2, 3, 8, 5)), dims=("chain", "draw", "firm", "seq"))
    xi = grey.relational_coefficients(ref, comp)
    g = grey.relational_grade(xi)
    assert xi.dims == ("chain", "draw", "firm", "seq") and g.dims == ("chain", "draw", "seq")
    for c in range(2):
        for d in range(3):
            one = grey.relational_coefficients(ref.values[c, d], comp.values[c, d])
            np.testing.assert_array_equal(xi.values[c, d], one)
            np.testing.assert_array_equal(g.values[c, d], grey.relational_grade(one))
