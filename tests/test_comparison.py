"""Model comparison: LOO prefers the model that generated the data, and compare() ranks."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from test_fit_indices import simulate_two_factor

import bayes_rent as br
from bayes_rent.results.comparison import compare
from bayes_rent.results.fit_indices import loo

# the same text as in test_fit_indices.py, so the compiled model is shared within a process
TWO_FACTOR = "f1 =~ y1 + y2 + y3\nf2 =~ y4 + y5 + y6"
WITH_CROSS = TWO_FACTOR + "\nf1 =~ y5"
RUN = dict(draws=500, tune=500, chains=2, progressbar=False)

pytestmark = [
    # short runs on purpose; the fit indices do not need R-hat ≤ 1.01
    pytest.mark.filterwarnings("ignore::bayes_rent.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:For one or more samples the posterior variance"),
]


def simulate(n: int, seed: int, cross: float) -> pd.DataFrame:
    return simulate_two_factor(n, seed, cross)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate(300, seed=7, cross=0.6)


@pytest.fixture(scope="module")
def fits(data):
    return {
        "omits cross-loading": br.sem(TWO_FACTOR, data, seed=1, **RUN),
        "true": br.sem(WITH_CROSS, data, seed=1, **RUN),
    }


def test_loo_prefers_the_true_model(fits):
    true, wrong = loo(fits["true"]), loo(fits["omits cross-loading"])
    print(f"\nelpd_loo true {true.elpd_loo:.1f} (p_loo {true.p_loo:.1f}), omitted cross-loading "
          f"{wrong.elpd_loo:.1f} (p_loo {wrong.p_loo:.1f})")
    assert true.elpd_loo > wrong.elpd_loo


@pytest.mark.parametrize("ic", ["loo", "waic"])
def test_compare_ranks_best_first(fits, ic):
    table = compare(fits, ic=ic)
    print(f"\n{table}")
    elpd = f"elpd_{ic}"
    assert list(table.index) == ["true", "omits cross-loading"]
    assert list(table["rank"]) == [0, 1]
    assert table[elpd].is_monotonic_decreasing
    assert table["elpd_diff"].iloc[0] == 0 and table["elpd_diff"].iloc[1] > 0
    # the omitted cross-loading of 0.6 with N = 300 is a clear difference, not noise
    assert table["elpd_diff"].iloc[1] > 2 * table["dse"].iloc[1]
    assert table["weight"].iloc[0] > 0.9
    # the order of the dictionary does not matter
    swapped = compare(dict(reversed(list(fits.items()))), ic=ic)
    assert list(swapped.index) == list(table.index)


def test_compare_refuses_different_data(fits, data):
    with pytest.raises(ValueError, match="at least two"):
        compare({"one": fits["true"]})
    with pytest.raises(ValueError, match="'loo' or 'waic'"):
        compare(fits, ic="dic")
    fewer = br.sem(TWO_FACTOR, data.iloc[:250], seed=1, **RUN)
    with pytest.raises(ValueError, match="same data"):
        compare({"all": fits["true"], "fewer": fewer})
    other_items = SimpleNamespace(layout=SimpleNamespace(observed=["y1", "y2", "y3", "y4"]))
    with pytest.raises(ValueError, match="same observed variables"):
        compare({"all": fits["true"], "fewer items": other_items})
