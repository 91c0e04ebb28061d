"""Shared fixtures: the reference data sets and lavaan's ML estimates (tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

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
