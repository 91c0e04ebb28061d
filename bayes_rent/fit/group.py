"""``GroupFit``: a multi-group fit, reported group by group.

The posterior is one set of draws for the whole model. Every group is also available as an
ordinary :class:`~bayes_rent.fit.base.Fit` of its own rows (:meth:`GroupFit.group_fit`), sharing
those draws; the standardized solution, effects, R², reliability, validity and the
log-likelihood are computed per group that way and stacked with a ``group`` column (or dim).
"""

from __future__ import annotations

from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend.multigroup import PooledPaths
from bayes_rent.backend.parameters import element_draws
from bayes_rent.data.observed import ObservedMoments
from bayes_rent.fit.base import Fit, parameter_names
from bayes_rent.spec.identification import align_signs
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.priors import DEFAULT_PRIORS


class GroupFit(Fit):
    """A fitted multi-group model (``Model.fit(data, group="column")``).

    Attributes
    ----------
    group_names : list
        The groups, in their order of first appearance in the data (the table's ``group``
        1, 2, ...).
    group_column : str
        The data column that defined them.
    pooled : PooledPaths or None
        With ``pooling="partial"``: the paths drawn from a common distribution. Their common
        value and spread are in ``idata.posterior["path_means"]`` and ``["path_spread"]``.

    Examples
    --------
    >>> fit = br.cfa(hs_syntax, hs, group="school", group_equal=["loadings"])  # doctest: +SKIP
    >>> fit.summary().query("op == '=~'")[["group", "lhs", "rhs", "mean"]]  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        group_names: list,
        group_column: str,
        group_layouts: list[Layout],
        group_moments: list[ObservedMoments],
        pooled: PooledPaths | None,
        **kwargs,
    ) -> None:
        self.group_names = list(group_names)
        self.group_column = group_column
        self.group_layouts = group_layouts
        self.group_moments = group_moments
        self.pooled = pooled
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ groups
    def group_fit(self, group) -> Fit:
        """One group as a single-group :class:`~bayes_rent.fit.base.Fit` sharing these draws.

        Parameters
        ----------
        group
            The group's name (as in the data) or its number 1..G.
        """
        if group in self.group_names:
            k = self.group_names.index(group)
        elif isinstance(group, int) and 1 <= group <= len(self.group_names):
            k = group - 1
        else:
            raise KeyError(f"no group {group!r}; the groups are {self.group_names}")
        return self._group_fits[k]

    @cached_property
    def _group_fits(self) -> list[Fit]:
        column = self.data[self.group_column]
        out = []
        for name, lay, stats in zip(
            self.group_names, self.group_layouts, self.group_moments, strict=True
        ):
            # a shallow copy: the group's Fit adds its own "parameters" without touching ours
            idata = az.InferenceData(
                posterior=self.idata.posterior.drop_vars("parameters").copy(),
                sample_stats=self.idata.sample_stats,
            )
            out.append(Fit(
                model=self.model, partable=lay.partable, layout=lay, groups=self.groups,
                idata=idata, data=self.data.loc[column == name].drop(columns=self.group_column),
                moments=stats, sampler=self.sampler, settings=self.settings,
                convergence=self.convergence,
            ))
        return out

    def _stack(self, tables: list[pd.DataFrame], at: int = 0) -> pd.DataFrame:
        """Per-group tables stacked, with the group's name as a column."""
        parts = []
        for name, table in zip(self.group_names, tables, strict=True):
            table = table.copy()
            if "group" in table:
                table["group"] = name  # the group's number in the table, replaced by its name
            else:
                table.insert(at, "group", name)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    # ------------------------------------------------------------------ draws
    @cached_property
    def parameter_draws(self) -> xr.DataArray:
        """Every row (except ``:=``) per draw, group after group: dims ``(chain, draw, par)``.

        Each group's rows come from its own layout; under ``std_lv`` the signs are aligned
        per group, by that group's first loadings.
        """
        elements = element_draws(self.idata.posterior, self.groups, len(self.layout.elements))
        rows = np.zeros(elements.shape[:2] + (len(self.partable),))
        position = pd.Series(np.arange(len(self.partable)), index=self.partable["id"])
        for lay in self.group_layouts:
            values = lay.row_values(elements)
            if self.model.std_lv:
                values = align_signs(lay.partable, values)
            rows[..., position.loc[lay.partable["id"]].to_numpy()] = values
        return self._row_draws(rows)

    @cached_property
    def matrices(self) -> xr.Dataset:
        """Model matrices per draw and group: the single-group dims plus ``group``."""
        return xr.concat(
            [f.matrices for f in self._group_fits],
            dim=pd.Index([str(n) for n in self.group_names], name="group"),
        )

    def _parameter_labels(self) -> list[str]:
        rows = self.partable.loc[self.partable["op"] != ":="]
        names = dict(enumerate(self.group_names, start=1))
        return [f"{n} [{names[g]}]" for n, g in zip(parameter_names(rows), rows["group"],
                                                    strict=True)]

    # ------------------------------------------------------------------ tables
    def summary(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """One row per parameter and group, lavaan's parameter table with a ``group`` column.

        Rows tied across groups (a shared label, ``group_equal``) repeat the same estimate in
        every group, as lavaan prints them.
        """
        table = super().summary(hdi_prob=hdi_prob)
        rows = self.partable.loc[self.partable["op"] != ":="]
        names = dict(enumerate(self.group_names, start=1))
        table.insert(3, "group", [names[g] for g in rows["group"]])
        return table

    def standardized(self, kind: str = "std_all", hdi_prob: float = 0.9) -> pd.DataFrame:
        """The standardized solution of every group (each group's own variances), stacked."""
        return self._stack(
            [f.standardized(kind=kind, hdi_prob=hdi_prob) for f in self._group_fits], at=3
        )

    def effects(self, **kwargs) -> pd.DataFrame:
        """Direct, indirect and total effects per group (``group`` column first)."""
        return self._stack([f.effects(**kwargs) for f in self._group_fits])

    def r2(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """R² per group and endogenous variable."""
        return self._stack([f.r2(hdi_prob=hdi_prob) for f in self._group_fits])

    def reliability(self, hdi_prob: float = 0.9, seed: int | None = None) -> pd.DataFrame:
        """Alpha, composite reliability and AVE per group and construct."""
        return self._stack(
            [f.reliability(hdi_prob=hdi_prob, seed=seed) for f in self._group_fits]
        )

    def validity(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """HTMT and Fornell–Larcker per group."""
        return self._stack([f.validity(hdi_prob=hdi_prob) for f in self._group_fits])

    def log_likelihood(self) -> xr.DataArray:
        """Per-respondent log-likelihood, every group's respondents in one ``respondent`` dim."""
        return xr.concat([f.log_likelihood() for f in self._group_fits], dim="respondent")

    def scores(self, kind: str = "draws", seed: int | None = None) -> xr.DataArray:
        """Latent scores of every respondent, from their own group's parameters."""
        return xr.concat(
            [f.scores(kind=kind, seed=seed) for f in self._group_fits], dim="respondent"
        )

    @property
    def priors(self) -> pd.DataFrame:
        """The prior of every free parameter, with its group; pooled paths name their hierarchy."""
        table = super().priors
        groups = self.partable.set_index("id")["group"]
        names = dict(enumerate(self.group_names, start=1))
        table.insert(4, "group", [names[g] for g in groups.loc[table["id"]]])
        if self.pooled is not None:
            pooled = set(self.pooled.elements.ravel().tolist())
            rows = {r for k in pooled for r in self.layout.elements[k].rows}
            at = table["id"].isin(rows)
            table.loc[at, "prior"] = (
                f"normal(path_means, path_spread); path_means ~ {DEFAULT_PRIORS['path']}, "
                f"path_spread ~ {self.pooled.prior}"
            )
        return table

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}: {m.n_total}" for n, m in zip(
            self.group_names, self.group_moments, strict=True))
        return super().__repr__().replace("bayes_rent.Fit:", f"bayes_rent.GroupFit ({sizes}):")

    def fit_indices(self, *args, **kwargs) -> pd.DataFrame:
        """Not computed for multi-group fits yet; compare models with :meth:`loo`."""
        raise NotImplementedError(
            "PPP and the χ²-based fit indices are not computed for multi-group fits yet; use "
            "fit.loo() and br.compare() (e.g. configural vs metric vs scalar invariance)."
        )
