"""Power-scaling prior and likelihood sensitivity (Kallioinen et al. 2023) of a fit.

The prior (or the likelihood) is raised to a power near 1 by importance weighting the draws
(ArviZ's :func:`arviz.psens`); the cumulative Jensen–Shannon distance between the scaled
and the unscaled posterior, per unit change of the log power, is the sensitivity. Above
0.05 the posterior depends on that component.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_rent.fit.base import Fit
from bayes_rent.results.fit_indices import add_log_likelihood
from bayes_rent.spec.priors import prior_distribution

#: sensitivity above which a component is said to matter (Kallioinen et al. 2023)
THRESHOLD = 0.05


def log_prior(fit: Fit) -> xr.DataArray:
    """The joint log prior density of every draw, dims ``(chain, draw)``.

    The sum over the fit's prior groups of each sampled vector's prior log density, on the
    scale it was sampled on (the scale its prior is written on), vectorized over draws.

    Examples
    --------
    >>> log_prior(fit).sizes  # doctest: +SKIP
    Frozen({'chain': 4, 'draw': 1000})
    """
    post = fit.idata.posterior
    total = 0.0
    for g in fit.groups:
        raw = post[g.name].transpose("chain", "draw", g.dim)
        logp = pm.logp(prior_distribution(g.spec), raw.values).eval()
        total = total + np.asarray(logp).sum(-1)
    return xr.DataArray(total, dims=("chain", "draw"),
                        coords={"chain": post["chain"], "draw": post["draw"]})


def add_log_prior(fit: Fit) -> az.InferenceData:
    """Store :func:`log_prior` in ``fit.idata.log_prior["prior"]`` (once) and return the idata."""
    idata = fit.idata
    if "log_prior" not in idata.groups():
        idata.add_groups({"log_prior": xr.Dataset({"prior": log_prior(fit)})})
    return idata


def _diagnosis(prior: float, likelihood: float) -> str:
    """priorsense's reading of a pair of sensitivities."""
    if prior >= THRESHOLD and likelihood >= THRESHOLD:
        return "prior-data conflict"
    if prior >= THRESHOLD:
        return "strong prior / weak likelihood"
    if likelihood < THRESHOLD:
        return "weak likelihood"
    return "-"


def power_scaling(fit: Fit, *, free_only: bool = True) -> pd.DataFrame:
    """Prior and likelihood power-scaling sensitivity of every parameter.

    Adds ``log_prior`` and the pointwise ``log_likelihood`` (per respondent) to
    ``fit.idata`` and runs :func:`arviz.psens` on the posterior ``parameters``.

    Parameters
    ----------
    fit : Fit
        A fit of the marginal backend (continuous items).
    free_only : bool
        Keep the free parameters only.

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``parameter, prior, likelihood, diagnosis``; a prior
        sensitivity of 0.05 or more with a likelihood sensitivity of 0.05 or more is
        a prior-data conflict, with less a strong prior / weak likelihood.

    Examples
    --------
    >>> import bayes_rent as br
    >>> ps = br.sensitivity.power_scaling(fit)  # doctest: +SKIP
    >>> ps.loc[ps["diagnosis"] != "-"]  # doctest: +SKIP
    """
    add_log_likelihood(fit)
    idata = add_log_prior(fit)
    values = {}
    for component in ("prior", "likelihood"):
        result = az.psens(idata, component=component, var_names=["parameters"])
        # one variable comes back as a DataArray in some ArviZ versions, a Dataset in others
        result = result["parameters"] if isinstance(result, xr.Dataset) else result
        values[component] = result.to_series()
    table = pd.DataFrame(values).rename_axis("parameter").reset_index()
    if free_only:
        pt = fit.partable.loc[fit.partable["op"] != ":="]
        table = table.loc[pt["free"].to_numpy()].reset_index(drop=True)
    table["diagnosis"] = [_diagnosis(p, q) for p, q in
                          zip(table["prior"], table["likelihood"], strict=True)]
    return table
