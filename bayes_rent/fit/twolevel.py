"""Results of two-level models written with ``level: 1`` / ``level: 2`` blocks.

``Model(syntax).fit(data, cluster="cluster")`` fits them through the two-level backend
(:mod:`bayes_rent.backend.twolevel`: the likelihood, the PyMC model and the statistics).
The result is a :class:`TwoLevelFit`: a block-wise fit (:class:`~bayes_rent.fit.blocks.BlockFit`)
with a block per level, whose tables carry the level of every row and whose cluster-level
results are labelled xarray objects with a ``cluster`` dim.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend import twolevel as backend
from bayes_rent.backend.parameters import element_draws
from bayes_rent.backend.registry import BACKENDS
from bayes_rent.data.observed import moments
from bayes_rent.fit.base import Fit, parameter_names
from bayes_rent.fit.blocks import BlockFit
from bayes_rent.spec.identification import align_signs

__all__ = ["TwoLevelFit"]

_LEVEL_NAMES = {1: "within", 2: "between"}


def _level_names(partable: pd.DataFrame) -> list[str]:
    """``lhs op rhs [level]`` for every row except ``:=``: unique across the two levels."""
    body = partable.loc[partable["op"] != ":="]
    return [f"{name} [{_LEVEL_NAMES[int(level)]}]"
            for name, level in zip(parameter_names(body), body["level"], strict=True)]


class TwoLevelFit(BlockFit):
    """A fitted two-level model.

    Every table carries the ``level`` of its rows (1 within, 2 between): :meth:`summary`,
    :attr:`priors`, and the block-wise :meth:`standardized`, :meth:`effects`, :meth:`r2`,
    :meth:`reliability` and :meth:`validity`, which treat each level as a model of its own
    (lavaan's standardized solution per level: the within level on the within covariance,
    the between level on the between covariance). The data of a level are the firms'
    deviations from their cluster means (within) and the cluster means (between), which is
    what alpha and HTMT read. The posterior's ``parameters`` are named
    ``"lhs op rhs [within]"`` and ``"lhs op rhs [between]"``. :meth:`cluster_results` and
    :meth:`scores` give each cluster's between latent variables; :meth:`level_matrices` the
    model matrices of one level. :meth:`loo` leaves one cluster out at a time. The χ²-based
    fit indices are listed as not computed, with the reason.

    Attributes
    ----------
    twolevel : bayes_rent.backend.twolevel.TwoLevelLayout
        Both levels' layouts.
    statistics : bayes_rent.backend.twolevel.TwoLevelStatistics
        The data's sufficient statistics (also ``moments``).
    """

    block_column = "level"
    block_key = "level"
    indices_undefined = (
        "PPP and the χ²-based fit indices are not computed for two-level models yet; use "
        "fit.loo() (one cluster left out at a time) and br.compare() to compare models."
    )

    def __init__(
        self, *, twolevel: backend.TwoLevelLayout, cluster_ids: np.ndarray, **kwargs
    ) -> None:
        self.twolevel = twolevel
        self.cluster_ids = np.asarray(cluster_ids)
        self.block_names = [1, 2]
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
        return self.block_fits[level - 1].matrices.assign_attrs(level=level)

    # ------------------------------------------------------------------ tables
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

    # ------------------------------------------------------------------ levels as blocks
    def level_data(self, level: int) -> pd.DataFrame:
        """A level's data: firms minus their cluster means (1), or the cluster means (2)."""
        lay = self.twolevel.levels[level]
        if level == 1:
            firms = self.data[lay.observed]
            return firms - firms.groupby(self.cluster_ids).transform("mean")
        means = pd.DataFrame(self.statistics.means, columns=self.statistics.variables,
                             index=pd.Index(self.statistics.clusters, name="cluster"))
        return means[lay.observed]

    def _make_block_fit(self, k: int) -> Fit:
        level = self.block_names[k]
        lay = self.twolevel.levels[level]
        data = self.level_data(level)
        return Fit(
            model=self.model, backend=BACKENDS["marginal"], partable=lay.partable, layout=lay,
            groups=self.groups, idata=self._shared_idata(), data=data, moments=moments(data),
            sampler=self.sampler, settings=self.settings, convergence=self.convergence,
            element_map=self.twolevel.element_map[level],
        )

    def scores(self, kind: str = "mean", seed: int | None = None) -> xr.DataArray:
        """The clusters' between latent variables per draw: ``(chain, draw, cluster,
        construct)``, from :meth:`cluster_results` (``kind`` ``"mean"`` or ``"draws"``).

        Firms' within-level scores are not computed: the unit of a two-level model is the
        cluster.
        """
        return self.cluster_results(kind=kind, seed=seed)["latent"].rename("scores")

    # ------------------------------------------------------------------ diagnostics
    def _parameter_labels(self) -> list[str]:
        """``lhs op rhs [within]`` / ``[between]``: unique names across the levels."""
        return _level_names(self.partable)

    def _units(self) -> str:
        return f"{self.statistics.n_total} firms in {self.statistics.n_clusters} clusters"

