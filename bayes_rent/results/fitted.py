"""What the result functions read from a fit: the :class:`FittedModel` protocol.

Results sit below the Fit family in the package's layers, so they name the fit they are given
by this protocol instead of importing :class:`bayes_rent.fit.Fit` (which satisfies it).
"""

from __future__ import annotations

from typing import Any, Protocol

import arviz as az
import pandas as pd
import xarray as xr


class FittedModel(Protocol):
    """A fitted model as the result functions see it (:class:`bayes_rent.fit.Fit`)."""

    idata: az.InferenceData
    partable: pd.DataFrame
    data: pd.DataFrame
    settings: dict
    #: bayes_rent.backend.base.Backend: the kind of model that wrote the likelihood
    backend: Any
    #: bayes_rent.model.Model: the model that was fitted (its class refits the null model)
    model: Any
    layout: Any
    groups: list
    moments: Any

    @property
    def parameter_draws(self) -> xr.DataArray:
        """Every parameter-table row per draw."""
        ...

    @property
    def matrices(self) -> xr.Dataset:
        """The model matrices per draw."""
        ...
