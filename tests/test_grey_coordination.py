"""Capacity coupling–coordination (standard, Wang 2021, Fan 2024) and level bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_rent import grey


def test_worked_example_two_systems() -> None:
    # U = (0.2, 0.4), equal weights a = b = 0.5.
    std = grey.coupling_coordination([0.2, 0.4])
    # C = 2√(0.2·0.4)/(0.2 + 0.4) = 2√0.08/0.6;  T = 0.3;  D = √(C·T)
    assert std["C"] == pytest.approx(2 * np.sqrt(0.08) / 0.6)
    assert std["C"] == pytest.approx(0.942809, abs=1e-6)
    assert std["T"] == pytest.approx(0.3)
    assert std["D"] == pytest.approx(np.sqrt(2 * np.sqrt(0.08) / 0.6 * 0.3))
    # Wang et al. (2021): C = √[(1 − |U2 − U1|) · min/max] = √(0.8 · 0.5) = √0.4
    wang = grey.coupling_coordination([0.2, 0.4], method="wang")
    assert wang["C"] == pytest.approx(np.sqrt(0.4))
    assert round(wang["C"], 3) == 0.632
    # Fan et al. (2024), two systems: C = 1 − |U1 − U2| = 0.8
    fan = grey.coupling_coordination([0.2, 0.4], method="fan")
    assert fan["C"] == pytest.approx(0.8, abs=1e-12)
    # Weights a = 0.7, b = 0.3: T = 0.7·0.2 + 0.3·0.4 = 0.26
    tw = grey.coupling_coordination([0.2, 0.4], weights=[0.7, 0.3])
    assert tw["T"] == pytest.approx(0.26)


@pytest.mark.parametrize("method", ["standard", "wang", "fan"])
def test_equal_indices_give_full_coupling(method: str) -> None:
    for u in (0.01, 0.2, 1 / 3, 0.5, 0.77, 1.0):
        out = grey.coupling_coordination(np.array([[u, u]]), method=method)
        assert out["C"].item() == 1.0  # exactly
        assert out["T"].item() == pytest.approx(u)
        assert out["D"].item() == pytest.approx(np.sqrt(u))


@pytest.mark.parametrize("method", ["standard", "wang", "fan"])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_coupling_never_exceeds_one(method: str, n: int) -> None:
    rng = np.random.default_rng(n)
    U = rng.uniform(size=(5000, n))
    U[:100] = rng.uniform(size=(100, 1))  # equal indices, the edge case
    C = grey.coupling_coordination(U, method=method)["C"].to_numpy()
    assert np.all(C <= 1.0) and np.all(C >= 0.0)


def test_standard_form_is_the_normalised_one_and_the_error_is_not() -> None:
    rng = np.random.default_rng(1)
    U = rng.uniform(0.05, 1.0, size=(2000, 3))
    C = grey.coupling_coordination(U)["C"].to_numpy()
    n = 3
    # The correct normalisation, written two ways: n·(∏U)^{1/n}/ΣU and {∏U/[(ΣU)/n]^n}^{1/n}.
    c1 = n * U.prod(axis=1) ** (1 / n) / U.sum(axis=1)
    c2 = (U.prod(axis=1) / (U.sum(axis=1) / n) ** n) ** (1 / n)
    np.testing.assert_allclose(C, c1, rtol=1e-12)
    np.testing.assert_allclose(c1, c2, rtol=1e-12)  # algebraically the same, both ≤ 1
    assert c2.max() <= 1.0 + 1e-12
    # The erroneous three-system formula 3·{U1U2U3/[(U1+U2)(U1+U3)(U2+U3)]}^{1/3} exceeds 1
    # (1.5 at equal U) and is not what coupling_coordination computes.
    pair = (U[:, 0] + U[:, 1]) * (U[:, 0] + U[:, 2]) * (U[:, 1] + U[:, 2])
    wrong = 3 * (U.prod(axis=1) / pair) ** (1 / 3)
    assert wrong.max() > 1.0
    assert 3 * (0.4**3 / (0.8**3)) ** (1 / 3) == pytest.approx(1.5)
    assert not np.allclose(C, wrong)
    # Dropping the coefficient instead never reaches 1 (at most 1/2).
    assert (wrong / 3).max() <= 0.5 + 1e-12


def test_wang_and_fan_general_n_by_hand() -> None:
    U = np.array([0.2, 0.4, 0.8])
    # Wang: pairwise |diff| sum = 0.2 + 0.6 + 0.4 = 1.2 over Σ_{s=1}^{2} s = 3 -> 1 − 0.4 = 0.6;
    # ∏ U/max = 0.25·0.5·1 = 0.125, to the 1/(n − 1) = 1/2 -> √0.125; C = √(0.6·√0.125)
    wang = grey.coupling_coordination(U, method="wang")["C"]
    assert wang == pytest.approx(np.sqrt(0.6 * np.sqrt(0.125)))
    # Fan: 1 − 2·√[(n ΣU² − (ΣU)²)/n²] = 1 − 2·√[(3·0.84 − 1.96)/9]
    fan = grey.coupling_coordination(U, method="fan")["C"]
    assert fan == pytest.approx(1 - 2 * np.sqrt((3 * 0.84 - 1.4**2) / 9))


def test_output_kinds() -> None:
    df = pd.DataFrame({"NC": [0.2, 0.5], "AC": [0.4, 0.5]}, index=["f1", "f2"])
    out = grey.coupling_coordination(df, weights={"NC": 0.6, "AC": 0.4})
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["C", "T", "D"]
    assert list(out.index) == ["f1", "f2"]
    assert out.loc["f1", "T"] == pytest.approx(0.6 * 0.2 + 0.4 * 0.4)
    U = xr.DataArray(np.random.default_rng(0).uniform(size=(2, 3, 4, 2)),
                     dims=("chain", "draw", "firm", "system"), coords={"system": ["NC", "AC"]})
    ds = grey.coupling_coordination(U, method="wang")
    assert isinstance(ds, xr.Dataset)
    assert ds["D"].dims == ("chain", "draw", "firm")
    one = grey.coupling_coordination(U.values[1, 2], method="wang")
    np.testing.assert_array_equal(ds["C"].values[1, 2], one["C"].to_numpy())


def test_bad_indices() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        grey.coupling_coordination([0.2, 1.4])
    with pytest.raises(ValueError, match="two systems"):
        grey.coupling_coordination([[0.2], [0.3]])
    with pytest.raises(ValueError, match="method"):
        grey.coupling_coordination([0.2, 0.4], method="liu")
    assert np.isnan(grey.coupling_coordination([0.0, 0.0])["C"])


def test_subsystem_index_weights() -> None:
    X = pd.DataFrame({"a": [0.0, 0.5, 1.0], "b": [1.0, 0.5, 0.0]})
    np.testing.assert_allclose(grey.subsystem_index(X), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(grey.subsystem_index(X, [3, 1]), [0.25, 0.5, 0.75])
    ahp = grey.ahp_weights([[1, 3], [1 / 3, 1]], ["a", "b"])
    np.testing.assert_allclose(grey.subsystem_index(X, ahp), [0.25, 0.5, 0.75])
    per_draw = xr.DataArray([[0.75, 0.25], [0.25, 0.75]], dims=("draw", "indicator"))
    Xd = xr.DataArray(np.stack([X.to_numpy()] * 2), dims=("draw", "firm", "indicator"))
    u = grey.subsystem_index(Xd, per_draw)
    assert u.dims == ("draw", "firm")
    np.testing.assert_allclose(u, [[0.25, 0.5, 0.75], [0.75, 0.5, 0.25]])


def test_relative_development() -> None:
    U = pd.DataFrame({"NC": [0.3, 0.5, 0.6, 0.42], "AC": [0.6, 0.5, 0.4, 0.5]})
    out = grey.relative_development(U)
    np.testing.assert_allclose(out["ratio"], [0.5, 1.0, 1.5, 0.84])
    assert out["status"].tolist() == ["NC lags", "synchronous", "AC lags", "synchronous"]


def test_built_in_bands() -> None:
    assert grey.COUPLING_BANDS.names == ["low-level coupling", "antagonism", "running-in",
                                         "high-level coupling"]
    np.testing.assert_allclose(grey.COUPLING_BANDS.uppers, [0.3, 0.5, 0.8, 1.0])
    assert len(grey.COORDINATION_BANDS.bands) == 10
    np.testing.assert_allclose(grey.COORDINATION_BANDS.uppers, np.arange(1, 11) / 10)
    assert grey.COORDINATION_BANDS.names_zh[0] == "极度失调"
    assert grey.COORDINATION_BANDS.names_zh[-1] == "优质协调"
    assert grey.COORDINATION_BANDS.names[8] == "good coordination"
    # Intervals are (lower, upper]: 0.3 is still low-level coupling, 0.3 + ε antagonism.
    assert grey.classify([0.0, 0.3, 0.30001, 0.8, 1.0], grey.COUPLING_BANDS) == [
        "low-level coupling", "low-level coupling", "antagonism", "running-in",
        "high-level coupling"]
    assert grey.classify(0.85, grey.COORDINATION_BANDS, lang="zh") == "良好协调"
    assert grey.classify(1.2, grey.COORDINATION_BANDS) is None


def test_user_bands() -> None:
    bands = grey.make_bands([(0.5, "weak", "弱"), (1.0, "strong", "强")])
    assert grey.classify([0.2, 0.7], bands) == ["weak", "strong"]
    assert grey.classify([0.2, 0.7], {0.6: "low", 1.0: "high"}) == ["low", "high"]
    s = grey.classify(pd.Series([0.2, 0.7]), bands)
    assert isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered
    with pytest.raises(ValueError, match="increase"):
        grey.make_bands([(0.5, "a"), (0.4, "b")])


def test_level_probabilities_and_exceedance() -> None:
    d = xr.DataArray(np.array([[0.75, 0.85, 0.95, 0.81], [0.55, 0.85, 0.92, 0.88]]),
                     dims=("chain", "draw"))
    p = grey.level_probabilities(d, grey.COORDINATION_BANDS)
    assert p.sum().item() == pytest.approx(1.0)
    assert p.sel(level="good coordination").item() == pytest.approx(4 / 8)
    assert p.sel(level="quality coordination").item() == pytest.approx(2 / 8)
    assert grey.prob_at_least(d, grey.COORDINATION_BANDS, "good coordination").item() == 0.75
    assert grey.prob_at_least(d, grey.COORDINATION_BANDS, "良好协调").item() == 0.75
