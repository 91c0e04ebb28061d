"""Ordinal defaults on a messy survey: the small version of ``bench/bench_ordinal_messy.py``.

The population (the bench's) has cross-loadings, residual correlations, skewed items and
empty extreme categories; the fitted model is the simple structure without any of them, fitted
with the package's ordinal defaults and nothing else. Two of the bench's seeds, at N = 700
instead of 2 800, so that each fit takes about a minute (68-106 s at load 2-11 on 2 cores).

The package's bar (R-hat ≤ 1.01, bulk ESS ≥ 400, no divergences) is held at this N. Before
each item's thresholds were sampled outward from its best-determined cut point and relative to
the scores' mean (``backend/conditional.py``), the defaults failed it here (measured
2026-12-07: max R-hat 1.013 on both seeds, min bulk ESS 125 and 247, on the lowest thresholds
of the skewed items, whose 0.4 % category holds two or three answers at this N).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_rent as br

_spec = importlib.util.spec_from_file_location(
    "bench_ordinal_messy", Path(__file__).parents[1] / "bench" / "bench_ordinal_messy.py"
)
messy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(messy)

N = 700
SEEDS = (1, 2)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def messy_fit(request):
    """(data, fit) of one seed: data seed and sampler seed as in the bench."""
    data = messy.simulate(N, request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)  # checked by the test itself
        fit = br.Model(messy.analysis()).fit(data, ordered=True, seed=request.param,
                                             progressbar=False)
    c = fit.convergence
    print(f"\nseed {request.param}: max R-hat {c.max_r_hat:.3f}, min bulk ESS "
          f"{c.min_ess_bulk:.0f}, {c.divergences} divergences, {fit.settings['elapsed']:.0f} s")
    return data, fit


def _mixed_enough(fit) -> None:
    """The bar of the short runs of ``tests/test_ordinal.py``: enough for z-scores of means.

    With bulk ESS >= 100 the Monte Carlo error of a posterior mean is at most a tenth of its
    posterior SD, so it moves a z-score by 0.1 at most.
    """
    c = fit.convergence
    assert c.max_r_hat < 1.05 and c.min_ess_bulk >= 100 and c.divergences == 0, c.message()


def test_messy_survey_converges_with_the_defaults(messy_fit):
    _, fit = messy_fit
    assert fit.settings["chains"] == 2 and fit.settings["target_accept"] == 0.65
    # the package's whole bar: R-hat <= 1.01, bulk ESS >= 400, no divergences, no stuck chain
    assert fit.convergence.converged, fit.convergence.message()


def test_messy_survey_mixes_without_divergences(messy_fit):
    _, fit = messy_fit
    _mixed_enough(fit)


def test_messy_survey_clean_loadings_stay_near_the_population(messy_fit):
    # The twelve items with neither a cross-loading nor a residual correlation: the omitted
    # structure sits in other items (it inflates their loadings and the factor correlations),
    # so these standardized loadings should stay near their population values. The slow
    # parameters are thresholds, not loadings, and the bar held here (ESS >= 100) bounds the
    # Monte Carlo error of a mean by SD/10, so z is the posterior's own miss: for a calibrated
    # posterior |z| > 4 has probability 6e-5 per loading, 1.5e-3 over 12 loadings x 2 seeds.
    # The misspecification does pull these loadings a little low: at N = 2 800 the bench's
    # largest |z| ("clean |z|") is 2.4-3.8 over seeds 1-7; at N = 700 the posterior SD (about
    # 0.03) is twice as wide, so the bias is about half as many SDs (measured: z from -2.1 to
    # 2.3). |z| < 4 leaves room for that and still fails a loading off by 0.12 or more.
    _, fit = messy_fit
    _mixed_enough(fit)
    z = messy.clean_loading_z(fit)
    sd = fit.standardized().set_index(["lhs", "op", "rhs"]).loc[z.index, "sd"]
    print("\n", pd.DataFrame({"z": z, "sd": sd}).round(3).to_string())
    assert len(z) == 12
    assert np.abs(z).max() < 4.0, z


def test_messy_survey_empty_extreme_categories_lose_their_threshold(messy_fit):
    data, fit = messy_fit
    _mixed_enough(fit)
    thr = fit.summary().query("op == '|'")
    counts = thr.groupby("lhs").size()
    # as lavaan does: one threshold fewer than the categories somebody chose, item by item
    # (a skewed item's 0.4 % category can also be empty by chance at N = 700)
    assert counts.to_dict() == (data.nunique() - 1).to_dict()
    for item, n_thresholds in messy.empty_categories().items():
        assert counts[item] == n_thresholds == 3, item
    # what is left are the population's other cut points, on the same (theta) scale, for the
    # items whose scale the misspecification leaves alone (|z| < 4 as above)
    population = messy.thresholds()
    for item in ("y8", "y12", "y21"):
        truth = np.array([t for t in population[item] if np.isfinite(t)])
        row = thr.loc[thr["lhs"] == item]
        z = (row["mean"].to_numpy() - truth) / row["sd"].to_numpy()
        assert np.abs(z).max() < 4.0, (item, z)
