"""Data simulated from a population model written in lavaan syntax (like lavaan's simulateData).

The population values are the fixed values of the syntax: ``f =~ 1*x1 + 0.8*x2``,
``y ~ 0.4*f``, ``f1 ~~ 0.3*f2``. Whatever the syntax leaves unvalued gets a documented default:
variances 1 (residual variances of indicators and of endogenous latents, variances of exogenous
latents), covariances, paths and loadings 0, intercepts 0. Data are multivariate normal with the
model-implied mean and covariance, so a fit of the same model should recover the values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_rent.backend.layout import build_layout
from bayes_rent.partable import build_partable


def population_values(syntax: str) -> pd.DataFrame:
    """The parameter table of a population model with every row's population value.

    Parameters
    ----------
    syntax : str
        lavaan syntax with fixed values as the population values.

    Returns
    -------
    pandas.DataFrame
        Parameter table (marker identification) with the column ``value`` filled for every row.

    Examples
    --------
    >>> pv = population_values("f =~ 1*x1 + 0.8*x2 + 0.6*x3")
    >>> pv.loc[pv.op == "=~", "value"].tolist()
    [1.0, 0.8, 0.6]
    """
    table = build_partable(syntax, meanstructure=True)
    value = table["value"].copy()
    unvalued = table["free"] | value.isna()
    variance = (table["op"] == "~~") & (table["lhs"] == table["rhs"])
    value[unvalued & variance] = 1.0
    value[unvalued & ~variance] = 0.0
    return table.assign(value=value, free=False)


def simulate_data(
    syntax: str, n: int, *, seed: int | None = None, missing_rate: float = 0.0
) -> pd.DataFrame:
    """Draw respondents from a population model.

    Parameters
    ----------
    syntax : str
        Population model in lavaan syntax; fixed values are the population values.
    n : int
        Number of respondents.
    seed : int, optional
        Seed of the random generator.
    missing_rate : float
        Share of answers deleted completely at random.

    Returns
    -------
    pandas.DataFrame
        One column per observed variable, in model order.

    Examples
    --------
    >>> d = simulate_data("f =~ 1*x1 + 0.8*x2 + 0.6*x3", n=20000, seed=1)
    >>> d.shape, round(float(d.corr().loc["x1", "x2"]), 2)  # 0.8 / sqrt(2 * 1.64) = 0.44
    ((20000, 3), 0.44)
    """
    table = population_values(syntax)
    layout = build_layout(table)
    mats = layout.matrices(table["value"].fillna(0.0).to_numpy())
    a = np.linalg.inv(np.eye(layout.n_latent) - mats["B"])
    la = mats["Lambda"] @ a
    sigma = la @ mats["Psi"] @ la.T + mats["Theta"]
    mu = mats["nu"] + la @ mats["alpha"]
    rng = np.random.default_rng(seed)
    y = rng.multivariate_normal(mu, sigma, size=n, method="cholesky")
    if missing_rate:
        y[rng.random(y.shape) < missing_rate] = np.nan
    return pd.DataFrame(y, columns=layout.observed)
