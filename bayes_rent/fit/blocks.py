"""``BlockFit``: a fit made of blocks (lavaan's ``block`` = group × level), reported block-wise.

A multi-group fit has a block per group, a two-level fit a block per level. The posterior is
one set of draws for the whole model; every block is also an ordinary
:class:`~bayes_rent.fit.base.Fit` of its own rows sharing those draws
(:attr:`BlockFit.block_fits`), so the standardized solution, effects, R², reliability and
validity of a block are computed as for a single-group model, and stacked with the block's
column (``group`` or ``level``).
"""

from __future__ import annotations

from functools import cached_property

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.fit.base import Fit, parameter_names
from bayes_rent.results.summary import SUMMARY_COLUMNS

#: the indices a block-wise fit does not compute yet, listed with the reason
_INDICES = ["ppp", "brmsea", "bgammahat", "adj_bgammahat", "bmc", "bcfi", "btli", "srmr"]


class BlockFit(Fit):
    """A fit whose tables are its blocks' tables stacked with a block column.

    Subclasses name the column (:attr:`block_column`), the table column that holds each
    row's block (:attr:`block_key`, numbered from 1), why the χ²-based indices are not
    computed (:attr:`indices_undefined`), and how a block's own Fit is made
    (``_make_block_fit``); they set :attr:`block_names` before calling ``Fit.__init__``.

    Attributes
    ----------
    block_names : list
        The blocks' names, in the order of the table's block numbers 1, 2, ...
    """

    block_column: str = "block"
    block_key: str = "block"
    indices_undefined: str = ""
    block_names: list

    def _make_block_fit(self, k: int) -> Fit:
        raise TypeError(f"{type(self).__name__} does not say how its blocks are made")

    @cached_property
    def block_fits(self) -> list[Fit]:
        """Every block as a :class:`~bayes_rent.fit.base.Fit` of its own rows."""
        return [self._make_block_fit(k) for k in range(len(self.block_names))]

    def _shared_idata(self) -> az.InferenceData:
        """The posterior for a block's Fit: shared draws, without this fit's labelled rows."""
        return az.InferenceData(
            posterior=self.idata.posterior.drop_vars("parameters").copy(),
            sample_stats=self.idata.sample_stats,
        )

    def _stack(self, tables: list[pd.DataFrame], at: int = 0) -> pd.DataFrame:
        """Per-block tables stacked, with the block's name as a column."""
        parts = []
        for name, table in zip(self.block_names, tables, strict=True):
            table = table.copy()
            if self.block_column in table:
                table[self.block_column] = name  # the block's number, replaced by its name
            else:
                table.insert(at, self.block_column, name)
            parts.append(table)
        return pd.concat(parts, ignore_index=True)

    def _row_blocks(self, ids: pd.Series | np.ndarray | None = None) -> list:
        """The block name of every row (of the ``:=``-free table, or of the given ids)."""
        names = dict(enumerate(self.block_names, start=1))
        table = self.partable.set_index("id")[self.block_key]
        if ids is None:
            ids = self.partable.loc[self.partable["op"] != ":=", "id"]
        return [names[int(b)] for b in table.loc[np.asarray(ids)]]

    # ------------------------------------------------------------------ draws
    @cached_property
    def matrices(self) -> xr.Dataset:
        """Model matrices per draw and block: the single-group dims plus the block's dim.

        Blocks with different variables (the levels of a two-level model) are aligned on the
        union of the variables, NaN where a block has none.
        """
        return xr.concat(
            [f.matrices for f in self.block_fits],
            dim=pd.Index([str(n) for n in self.block_names], name=self.block_column),
            join="outer", fill_value=np.nan,
        )

    def _parameter_labels(self) -> list[str]:
        rows = self.partable.loc[self.partable["op"] != ":="]
        return [f"{n} [{b}]" for n, b in zip(parameter_names(rows), self._row_blocks(),
                                              strict=True)]

    # ------------------------------------------------------------------ tables
    def summary(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """One row per parameter and block: lavaan's parameter table with the block column.

        Rows tied across blocks (a shared label, ``group_equal``) repeat the same estimate in
        every block, as lavaan prints them.
        """
        table = super().summary(hdi_prob=hdi_prob)
        table.insert(3, self.block_column, self._row_blocks())
        return table

    def standardized(self, kind: str = "std_all", hdi_prob: float = 0.9) -> pd.DataFrame:
        """The standardized solution of every block (each block's own variances), stacked."""
        return self._stack(
            [f.standardized(kind=kind, hdi_prob=hdi_prob) for f in self.block_fits], at=3
        )

    def effects(self, **kwargs) -> pd.DataFrame:
        """Direct, indirect and total effects per block (the block's column first)."""
        return self._stack([f.effects(**kwargs) for f in self.block_fits])

    def r2(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """R² per block and endogenous variable."""
        return self._stack([f.r2(hdi_prob=hdi_prob) for f in self.block_fits])

    def reliability(self, hdi_prob: float = 0.9, seed: int | None = None) -> pd.DataFrame:
        """Alpha, composite reliability and AVE per block and construct."""
        return self._stack(
            [f.reliability(hdi_prob=hdi_prob, seed=seed) for f in self.block_fits]
        )

    def validity(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """HTMT and Fornell–Larcker per block."""
        return self._stack([f.validity(hdi_prob=hdi_prob) for f in self.block_fits])

    def fit_indices(self, *args, **kwargs) -> pd.DataFrame:
        """The χ²-based indices, each listed as not computed for this kind of fit, with why.

        Compare block-wise models with :meth:`loo` and ``br.compare`` (e.g. configural,
        metric and scalar invariance).
        """
        table = pd.DataFrame(np.nan, index=pd.Index(_INDICES, name="index"),
                             columns=list(SUMMARY_COLUMNS))
        table["defined"] = False
        table["reason"] = self.indices_undefined
        return table

    @property
    def priors(self) -> pd.DataFrame:
        """The prior of every free parameter, with its block."""
        table = super().priors
        table.insert(4, self.block_column, self._row_blocks(table["id"]))
        return table
