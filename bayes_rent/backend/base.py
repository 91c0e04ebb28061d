"""The backend interface: what every kind of model gives the one fitting route.

``Model.fit`` runs the same three steps for every kind of model::

    backend = choose_backend(model, request)           # bayes_rent.backend.registry
    prepared = backend.prepare(model, data, request)    # PyMC model, data, start values, key
    idata = run_sampler(prepared.pm_model, ...)         # bayes_rent.sampling
    fit = FIT_KINDS[prepared.fit_kind](idata=idata, backend=backend, **prepared.fit_parts)

A backend turns the parameter table and the data into a :class:`Prepared` and answers the
questions results ask of a fit whose likelihood it wrote (:meth:`Backend.pointwise_loglik`,
which PPP discrepancy its likelihood has, whether latent scores were sampled).
Results never test a fit's type or attributes to guess how it was made; they ask
``fit.backend``. ``docs/architecture.md`` describes the whole flow.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr


def structure_key(*parts: object) -> str:
    """A hash that identifies a model structure (not its data) for the compile cache."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()


@dataclass
class FitRequest:
    """The options of one ``Model.fit`` call, after the sampling defaults were filled in."""

    draws: int
    tune: int
    chains: int
    seed: int | None
    sampler: str
    progressbar: bool
    target_accept: float | None
    priors: Mapping[str, str] | None = None
    ordered: bool | list[str] | None = None
    group: str | None = None
    group_equal: list[str] = field(default_factory=list)
    pooling: str = "none"
    pooling_prior: str = ""
    cluster: str | pd.Series | None = None
    random_paths: bool | list[str] = False
    cluster_options: Mapping[str, object] | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The sampling settings a fit records (and a null model repeats)."""
        return dict(draws=self.draws, tune=self.tune, chains=self.chains, sampler=self.sampler,
                    seed=self.seed, progressbar=self.progressbar,
                    target_accept=self.target_accept)

    def cluster_ids(self, data: pd.DataFrame) -> pd.Series | None:
        """The cluster of every row: the named column of ``data``, or the ids given."""
        return data[self.cluster] if isinstance(self.cluster, str) else self.cluster


@dataclass
class Prepared:
    """Everything the sampler and the fit need from a backend.

    Attributes
    ----------
    pm_model : pymc.Model
        The model; its ``pm.Data`` take :attr:`data`.
    key : str
        The structure key of the compile cache (:func:`structure_key`).
    data : dict
        Values of the model's ``pm.Data``.
    initvals : list of dict
        Starting values per chain.
    fit_kind : {"single", "groups", "twolevel"}
        Which member of the Fit family holds the result.
    fit_parts : dict
        Keyword arguments of that Fit class besides ``idata``, ``backend`` and ``model``.
    settings : dict
        The sampling settings (after the backend's own defaults, e.g. ``target_accept``).
    sampler_options : dict
        Extra options of :func:`bayes_rent.sampling.run_sampler` (``nutpie_backend``).
    """

    pm_model: pm.Model
    key: str
    data: dict[str, np.ndarray]
    initvals: list[dict[str, np.ndarray]]
    fit_kind: str
    fit_parts: dict[str, Any]
    settings: dict[str, Any]
    sampler_options: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """One kind of model: how it is prepared for sampling and what its likelihood is.

    Attributes
    ----------
    name : str
        ``"marginal"``, ``"conditional"``, ``"clustered"``, ``"multigroup"`` or ``"twolevel"``.
    discrepancy : {"normal", "ordinal"} or None
        Which PPP discrepancy the likelihood has: ``"normal"``, the χ² of the multivariate
        normal model of the observed moments (and the indices built on it: BRMSEA, BCFI,
        SRMR, ...); ``"ordinal"``, the item pairs' cross tables; ``None``, neither yet
        (:attr:`chisq_undefined` says why).
    samples_scores : bool
        The respondents' latent scores are sampled with the parameters (``latent_scores`` in
        the posterior) rather than computed after the fit.
    """

    name: str = ""
    discrepancy: str | None = "normal"
    samples_scores: bool = False
    #: why the χ²-based indices are not defined, when ``discrepancy`` is not "normal"
    chisq_undefined: str = ""

    @abstractmethod
    def prepare(self, model, data: pd.DataFrame, request: FitRequest) -> Prepared:
        """The PyMC model, its data, start values and structure key for ``request``."""

    @abstractmethod
    def pointwise_loglik(self, fit) -> xr.DataArray:
        """Log-likelihood per independent unit and draw, latent variables integrated out.

        Dims ``(chain, draw, respondent)`` (or ``cluster`` when clusters are the units);
        summed over the units it is the likelihood the sampler used.
        """

    def __repr__(self) -> str:
        return f"<bayes_rent backend {self.name!r}>"
