"""Fitting two-level models written with ``level: 1`` / ``level: 2`` blocks, and their results.

``Model(syntax).fit(data, cluster="cluster")`` comes here when the syntax has levels
(:func:`fit_twolevel`); the likelihood and the PyMC model are in
:mod:`bayes_rent.backend.twolevel`. The result is a :class:`TwoLevelFit`: a
:class:`~bayes_rent.fit.base.Fit` whose tables carry the level of every row and whose cluster-level
results are labelled xarray objects with a ``cluster`` dim.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend import twolevel as backend
from bayes_rent.backend.parameters import element_draws
from bayes_rent.data.observed import check_data
from bayes_rent.fit.base import Fit, parameter_names
from bayes_rent.sampling import DEFAULT_SAMPLER, run_sampler, structure_key
from bayes_rent.spec.identification import align_signs
from bayes_rent.spec.partable import n_free

if TYPE_CHECKING:
    from bayes_rent.model import Model

__all__ = ["TwoLevelFit", "fit_twolevel"]

_LEVEL_NAMES = {1: "within", 2: "between"}


def fit_twolevel(
    model: Model,
    data: pd.DataFrame,
    *,
    cluster: str | pd.Series | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    sampler: str = DEFAULT_SAMPLER,
    priors: Mapping[str, str] | None = None,
    progressbar: bool = True,
    target_accept: float | None = None,
    ordered: bool | list[str] | None = None,
    group: str | None = None,
    random_paths: bool | list[str] = False,
    cluster_options: Mapping[str, object] | None = None,
    group_equal: list[str] | tuple[str, ...] = (),
    pooling: str = "none",
) -> TwoLevelFit:
    """Sample the posterior of a two-level model (what :meth:`Model.fit` does for levels).

    Parameters
    ----------
    model : bayes_rent.Model
        A model whose syntax has ``level: 1`` and ``level: 2`` blocks.
    data : pandas.DataFrame
        One row per firm, complete (no missing answers): two-level models are fitted from
        exact complete-data sufficient statistics; missing answers are refused with a
        :class:`~bayes_rent.data.observed.DataError` that names the columns.
    cluster : str or pandas.Series
        The column of ``data`` with the cluster ids, or the ids (required).
    draws, tune, chains, seed, sampler, priors, progressbar, target_accept
        As for :meth:`bayes_rent.Model.fit`. ``priors`` keys may name a parameter type, a
        label or ``"lhs op rhs"`` (which then applies at both levels).
    ordered, group, random_paths, cluster_options, group_equal, pooling
        Not available for two-level models (``NotImplementedError`` when given).

    Returns
    -------
    TwoLevelFit

    Examples
    --------
    >>> import bayes_rent as br
    >>> from bayes_rent.data.population import simulate_twolevel_data
    >>> syntax = '''
    ... level: 1
    ...     fw =~ y1 + y2 + y3
    ... level: 2
    ...     fb =~ y1 + y2 + y3
    ... '''
    >>> sim = simulate_twolevel_data(syntax, [20] * 40, seed=1)
    >>> fit = br.Model(syntax).fit(sim.data, cluster="cluster", draws=300, tune=300,
    ...                            chains=2, seed=1, progressbar=False)  # doctest: +SKIP
    >>> fit.summary().query("op == '=~'")[["lhs", "rhs", "level", "mean"]]  # doctest: +SKIP
    """
    unsupported = {"ordered": ordered, "group": group, "random_paths": random_paths,
                   "cluster_options": cluster_options, "group_equal": group_equal,
                   "pooling": pooling != "none"}
    given = [k for k, v in unsupported.items() if v]
    if given:
        raise NotImplementedError(
            f"{', '.join(given)} not supported for two-level models (level: blocks) yet"
        )
    if cluster is None:
        raise ValueError(
            "a two-level model (level: blocks) needs cluster=: the column with the cluster ids"
        )
    pt = model.partable
    layout = backend.build_twolevel_layout(pt)
    ids = data[cluster] if isinstance(cluster, str) else cluster
    frame = check_data(pd.DataFrame(data), layout.observed)
    between_only = [v for v in layout.between if v not in layout.within]
    stats = backend.twolevel_statistics(frame, ids, layout.within, between_only)
    # model.py dispatches here, so its helpers are imported when the fit runs
    from bayes_rent.model import _chain_initvals, checked_prior_groups

    groups = checked_prior_groups(layout.combined, priors, pt)
    key = structure_key(
        "twolevel", pt[["lhs", "op", "rhs", "level", "free", "value", "label"]].to_csv(),
        [(g.name, g.spec, g.elements) for g in groups], len(stats.size_values),
    )
    settings = dict(draws=draws, tune=tune, chains=chains, sampler=sampler, seed=seed,
                    progressbar=progressbar, target_accept=target_accept)
    pm_model = backend.build_twolevel_model(layout, stats, groups)
    start = backend.twolevel_start(layout, stats, std_lv=model.std_lv)
    initvals = _chain_initvals(start, groups, chains, seed)
    idata = run_sampler(pm_model, key, stats.as_data(), initvals, **settings)
    return TwoLevelFit(
        model=model, partable=pt, layout=layout.combined, groups=groups, idata=idata,
        data=frame, moments=stats, sampler=sampler, settings=settings, twolevel=layout,
    )


def _level_names(partable: pd.DataFrame) -> list[str]:
    """``lhs op rhs [level]`` for every row except ``:=``: unique across the two levels."""
    body = partable.loc[partable["op"] != ":="]
    return [f"{name} [{_LEVEL_NAMES[int(level)]}]"
            for name, level in zip(parameter_names(body), body["level"], strict=True)]


class TwoLevelFit(Fit):
    """A fitted two-level model.

    Everything of :class:`~bayes_rent.fit.base.Fit` that is defined for two levels works as there,
    and every table carries the ``level`` of its rows (1 within, 2 between): :meth:`summary`,
    :attr:`priors`. The posterior's ``parameters`` are named ``"lhs op rhs [within]"`` and
    ``"lhs op rhs [between]"``. :meth:`cluster_results` gives each cluster's between latent
    variables and item means as xarray with a ``cluster`` dim, and :meth:`level_matrices` the
    model matrices of one level.

    Standardized solutions, effects, R², reliability, validity, fit indices, LOO/WAIC and
    firm-level scores are not computed for two-level models yet; those methods raise
    ``NotImplementedError``.

    Attributes
    ----------
    twolevel : bayes_rent.backend.twolevel.TwoLevelLayout
        Both levels' layouts.
    statistics : bayes_rent.backend.twolevel.TwoLevelStatistics
        The data's sufficient statistics (also ``moments``).
    """

    def __init__(self, *, twolevel: backend.TwoLevelLayout, **kwargs) -> None:
        self.twolevel = twolevel
        self.statistics = kwargs["moments"]
        super().__init__(**kwargs)
        names = self._parameter_labels()
        if list(self.idata.posterior["parameter"].values) != names:
            # a Fit that names the parameters 'lhs op rhs' repeats names across the levels
            post = self.idata.posterior.drop_vars(["parameters", "parameter"])
            post["parameters"] = self.parameter_draws.rename({"par": "parameter"}).drop_vars(
                "parameter").assign_coords(parameter=names)
            self.idata.posterior = post

    # ------------------------------------------------------------------ draws
    @cached_property
    def parameter_draws(self) -> xr.DataArray:
        """Every row (except ``:=``) per draw, dims ``(chain, draw, par)``; ``par`` is the id.

        Each level's rows come from its own layout; under ``std_lv`` the signs are aligned
        per level.
        """
        tl = self.twolevel
        elements = element_draws(self.idata.posterior, self.groups, len(tl.combined.elements))
        rows = np.zeros(elements.shape[:2] + (len(self.partable),))
        for level, lay in tl.levels.items():
            values = lay.row_values(tl.level_elements(elements, level))
            if self.model.std_lv:
                values = align_signs(lay.partable, values)
            rows[..., tl.rows[level]] = values
        return self._row_draws(rows)

    def level_matrices(self, level: int) -> xr.Dataset:
        """The model matrices of one level per draw, labelled as :attr:`Fit.matrices`.

        Parameters
        ----------
        level : {1, 2}
            1 for the within model, 2 for the between model.

        Returns
        -------
        xarray.Dataset
            ``Lambda``, ``B``, ``Psi``, ``Theta``, ``nu``, ``alpha`` with dims ``(chain, draw,
            observed|latent[, observed_col|latent_col])``; ``attrs["level"]`` is the level.
        """
        if level not in (1, 2):
            raise ValueError(f"level must be 1 (within) or 2 (between), not {level!r}")
        tl = self.twolevel
        lay = tl.levels[level]
        keep = (self.partable["op"] != ":=").to_numpy()
        full = np.zeros(self.parameter_draws.shape[:2] + (len(self.partable),))
        full[..., keep] = self.parameter_draws.values
        mats = lay.matrices(full[..., tl.rows[level]])
        lat, obs = lay.latent, lay.observed
        dims = {
            "Lambda": ("observed", "latent"), "B": ("latent", "latent_col"),
            "Psi": ("latent", "latent_col"), "Theta": ("observed", "observed_col"),
            "nu": ("observed",), "alpha": ("latent",),
        }
        coords = {
            "chain": self.parameter_draws["chain"].values,
            "draw": self.parameter_draws["draw"].values,
            "observed": obs, "observed_col": obs, "latent": lat, "latent_col": lat,
        }
        ds = xr.Dataset({k: (("chain", "draw") + d, mats[k]) for k, d in dims.items()},
                        coords=coords, attrs={"level": level})
        return ds.assign_coords(phantom=("latent", lay.phantom))

    # ------------------------------------------------------------------ tables
    def summary(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """One row per parameter, as :meth:`Fit.summary`, with a ``level`` column after ``rhs``.

        Examples
        --------
        >>> fit.summary().query("op == '=~' and level == 2")  # doctest: +SKIP
        """
        table = super().summary(hdi_prob=hdi_prob)
        levels = self.partable.loc[self.partable["op"] != ":=", "level"].to_numpy()
        table.insert(table.columns.get_loc("rhs") + 1, "level", levels)
        return table

    @property
    def priors(self) -> pd.DataFrame:
        """The prior used for every free parameter, with its ``level``."""
        table = super().priors
        level = self.partable.set_index("id")["level"]
        table.insert(table.columns.get_loc("rhs") + 1, "level", level.loc[table["id"]].values)
        return table

    def cluster_results(self, kind: str = "mean", seed: int | None = None) -> xr.Dataset:
        """Per cluster and draw: the between latent variables and the items' cluster means.

        Parameters
        ----------
        kind : {"mean", "draws"}
            ``"mean"``: E[η_j | cluster data, θ] for every posterior draw of θ (with
            ``latent_sd``, the conditional SD); ``"draws"``: one draw of η_j per draw of θ,
            whose spread over draws is the full posterior uncertainty.
        seed : int, optional
            Seed for ``kind="draws"``.

        Returns
        -------
        xarray.Dataset
            ``latent (chain, draw, cluster, construct)``, ``latent_sd`` (same dims) and
            ``item_mean (chain, draw, cluster, item)``; the ``cluster`` dim has a
            ``cluster_size`` coordinate; ``attrs["level"] == 2``. See
            :func:`bayes_rent.backend.twolevel.cluster_posterior`.

        Examples
        --------
        >>> fit.cluster_results()["latent"].mean(("chain", "draw")).to_pandas()  # doctest: +SKIP
        """
        tl = self.twolevel
        elements = element_draws(self.idata.posterior, self.groups, len(tl.combined.elements))
        post = self.idata.posterior
        return backend.cluster_posterior(
            tl, self.statistics, elements,
            {"chain": post["chain"].values, "draw": post["draw"].values}, kind=kind, seed=seed,
        )

    # ------------------------------------------------------------------ not for two levels
    def _not_two_level(self, what: str) -> NoReturn:
        raise NotImplementedError(
            f"{what} is not computed for two-level models yet; use summary(), defined(), "
            "level_matrices() and cluster_results()"
        )

    @property
    def matrices(self) -> xr.Dataset:
        """Not defined for two levels: use :meth:`level_matrices` (1 within, 2 between)."""
        self._not_two_level("matrices (one set per level: use level_matrices(level))")

    def standardized(self, kind: str = "std_all", hdi_prob: float = 0.9) -> pd.DataFrame:
        """Not computed for two-level models yet (raises ``NotImplementedError``)."""
        self._not_two_level("the standardized solution")

    def effects(self, **kwargs) -> pd.DataFrame:
        """Not computed for two-level models yet (raises ``NotImplementedError``)."""
        self._not_two_level("effects()")

    def r2(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """Not computed for two-level models yet (raises ``NotImplementedError``)."""
        self._not_two_level("r2()")

    def reliability(self, hdi_prob: float = 0.9, seed: int | None = None) -> pd.DataFrame:
        """Not computed for two-level models yet (raises ``NotImplementedError``)."""
        self._not_two_level("reliability()")

    def validity(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """Not computed for two-level models yet (raises ``NotImplementedError``)."""
        self._not_two_level("validity()")

    def fit_indices(self, *args, **kwargs) -> pd.DataFrame:
        """Not computed for two-level models yet (raises ``NotImplementedError``)."""
        self._not_two_level("fit_indices()")

    def log_likelihood(self) -> xr.DataArray:
        """Per-cluster log-likelihood (all its firms) per draw: ``(chain, draw, cluster)``.

        Firms of one cluster share its between part, so the independent unit is the cluster:
        :meth:`loo` and :meth:`waic` (and ``br.compare``) leave one cluster out at a time.
        Summed over clusters it is the likelihood the sampler used
        (:func:`bayes_rent.backend.twolevel.cluster_loglik`).
        """
        tl = self.twolevel
        post = self.idata.posterior
        elements = element_draws(post, self.groups, len(tl.combined.elements))
        sigma_w, sigma_b, mu, sigma_ww = backend.twolevel_moments(tl, elements)
        ll = backend.cluster_loglik(sigma_w, sigma_b, mu, sigma_ww, self.statistics)
        return xr.DataArray(
            ll, dims=("chain", "draw", "cluster"), name="y",
            coords={"chain": post["chain"].values, "draw": post["draw"].values,
                    "cluster": self.statistics.clusters},
        )

    def scores(self, kind: str = "draws", seed: int | None = None) -> xr.DataArray:
        """Not computed for two-level models yet; cluster-level values: :meth:`cluster_results`."""
        self._not_two_level("firm-level scores() (cluster-level values: cluster_results())")

    # ------------------------------------------------------------------ diagnostics
    def _parameter_labels(self) -> list[str]:
        """``lhs op rhs [within]`` / ``[between]``: unique names across the levels."""
        return _level_names(self.partable)

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (
            f"<bayes_rent.TwoLevelFit: {n_free(self.partable)} free parameters, "
            f"{self.statistics.n_total} firms in {self.statistics.n_clusters} clusters, "
            f"{post.sizes['chain']} chains × {post.sizes['draw']} draws ({self.sampler}); "
            f"{'converged' if self.convergence.converged else 'NOT CONVERGED'}>"
        )

