"""Shared fixtures: the reference data sets and lavaan's ML estimates (tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

DATA = Path(__file__).parent / "data"

POLITICAL_DEMOCRACY = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""

HOLZINGER_SWINEFORD = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""


def calibration_distance(draws: np.ndarray, truth: np.ndarray) -> float:
    """Squared Mahalanobis distance of the true values from the posterior, in posterior units.

    ``draws`` is ``(n_draws, k)``. For a calibrated posterior whose shape is close to normal
    (Bernstein–von Mises), the posterior mean misses the truth by about one posterior
    covariance, so the distance is χ²(k) over repeated data sets. Unlike a count of covering
    intervals it uses how far each interval is from the truth, and it also fails when the
    intervals are too wide (a distance near 0).
    """
    diff = draws.mean(axis=0) - truth
    return float(diff @ np.linalg.solve(np.cov(draws, rowvar=False), diff))


def assert_calibrated(distance: float, k: int, level: float = 0.99) -> None:
    """Two-sided χ²(k) check of one :func:`calibration_distance` (or a sum over replicates)."""
    low, high = stats.chi2.ppf([(1 - level) / 2, (1 + level) / 2], k)
    assert low <= distance <= high, (
        f"distance {distance:.2f} outside the {level:.0%} range [{low:.2f}, {high:.2f}] of "
        f"chi2({k}): the posterior is {'too narrow or biased' if distance > high else 'too wide'}"
    )


@pytest.fixture(scope="session")
def pd_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "PoliticalDemocracy.csv")


@pytest.fixture(scope="session")
def hs_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv")


@pytest.fixture(scope="session")
def pd_lavaan() -> pd.DataFrame:
    return pd.read_csv(DATA / "PoliticalDemocracy_sem_estimates.csv")


@pytest.fixture(scope="session")
def hs_lavaan() -> pd.DataFrame:
    return pd.read_csv(DATA / "HS_cfa_estimates.csv")


@pytest.fixture(scope="session")
def hs_fit_measures() -> dict:
    return json.loads((DATA / "HS_cfa_fit.json").read_text())


# Likert answers (tests/test_ordinal.py, tests/test_cli.py): thresholds on the latent-response
# scale of the theta parameterization, and a two-factor model with four items each
FIVE_POINT = [-1.8, -0.7, 0.5, 1.6]
SEVEN_POINT = [-2.0, -1.2, -0.4, 0.3, 1.0, 1.8]
SMALL_POPULATION = """
f1 =~ 1*y1 + 0.9*y2 + 1.2*y3 + 0.8*y4
f2 =~ 1*y5 + 1.1*y6 + 0.9*y7 + 0.7*y8
f1 ~~ 1*f1 + 0.4*f2
f2 ~~ 1*f2
"""
SMALL = """
f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
"""
