"""``GroupFit``: a multi-group fit, reported group by group.

The posterior is one set of draws for the whole model. Every group is also available as an
ordinary :class:`~bayes_rent.fit.base.Fit` of its own rows (:meth:`GroupFit.group_fit`),
sharing those draws; the block-wise tables (:class:`~bayes_rent.fit.blocks.BlockFit`) stack
them with a ``group`` column (or dim).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend.multigroup import PooledPaths
from bayes_rent.backend.parameters import element_draws
from bayes_rent.backend.registry import BACKENDS
from bayes_rent.data.observed import ObservedMoments
from bayes_rent.fit.base import Fit
from bayes_rent.fit.blocks import BlockFit
from bayes_rent.spec.identification import align_signs
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.priors import DEFAULT_PRIORS


class GroupFit(BlockFit):
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

    block_column = "group"
    block_key = "group"
    indices_undefined = (
        "PPP and the χ²-based fit indices are not computed for multi-group fits yet; use "
        "fit.loo() and br.compare() (e.g. configural vs metric vs scalar invariance)."
    )

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
        self.block_names = self.group_names
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
        return self.block_fits[k]

    def _make_block_fit(self, k: int) -> Fit:
        name = self.group_names[k]
        column = self.data[self.group_column]
        lay = self.group_layouts[k]
        return Fit(
            model=self.model, backend=BACKENDS["marginal"], partable=lay.partable, layout=lay,
            groups=self.groups, idata=self._shared_idata(),
            data=self.data.loc[column == name].drop(columns=self.group_column),
            moments=self.group_moments[k], sampler=self.sampler, settings=self.settings,
            convergence=self.convergence,
        )

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

    def scores(self, kind: str = "draws", seed: int | None = None) -> xr.DataArray:
        """Latent scores of every respondent, from their own group's parameters."""
        return xr.concat(
            [f.scores(kind=kind, seed=seed) for f in self.block_fits], dim="respondent"
        )

    @property
    def priors(self) -> pd.DataFrame:
        """The prior of every free parameter, with its group; pooled paths name their hierarchy."""
        table = super().priors
        if self.pooled is not None:
            pooled = set(self.pooled.elements.ravel().tolist())
            rows = {r for k in pooled for r in self.layout.elements[k].rows}
            at = table["id"].isin(rows)
            table.loc[at, "prior"] = (
                f"normal(path_means, path_spread); path_means ~ {DEFAULT_PRIORS['path']}, "
                f"path_spread ~ {self.pooled.prior}"
            )
        return table

    def _units(self) -> str:
        return ", ".join(f"{n}: {m.n_total}" for n, m in zip(
            self.group_names, self.group_moments, strict=True)) + " respondents"
