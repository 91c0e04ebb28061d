"""Data larger than memory: a Dask DataFrame's sufficient statistics, computed on the cluster.

The marginal likelihood of continuous items depends on the data only through each missingness
pattern's count, mean vector and covariance matrix (:mod:`bayes_rent.data.observed`). For a Dask
DataFrame (``pip install "bayes-rent[dask]"``) these are computed where the partitions live:
every partition is summarized by a small task (per group and pattern: the count, the mean and
the centred cross-products ``Σ (x - x̄)(x - x̄)ᵀ``), and the summaries are merged pairwise up a
tree with the parallel update of Chan, Golub and LeVeque (1979)::

    n = n_a + n_b,  δ = x̄_b - x̄_a,  x̄ = x̄_a + δ n_b / n,  M = M_a + M_b + δ δᵀ n_a n_b / n

Rows are centred on the means of their own slice (a partition, summarized up to
:data:`CHUNK_ROWS` rows at a time), so no raw ``Σ x²`` over millions of rows is ever formed (its
cancellation would lose digits as the means grow against the spreads). The same pass counts
what validation needs: answers per column, their smallest and largest value (per group),
infinite values and answers outside a declared scale (with their first rows), rows without a
group, and code-like values such as -99 (:data:`CODE_LIKE`). Only these summaries, a few
kilobytes, come back; the fit then runs on this machine from the statistics, by the normal route
(the generic density for continuous models).

Dask is imported only when a Dask DataFrame is given: the package works without it.

Examples
--------
>>> import dask.dataframe as dd, numpy as np, pandas as pd
>>> frame = pd.DataFrame({"a": [1.0, 2, 4, np.nan], "b": [2.0, 1, 4, 3]})
>>> summary = dask_statistics(dd.from_pandas(frame, npartitions=2), ["a", "b"])
>>> summary.pooled.n.tolist(), summary.pooled.mask.tolist()
([3, 1], [[1, 1], [0, 1]])
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_rent.data.observed import ObservedMoments, PatternStatistics
from bayes_rent.errors import DataError

__all__ = [
    "CODE_LIKE", "MAX_PATTERNS", "DaskData", "DaskSummary", "dask_statistics", "is_dask_frame",
    "suspicious_codes",
]

#: More missingness patterns than this (per group) are not summarized: the statistics would no
#: longer be small, and data that scattered need each row (data augmentation).
MAX_PATTERNS = 2000
#: Partition summaries merged per task of the reduction tree.
SPLIT_EVERY = 8
#: Rows of a partition summarized at a time (then merged): bounds the temporary copies.
CHUNK_ROWS = 1 << 17
#: Rows (or values) listed per problem in a message.
_SHOWN = 5
#: Values written like a survey program's "no answer" code (runs of 9s or 8s, as
#: ``bayes_rent.validation`` recognizes them), up to seven digits, both signs: counted in the
#: pass so that undeclared codes can be warned about without reading every value.
CODE_LIKE = np.array(sorted(
    sign * float(text)
    for digits in range(1, 8)
    for text in ("9" * digits, "9" * (digits - 1) + "8")
    for sign in (1, -1)
))
#: Distinct values kept per column for the "few categories" test of the code warning.
_CATEGORIES = 11


def is_dask_frame(obj: Any) -> bool:
    """Whether ``obj`` is a Dask DataFrame, without importing Dask.

    A Dask DataFrame can only exist once ``dask.dataframe`` is imported, so this imports
    nothing and costs nothing when Dask is not in use.

    Examples
    --------
    >>> import pandas as pd
    >>> is_dask_frame(pd.DataFrame({"x": [1.0]}))
    False
    """
    module = sys.modules.get("dask.dataframe")
    return module is not None and isinstance(obj, module.DataFrame)


# ------------------------------------------------------------------ partition summaries
@dataclass
class _Summary:
    """The statistics and checks of some partitions (merged up the reduction tree)."""

    groups: list  # in order of first appearance; [None] without a group column
    cells: dict  # (group, pattern bytes) -> (n, mean (p,), centred cross-products (p, p))
    count: dict  # group -> answers per column (p,)
    low: dict  # group -> smallest answer per column (p,)
    high: dict  # group -> largest answer per column (p,)
    rows: int = 0
    group_rows: dict = field(default_factory=dict)  # group -> rows
    infinite: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    infinite_at: list = field(default_factory=list)
    outside: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    outside_values: list = field(default_factory=list)
    outside_at: list = field(default_factory=list)
    no_group: int = 0
    no_group_at: list = field(default_factory=list)
    overflow: bool = False
    # per column: code-like values with their count and first rows; the other finite
    # answers' count, range, whether all are whole numbers, and their values (None: > 11)
    codes: list = field(default_factory=list)
    code_at: list = field(default_factory=list)
    plain: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    plain_low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    plain_high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    plain_whole: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    plain_values: list = field(default_factory=list)


def _pattern_codes(observed: np.ndarray) -> np.ndarray:
    """A small integer per distinct row of the boolean ``observed``."""
    packed = np.packbits(observed, axis=1)
    if packed.shape[1] <= 8:
        # up to 64 variables: one uint64 per row, hashed by pandas in O(n)
        wide = np.zeros((packed.shape[0], 8), dtype=np.uint8)
        wide[:, : packed.shape[1]] = packed
        return pd.factorize(wide.view(np.uint64).ravel())[0]
    return np.unique(packed, axis=0, return_inverse=True)[1].ravel()


def _summarize(part: pd.DataFrame, variables: list[str], group: str | None,
               low: np.ndarray, high: np.ndarray) -> _Summary:
    """One partition's summary (runs on a worker)."""
    # infinite answers make NaN statistics; they are counted here and refused after the pass
    with np.errstate(invalid="ignore", over="ignore"):
        return _summarize_rows(part, variables, group, low, high)


def _summarize_rows(part: pd.DataFrame, variables: list[str], group: str | None,
                    low: np.ndarray, high: np.ndarray) -> _Summary:
    p = len(variables)
    y = part[variables].to_numpy(dtype=float, na_value=np.nan)
    index = part.index
    infinite = np.isinf(y)
    outside = np.isfinite(y) & ((y < low) | (y > high))
    out = _Summary(
        groups=[], cells={}, count={}, low={}, high={}, rows=len(part),
        infinite=infinite.sum(axis=0),
        infinite_at=[index[infinite[:, j]][:_SHOWN].tolist() for j in range(p)],
        outside=outside.sum(axis=0),
        outside_values=[sorted(set(y[outside[:, j], j].tolist()))[:_SHOWN] for j in range(p)],
        outside_at=[index[outside[:, j]][:_SHOWN].tolist() for j in range(p)],
    )
    if group is None:
        codes, labels = np.zeros(len(part), dtype=np.int64), [None]
    else:
        codes, uniques = pd.factorize(part[group])  # first appearance; -1 for missing
        labels = list(uniques)
        out.no_group = int((codes < 0).sum())
        out.no_group_at = index[codes < 0][:_SHOWN].tolist()
    out.groups = labels
    _count_codes(out, y, index)
    observed = ~np.isnan(y)
    for g, label in enumerate(labels):
        # without groups every row is the group's: no copy of the partition
        yg = y if len(labels) == 1 and out.no_group == 0 else y[codes == g]
        out.count[label] = (~np.isnan(yg)).sum(axis=0)
        out.low[label] = np.fmin.reduce(yg, axis=0, initial=np.inf)
        out.high[label] = np.fmax.reduce(yg, axis=0, initial=-np.inf)
        out.group_rows[label] = len(yg)
    # rows in slices, so that the copies below stay small however large the partition
    for at in range(0, len(y), CHUNK_ROWS):
        rows = slice(at, at + CHUNK_ROWS)
        if not _add_cells(out, y[rows], observed[rows], codes[rows], labels):
            out.overflow, out.cells = True, {}
            break
    return out


def _count_codes(out: _Summary, y: np.ndarray, index: pd.Index) -> None:
    """What the undeclared-code warning needs, per column (see :data:`CODE_LIKE`)."""
    p = y.shape[1]
    whole = y == np.round(y)
    # codes are whole numbers of 8 or more: only those few are looked up among the codes
    candidate = whole & (np.abs(y) >= 8)
    coded = np.zeros_like(candidate)
    coded[candidate] = np.isin(y[candidate], CODE_LIKE)
    plain = np.isfinite(y) & ~coded
    out.codes, out.code_at, out.plain_values = [], [], []
    out.plain = plain.sum(axis=0)
    out.plain_low = np.where(plain, y, np.inf).min(axis=0, initial=np.inf)
    out.plain_high = np.where(plain, y, -np.inf).max(axis=0, initial=-np.inf)
    out.plain_whole = (whole | ~plain).all(axis=0)
    for j in range(p):
        if not out.plain_whole[j]:
            out.plain_values.append(None)
        else:
            distinct = pd.unique(y[plain[:, j], j])
            out.plain_values.append(set(distinct.tolist()) if distinct.size <= _CATEGORIES
                                    else None)
        if not coded[:, j].any():
            out.codes.append({})
            out.code_at.append({})
            continue
        found, counts = np.unique(y[coded[:, j], j], return_counts=True)
        out.codes.append(dict(zip(found.tolist(), counts.tolist(), strict=True)))
        out.code_at.append({c: index[y[:, j] == c][:_SHOWN].tolist() for c in found.tolist()})


def _merge_codes(out: _Summary, parts: list[_Summary]) -> None:
    p = len(parts[0].codes)
    out.plain = sum(s.plain for s in parts)
    out.plain_low = np.min([s.plain_low for s in parts], axis=0)
    out.plain_high = np.max([s.plain_high for s in parts], axis=0)
    out.plain_whole = np.all([s.plain_whole for s in parts], axis=0)
    out.codes, out.code_at, out.plain_values = [], [], []
    for j in range(p):
        counts: dict = {}
        rows: dict = {}
        for s in parts:
            for code, n in s.codes[j].items():
                counts[code] = counts.get(code, 0) + n
                rows[code] = (rows.get(code, []) + s.code_at[j][code])[:_SHOWN]
        out.codes.append(counts)
        out.code_at.append(rows)
        values = [s.plain_values[j] for s in parts]
        merged = None if any(v is None for v in values) else set().union(*values)
        out.plain_values.append(merged if merged is not None and len(merged) <= _CATEGORIES
                                else None)


def suspicious_codes(summary: Any, j: int) -> list[tuple[float, int, list]]:
    """Undeclared code-like values of column ``j``, by the rule of
    :func:`bayes_rent.validation.suspicious_codes`, from a pass's counts.

    The other answers are those that are not code-like at all (the in-memory rule keeps other
    codes among them); an integer item has few categories when at most 11 values occur.

    Returns
    -------
    list of (code, count, first rows)
    """
    found = []
    finite = summary.plain[j] + sum(summary.codes[j].values())
    low, high = summary.plain_low[j], summary.plain_high[j]
    if summary.plain[j] < 2:
        return found
    likert = bool(summary.plain_whole[j]) and summary.plain_values[j] is not None
    for code, count in sorted(summary.codes[j].items()):
        if count > 0.2 * finite:
            continue
        gap = max(low - code, code - high)
        if gap > 0 and (likert or gap >= max(high - low, 1.0)):
            found.append((float(code), int(count), summary.code_at[j][code]))
    return found


def _add_cells(out: _Summary, y: np.ndarray, observed: np.ndarray, codes: np.ndarray,
               labels: list) -> bool:
    """Add some rows' statistics per group and pattern to ``out``; False: too many patterns."""
    keep = observed.any(axis=1) & (codes >= 0)
    if not keep.all():
        y, observed, codes = y[keep], observed[keep], codes[keep]
    if not len(y):
        return True
    pattern = _pattern_codes(observed)
    cell, _ = pd.factorize(codes * (pattern.max() + 1) + pattern)
    cells = int(cell.max()) + 1
    if cells > MAX_PATTERNS * len(labels):
        return False
    if cells <= 16:  # a few patterns: a scan per pattern beats a sort
        groups = [np.flatnonzero(cell == k) for k in range(cells)]
    else:
        order = np.argsort(cell, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(cell[order])) + 1)
    p = y.shape[1]
    for rows in groups:
        first = rows[0]
        mask = observed[first]
        idx = np.flatnonzero(mask)
        # written as data.observed.moments computes it from the rows in memory (the same
        # memory layout, and two operands rather than one, which NumPy would hand to a
        # symmetric BLAS kernel): the same summation order, so that a partition of up to
        # CHUNK_ROWS rows gives the same bits
        block = y[rows][:, mask]
        mean = block.mean(axis=0)
        full_mean = np.zeros(p)
        full_mean[idx] = mean
        m2 = np.zeros((p, p))
        m2[np.ix_(idx, idx)] = (block - mean).T @ (block - mean)
        key = (labels[codes[first]], mask.tobytes())
        cell_stats = (len(rows), full_mean, m2)
        out.cells[key] = _merge_cell(out.cells[key], cell_stats) if key in out.cells else cell_stats
    return len(out.cells) <= MAX_PATTERNS * len(labels)


def _merge_cell(a: tuple, b: tuple) -> tuple:
    """Chan et al.'s update: two sets of rows of one pattern as one."""
    na, ma, sa = a
    nb, mb, sb = b
    n = na + nb
    with np.errstate(invalid="ignore", over="ignore"):  # NaN from infinite answers, refused
        delta = mb - ma
        return n, ma + delta * (nb / n), sa + sb + np.outer(delta, delta) * (na * nb / n)


def _first(lists: list[list]) -> list:
    return [sum(column, [])[:_SHOWN] for column in zip(*lists, strict=True)]


def _merge(parts: list[_Summary]) -> _Summary:
    """Summaries of consecutive partitions as one (keeps the partitions' order)."""
    parts = [s for s in parts if s.rows] or parts[:1]
    groups: list = []
    for s in parts:
        groups += [g for g in s.groups if g not in groups]
    out = _Summary(
        groups=groups, cells={}, count={}, low={}, high={},
        rows=sum(s.rows for s in parts),
        infinite=sum(s.infinite for s in parts),
        infinite_at=_first([s.infinite_at for s in parts]),
        outside=sum(s.outside for s in parts),
        outside_values=[sorted(set(sum(v, [])))[:_SHOWN]
                        for v in zip(*(s.outside_values for s in parts), strict=True)],
        outside_at=_first([s.outside_at for s in parts]),
        no_group=sum(s.no_group for s in parts),
        no_group_at=sum((s.no_group_at for s in parts), [])[:_SHOWN],
        overflow=any(s.overflow for s in parts),
    )
    _merge_codes(out, parts)
    for s in parts:
        for g in s.groups:
            if g in out.count:
                out.group_rows[g] = out.group_rows[g] + s.group_rows[g]
                out.count[g] = out.count[g] + s.count[g]
                out.low[g] = np.fmin(out.low[g], s.low[g])
                out.high[g] = np.fmax(out.high[g], s.high[g])
            else:
                out.count[g], out.low[g], out.high[g] = s.count[g], s.low[g], s.high[g]
                out.group_rows[g] = s.group_rows[g]
        if out.overflow:
            continue
        for key, cell in s.cells.items():
            out.cells[key] = _merge_cell(out.cells[key], cell) if key in out.cells else cell
    if out.overflow or len(out.cells) > MAX_PATTERNS * max(len(groups), 1):
        out.overflow, out.cells = True, {}
    return out


@dataclass
class DaskSummary:
    """What one pass over a Dask DataFrame returns: statistics and checks.

    Attributes
    ----------
    variables : list of str
        The model's columns, in model order.
    group : str or None
        The group column.
    statistics : dict
        Per group (key ``None`` without a group column): its
        :class:`~bayes_rent.data.observed.PatternStatistics`, patterns in the order of
        :func:`~bayes_rent.data.observed.moments`.
    pooled : PatternStatistics
        All groups together, per pattern.
    groups : list
        The groups in order of first appearance (lavaan's order); ``[None]`` without groups.
    rows : int
        Rows of the frame (with or without answers).
    group_rows : dict
        Rows per group (with or without answers).
    count, low, high : dict
        Per group: answers per column, smallest and largest answer (``(p,)`` arrays).
    infinite, infinite_at, outside, outside_values, outside_at, no_group, no_group_at
        Counts of infinite values and answers outside the scale per column (with their first
        rows by index label and the values), and of rows without a group.
    too_many_patterns : bool
        More than :data:`MAX_PATTERNS` missingness patterns (per group): no statistics.
    codes, code_at, plain, plain_low, plain_high, plain_whole, plain_values
        Per column, for the undeclared-code warning (:func:`suspicious_codes`).
    """

    variables: list[str]
    group: str | None
    statistics: dict
    pooled: PatternStatistics
    groups: list
    rows: int
    group_rows: dict
    count: dict
    low: dict
    high: dict
    infinite: np.ndarray
    infinite_at: list
    outside: np.ndarray
    outside_values: list
    outside_at: list
    no_group: int
    no_group_at: list
    too_many_patterns: bool
    codes: list
    code_at: list
    plain: np.ndarray
    plain_low: np.ndarray
    plain_high: np.ndarray
    plain_whole: np.ndarray
    plain_values: list


def _pattern_statistics(variables: list[str], cells: list[tuple[bytes, tuple]]
                        ) -> PatternStatistics:
    p = len(variables)
    if not cells:
        return PatternStatistics(list(variables), np.zeros(0, dtype=int),
                                 np.zeros((0, p), dtype=int), np.zeros((0, p)),
                                 np.zeros((0, p, p)))
    masks = np.array([np.frombuffer(key, dtype=bool) for key, _ in cells], dtype=int)
    n = np.array([c[0] for _, c in cells], dtype=int)
    mean = np.array([c[1] for _, c in cells])
    cov = np.array([c[2] / c[0] for _, c in cells])
    stats = PatternStatistics(list(variables), n, masks, mean, cov)
    return stats.take(stats.order()[0])


def dask_statistics(
    frame: Any, variables: list[str], *, group: str | None = None,
    scale: dict[str, tuple[float, float]] | None = None, split_every: int = SPLIT_EVERY,
) -> DaskSummary:
    """Compute the sufficient statistics and the checks of a Dask DataFrame in one pass.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        Numeric columns (missing-value codes already NaN); read lazily, e.g. from parquet.
    variables : list of str
        The model's observed variables, in model order.
    group : str, optional
        Column naming each row's group: the statistics are computed per group.
    scale : mapping of column to (low, high), optional
        Declared answer scales; answers outside are counted.
    split_every : int
        Partition summaries merged per task of the reduction tree.

    Returns
    -------
    DaskSummary

    Examples
    --------
    >>> import dask.dataframe as dd, numpy as np, pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 4, np.nan], "b": [2.0, 1, 4, 3], "g": [1, 2, 1, 2]})
    >>> s = dask_statistics(dd.from_pandas(d, npartitions=2), ["a", "b"], group="g")
    >>> s.groups, s.statistics[1].n.tolist(), s.statistics[2].mask.tolist()
    ([1, 2], [2], [[1, 1], [0, 1]])
    """
    import dask

    scale = scale or {}
    low = np.array([scale.get(v, (-np.inf, np.inf))[0] for v in variables], dtype=float)
    high = np.array([scale.get(v, (-np.inf, np.inf))[1] for v in variables], dtype=float)
    columns = list(variables) + ([group] if group is not None else [])
    summarize = dask.delayed(_summarize, pure=True)
    merge = dask.delayed(_merge, pure=True)
    # one task per partition; only the column projection reaches the reader
    level = [summarize(part, list(variables), group, low, high)
             for part in frame[columns].to_delayed()]
    while len(level) > 1:
        level = [merge(level[i:i + split_every]) for i in range(0, len(level), split_every)]
    (total,) = dask.compute(merge(level))
    statistics = {
        g: _pattern_statistics(variables, [(k[1], c) for k, c in total.cells.items() if k[0] == g])
        for g in total.groups
    }
    pooled_cells: dict = {}
    for g in total.groups:
        for key, cell in total.cells.items():
            if key[0] == g:
                pooled_cells[key[1]] = (_merge_cell(pooled_cells[key[1]], cell)
                                        if key[1] in pooled_cells else cell)
    return DaskSummary(
        variables=list(variables), group=group, statistics=statistics,
        pooled=_pattern_statistics(variables, list(pooled_cells.items())),
        groups=total.groups, rows=total.rows, group_rows=total.group_rows,
        count=total.count, low=total.low, high=total.high, infinite=np.asarray(total.infinite),
        infinite_at=total.infinite_at, outside=np.asarray(total.outside),
        outside_values=total.outside_values, outside_at=total.outside_at,
        no_group=total.no_group, no_group_at=total.no_group_at,
        too_many_patterns=total.overflow, codes=total.codes, code_at=total.code_at,
        plain=total.plain, plain_low=total.plain_low, plain_high=total.plain_high,
        plain_whole=total.plain_whole, plain_values=total.plain_values,
    )


# ------------------------------------------------------------------ the fitting route's view
_ROWS = (
    "the rows of this Dask DataFrame stayed on the cluster: the fit used only their "
    "sufficient statistics (per group and missingness pattern: count, means, covariances). "
    "Per-respondent results need every row in memory: fit.log_likelihood(), fit.loo(), "
    "fit.waic(), br.compare(), fit.scores(), fit.fit_indices() (its pD is LOO's p_loo), "
    "Cronbach's alpha in fit.reliability() and the data's HTMT in fit.validity(). For them, "
    "fit the model to a pandas DataFrame, "
    "e.g. a sample of the rows: ddf.sample(frac=0.01, random_state=1).compute()"
)


class DaskData:
    """A Dask DataFrame checked and summarized on the cluster, as the fitting route sees it.

    :func:`bayes_rent.validation.validate_fit_request` returns one for a Dask DataFrame, and
    :meth:`bayes_rent.model.Model.fit` goes on with it in place of the rows. It answers what
    the route asks of a data frame from the statistics: the columns, the number of rows, the
    pairwise-complete means, covariances and correlations that pandas would give (marker
    checks and start values), each group's rows (``data[group] == name``), and
    :attr:`observed_moments`. Anything that needs the rows themselves (``to_numpy``,
    ``index``, ...) raises a :class:`~bayes_rent.errors.DataError` that says why.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        The data (missing-value codes already NaN), kept lazy.
    summary : DaskSummary
        What :func:`dask_statistics` computed.
    group : object, optional
        For the rows of one group: its name (``summary.statistics[group]``).
    columns : list of str, optional
        The observed columns this view holds (by default all of ``summary.variables``).

    Examples
    --------
    >>> import dask.dataframe as dd, numpy as np, pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 4, np.nan, 3], "b": [2.0, 1, 4, 3, np.nan]})
    >>> frame = dd.from_pandas(d, npartitions=2)
    >>> rows = DaskData(frame, dask_statistics(frame, ["a", "b"]))
    >>> bool(np.allclose(rows.cov(), d.cov()) and np.allclose(rows.corr(), d.corr()))
    True
    >>> rows.to_numpy()
    Traceback (most recent call last):
    ...
    bayes_rent.errors.DataError: data .to_numpy: the rows of this Dask DataFrame stayed ...
    """

    def __init__(self, frame: Any, summary: DaskSummary, *, group: Any = None,
                 columns: list[str] | None = None, by_group: bool | None = None) -> None:
        self.frame = frame
        self.summary = summary
        self.group = group
        self.variables = list(columns if columns is not None else summary.variables)
        # the whole frame with its group column, or one group's (or all groups') rows without
        self.by_group = summary.group is not None if by_group is None else by_group

    # -- what the route reads
    @property
    def source(self) -> str:
        return "data" if self.group is None else f"group {self.group!r}"

    @property
    def statistics(self) -> PatternStatistics:
        """The pattern statistics of these rows, over :attr:`variables`."""
        stats = (self.summary.pooled if self.group is None
                 else self.summary.statistics[self.group])
        return stats.select(self.variables)

    @property
    def observed_moments(self) -> ObservedMoments:
        """The marginal backend's statistics (no row-to-pattern map: the rows are remote)."""
        return self.statistics.observed_moments()

    @property
    def group_names(self) -> list:
        """The groups in order of first appearance in the frame."""
        return list(self.summary.groups)

    @property
    def columns(self) -> pd.Index:
        extra = [self.summary.group] if self.by_group else []
        return pd.Index(self.variables + extra)

    def __len__(self) -> int:
        if self.group is None:
            return int(self.summary.rows)
        return int(self.summary.group_rows[self.group])

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str) and self.by_group and key == self.summary.group:
            return _GroupColumn(self)
        if isinstance(key, str):
            raise DataError(f"column '{key}' of {self.source}: {_ROWS}")
        unknown = [k for k in key if k not in self.variables]
        if unknown:
            raise KeyError(f"{unknown} not among the columns {self.variables}")
        return DaskData(self.frame, self.summary, group=self.group, columns=list(key),
                        by_group=False)

    @property
    def loc(self) -> _GroupLocator:
        return _GroupLocator(self)

    def drop(self, columns: Any = None, **_: Any) -> DaskData:
        """These rows without the group column (the only column a fit drops)."""
        dropped = [columns] if isinstance(columns, str) else list(columns or [])
        return DaskData(self.frame, self.summary, group=self.group,
                        columns=[v for v in self.variables if v not in dropped],
                        by_group=self.by_group and self.summary.group not in dropped)

    def assign(self, **columns: Any) -> DaskData:
        """These rows with their group column back (the only column a fit adds)."""
        if list(columns) != [self.summary.group] or not isinstance(
                columns[self.summary.group], _GroupColumn):
            raise DataError(f"adding columns to {self.source}: {_ROWS}")
        return DaskData(self.frame, self.summary, group=self.group, columns=self.variables,
                        by_group=True)

    def group_rows(self, name: Any) -> DaskData:
        """One group's rows (its statistics), without the group column."""
        if name not in self.summary.statistics:
            raise KeyError(f"no group {name!r}; the groups are {self.group_names}")
        return DaskData(self.frame, self.summary, group=name, columns=self.variables,
                        by_group=False)

    def mean(self) -> pd.Series:
        """Each column's mean over the rows that answer it, as ``DataFrame.mean``."""
        return pd.Series(self.statistics.pairwise()[1], index=self.variables)

    def cov(self, ddof: int = 1) -> pd.DataFrame:
        """Pairwise-complete covariances, as ``DataFrame.cov(ddof=ddof)`` gives them.

        pandas applies ``ddof`` only when no value is missing and divides by N - 1 otherwise;
        so does this, so that start values are the same as from the rows in memory.
        """
        stats = self.statistics
        n, _, cov, _ = stats.pairwise()
        if not stats.mask.all() or stats.n.sum() < len(self):
            ddof = 1
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = np.where(n > ddof, cov * n / (n - ddof), np.nan)
        return pd.DataFrame(cov, index=self.variables, columns=self.variables)

    def corr(self) -> pd.DataFrame:
        """Pairwise-complete Pearson correlations, as ``DataFrame.corr()``."""
        corr = self.statistics.pairwise()[3]
        return pd.DataFrame(corr, index=self.variables, columns=self.variables)

    def notna(self) -> _Answered:
        """Which rows answer: only ``.any(axis=1).sum()`` (the rows with an answer) is known."""
        return _Answered(int(self.statistics.n.sum()))

    def __getattr__(self, name: str) -> Any:
        # everything else a pandas frame offers needs the rows
        if name.startswith("_"):
            raise AttributeError(name)
        raise DataError(f"{self.source} .{name}: {_ROWS}")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise DataError(f"{self.source} as an array: {_ROWS}")

    def __repr__(self) -> str:
        what = "" if self.group is None else f", group {self.group!r}"
        return (f"<DaskData: {len(self)} rows on the cluster{what}, "
                f"{len(self.variables)} columns, {len(self.statistics.n)} missingness patterns>")


class _GroupColumn:
    """``data[group_column]`` of a :class:`DaskData`: compared with a name, selects a group."""

    def __init__(self, rows: DaskData) -> None:
        self.rows = rows

    def __eq__(self, name: object) -> _GroupIs:  # type: ignore[override]
        return _GroupIs(name)

    def to_numpy(self) -> _GroupColumn:
        return self

    __hash__ = None  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise DataError(f"the group column .{name}: {_ROWS}")


@dataclass(frozen=True)
class _GroupIs:
    name: Any

    def to_numpy(self) -> _GroupIs:
        return self


class _GroupLocator:
    def __init__(self, rows: DaskData) -> None:
        self.rows = rows

    def __getitem__(self, key: Any) -> DaskData:
        if isinstance(key, _GroupIs):
            keep = self.rows.by_group
            part = self.rows.group_rows(key.name)
            part.by_group = keep  # .drop(columns=group) follows in GroupFit
            return part
        raise DataError(f"selecting rows of the data: {_ROWS}")


@dataclass(frozen=True)
class _Answered:
    """``frame.notna()`` of a :class:`DaskData`: ``.any(axis=1).sum()`` is the answered rows."""

    rows: int

    def any(self, axis: int = 0) -> _Answered:
        if axis != 1:
            raise DataError(f"per-column answers: {_ROWS}")
        return self

    def sum(self) -> int:
        return self.rows
