"""Summaries of posterior draws in the shape of the parameter table.

Every result of a fit (raw, standardized, defined, effects) is first a set of draws with
dims ``(chain, draw, <row dim>)``; this module turns such draws into one tidy row per item with
the columns lavaan and semopy users expect.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

SUMMARY_COLUMNS = ["mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"]


def summarize_draws(draws: xr.DataArray, dim: str, hdi_prob: float = 0.9) -> pd.DataFrame:
    """Posterior mean, SD, HDI, R-hat and bulk ESS for every entry along ``dim``.

    Parameters
    ----------
    draws : xarray.DataArray
        Draws with dims ``("chain", "draw", dim)``.
    dim : str
        The dimension whose entries become rows.
    hdi_prob : float
        Probability mass of the highest-density interval.

    Returns
    -------
    pandas.DataFrame
        Indexed by the coordinate of ``dim``, columns ``mean, sd, hdi_low, hdi_high, r_hat,
        ess_bulk``. Entries that do not vary over draws (fixed parameters) get NaN R-hat and ESS.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> d = xr.DataArray(np.random.default_rng(1).normal(size=(2, 200, 2)),
    ...                  dims=("chain", "draw", "par"), coords={"par": ["a", "b"]})
    >>> summarize_draws(d, "par").shape
    (2, 6)
    """
    draws = draws.transpose("chain", "draw", dim)
    values = draws.values
    mean = values.mean(axis=(0, 1))
    sd = values.std(axis=(0, 1), ddof=1) if values.shape[0] * values.shape[1] > 1 else 0 * mean
    varying = sd > 1e-12 * np.maximum(1.0, np.abs(mean))
    hdi_low = mean.copy()
    hdi_high = mean.copy()
    r_hat = np.full(mean.shape, np.nan)
    ess = np.full(mean.shape, np.nan)
    if varying.any():
        sub = xr.Dataset({"x": draws.isel({dim: np.flatnonzero(varying)})})
        hdi = az.hdi(sub, hdi_prob=hdi_prob)["x"].transpose(dim, "hdi").values
        hdi_low[varying] = hdi[:, 0]
        hdi_high[varying] = hdi[:, 1]
        if values.shape[0] > 1 or values.shape[1] >= 4:
            r_hat[varying] = az.rhat(sub)["x"].values
            ess[varying] = az.ess(sub, method="bulk")["x"].values
    return pd.DataFrame(
        {"mean": mean, "sd": sd, "hdi_low": hdi_low, "hdi_high": hdi_high,
         "r_hat": r_hat, "ess_bulk": ess},
        index=pd.Index(draws[dim].values, name=dim),
    )
