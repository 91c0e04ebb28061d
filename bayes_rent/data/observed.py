"""Observed data for the continuous (marginal) backend: checks and sufficient statistics.

With complete data the normal log-likelihood depends on the data only through the sample size,
mean vector and covariance matrix, so one gradient costs the same for 300 firms or 3 million.
With missing answers the rows are grouped by *missingness pattern*; each pattern contributes its
own (N, mean, covariance) over the variables it observed (full-information ML under MAR), so no
respondent is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

# DataError lives in bayes_rent.errors (the error contract); imported here so that
# ``bayes_rent.data.observed.DataError`` keeps working.
from bayes_rent.errors import DataError

__all__ = [
    "DataError", "ObservedMoments", "PatternStatistics", "Summarized", "check_data", "moments",
    "saturated_loglik", "saturated_loglik_at",
]


@dataclass
class ObservedMoments:
    """Per-pattern sufficient statistics, padded to a common width.

    Attributes
    ----------
    variables : list of str
        Observed variables in model order.
    n : numpy.ndarray
        Shape ``(K,)``: respondents per missingness pattern.
    mask : numpy.ndarray
        Shape ``(K, p)``: 1 where the pattern observes the variable.
    mean : numpy.ndarray
        Shape ``(K, p)``: pattern means (0 where not observed).
    factor : numpy.ndarray
        Shape ``(K, p, p)``: a matrix ``F`` with ``F Fᵀ`` equal to the pattern's covariance
        (divided by N), zero rows where not observed.
    n_total : int
        Respondents used (all rows with at least one answer).
    pattern_of_row : numpy.ndarray or None
        Each row's pattern (``-1``: no answer); None when the rows stayed on a Dask cluster.
    """

    variables: list[str]
    n: np.ndarray
    mask: np.ndarray
    mean: np.ndarray
    factor: np.ndarray
    n_total: int
    pattern_of_row: np.ndarray | None

    @property
    def complete(self) -> bool:
        return bool(self.mask.all())

    @property
    def scattered(self) -> bool:
        """Whether pattern-wise evaluation costs more than sampling the missing answers.

        One gradient costs about K·p³/3 by pattern and N·p² with augmentation (K patterns,
        p variables, N respondents).
        """
        p = self.mask.shape[1]
        return len(self.n) * p > 3 * self.n_total

    def as_data(self) -> dict[str, np.ndarray]:
        """The arrays the PyMC model holds as ``pm.Data``."""
        return {
            "pattern_n": self.n.astype(float),
            "pattern_mask": self.mask.astype(float),
            "pattern_mean": self.mean,
            "pattern_factor": self.factor,
        }


class Summarized(Protocol):
    """Rows known by their statistics only, such as a Dask DataFrame's
    (:class:`bayes_rent.data.distributed.DaskData`)."""

    @property
    def observed_moments(self) -> ObservedMoments: ...

    def __getitem__(self, columns: list[str]) -> Summarized: ...


def check_data(
    data: pd.DataFrame | Mapping[str, Any] | Summarized, variables: list[str], *,
    source: str = "data",
) -> pd.DataFrame | Summarized:
    """Check that the model's observed variables can be used, and return them as floats.

    Parameters
    ----------
    data : pandas.DataFrame or mapping of columns
        The respondents' data. A Dask DataFrame's data are checked on the cluster by
        :mod:`bayes_rent.validation` and arrive here as a
        :class:`~bayes_rent.data.distributed.DaskData`, which is returned with the model's
        columns.
    variables : list of str
        Observed variables named in the model.
    source : str
        How to name the data in messages (e.g. the file name).

    Returns
    -------
    pandas.DataFrame or DaskData
        The model's columns, as float, in model order (a Dask frame's statistics over them).

    Raises
    ------
    DataError
        For every problem found at once: columns absent, non-numeric cells (with their rows),
        constant columns, columns with no answers, or fewer respondents than variables.

    Examples
    --------
    >>> import pandas as pd
    >>> check_data(pd.DataFrame({"x": [1, 2, 3], "y": [2, 1, 3]}), ["x", "y"]).dtypes.tolist()
    [dtype('float64'), dtype('float64')]
    """
    if not isinstance(data, pd.DataFrame):
        if hasattr(data, "observed_moments"):  # a Dask frame's statistics, checked already
            return data[list(variables)]
        data = pd.DataFrame(data)
    problems = []
    absent = [v for v in variables if v not in data.columns]
    if absent:
        problems.append(
            f"{source}: column(s) {absent} are named in the model but are not in the data "
            f"(columns present: {list(data.columns)[:20]}{' ...' if data.shape[1] > 20 else ''})"
        )
    present = [v for v in variables if v in data.columns]
    out = pd.DataFrame(index=data.index)
    for v in present:
        col = data[v]
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if bad.any():
            rows = (np.flatnonzero(bad.to_numpy()) + 1)[:5].tolist()
            examples = col[bad].astype(str).head(3).tolist()
            problems.append(
                f"{source}: column '{v}' is not numeric: rows {rows} hold {examples}"
                + (" ..." if bad.sum() > 5 else "")
            )
            continue
        num = num.astype(float)
        if num.notna().sum() == 0:
            problems.append(f"{source}: column '{v}' has no values")
        elif num.nunique(dropna=True) == 1:
            problems.append(
                f"{source}: column '{v}' is constant ({num.dropna().iloc[0]:g}) and carries "
                "no information; drop it from the model"
            )
        out[v] = num
    if not problems:
        answered = out.notna().any(axis=1)
        n = int(answered.sum())
        if n <= len(variables):
            problems.append(
                f"{source}: {n} respondents with answers but {len(variables)} observed variables; "
                "the covariance matrix cannot be estimated with fewer respondents than variables"
            )
    if problems:
        raise DataError("\n".join(problems))
    return out[variables]


def moments(data: pd.DataFrame | Summarized) -> ObservedMoments:
    """Group respondents by missingness pattern and compute each pattern's statistics.

    Parameters
    ----------
    data : pandas.DataFrame or bayes_rent.data.distributed.DaskData
        Checked numeric data (see :func:`check_data`), columns in model order; NaN = missing.
        A Dask DataFrame checked by :func:`check_data` comes as its statistics, computed on
        the cluster (:mod:`bayes_rent.data.distributed`); they are returned as they are.

    Returns
    -------
    ObservedMoments

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 3, np.nan], "b": [2.0, 1, 4, 3]})
    >>> m = moments(d)
    >>> m.n.tolist(), m.mask.tolist()
    ([3, 1], [[1, 1], [0, 1]])
    """
    if not isinstance(data, pd.DataFrame) and hasattr(data, "observed_moments"):
        return data.observed_moments
    y = data.to_numpy(dtype=float)
    observed = ~np.isnan(y)
    keep = observed.any(axis=1)
    y, observed = y[keep], observed[keep]
    patterns, inverse, counts = np.unique(
        observed, axis=0, return_inverse=True, return_counts=True
    )
    inverse = inverse.ravel()
    k, p = patterns.shape
    mean = np.zeros((k, p))
    cov = np.zeros((k, p, p))
    for g in range(k):
        idx = np.flatnonzero(patterns[g])
        rows = y[inverse == g][:, patterns[g]]
        mu = rows.mean(axis=0)
        mean[g, idx] = mu
        cov[g][np.ix_(idx, idx)] = (rows - mu).T @ (rows - mu) / rows.shape[0]
    stats = PatternStatistics(list(data.columns), counts.astype(int), patterns.astype(int),
                              mean, cov)
    order, rank = stats.order()
    row_pattern = np.full(len(keep), -1)
    row_pattern[keep] = rank[inverse]
    return stats.take(order).observed_moments(row_pattern)


@dataclass
class PatternStatistics:
    """Count, mean and covariance (divided by N) of the rows of every missingness pattern.

    What :func:`moments` computes from the rows in memory and
    :func:`bayes_rent.data.distributed.dask_statistics` from a Dask DataFrame's partitions;
    both become an :class:`ObservedMoments` through :meth:`observed_moments`.

    Attributes
    ----------
    variables : list of str
        Columns in model order.
    n : numpy.ndarray
        ``(K,)`` rows per pattern.
    mask : numpy.ndarray
        ``(K, p)`` 1 where the pattern observes the variable.
    mean, cov : numpy.ndarray
        ``(K, p)`` and ``(K, p, p)``, zero where the pattern does not observe the variable.

    Examples
    --------
    >>> import numpy as np
    >>> s = PatternStatistics(["a", "b"], np.array([2, 1]), np.array([[0, 1], [1, 1]]),
    ...                       np.array([[0.0, 1.0], [2.0, 3.0]]), np.zeros((2, 2, 2)))
    >>> s.take(s.order()[0]).mask.tolist()  # complete rows first
    [[1, 1], [0, 1]]
    """

    variables: list[str]
    n: np.ndarray
    mask: np.ndarray
    mean: np.ndarray
    cov: np.ndarray

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """The order of the patterns in :class:`ObservedMoments`, and its inverse (rank).

        Complete rows first, so that a complete data set is exactly one pattern; then more
        answered variables first, then more rows first; ties in the patterns' lexicographic
        order (NumPy's ``unique``), so the order does not depend on where the rows came from.
        """
        lexicographic = np.lexsort(self.mask.T[::-1])
        mask, n = self.mask[lexicographic], self.n[lexicographic]
        order = lexicographic[np.lexsort((-n, -mask.sum(axis=1)))]
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return order, rank

    def take(self, index: np.ndarray) -> PatternStatistics:
        """The patterns at ``index``, in that order."""
        return PatternStatistics(self.variables, self.n[index], self.mask[index],
                                 self.mean[index], self.cov[index])

    def select(self, columns: list[str]) -> PatternStatistics:
        """The statistics of these columns only: patterns that agree on them are merged.

        Rows answering none of the columns are left out, as :func:`moments` leaves them out.
        Merging uses Chan et al.'s update of counts, means and cross-products.
        """
        if list(columns) == list(self.variables):
            return self
        at = [self.variables.index(c) for c in columns]
        merged: dict[bytes, list] = {}
        for g in range(len(self.n)):
            mask = self.mask[g, at].astype(bool)
            if not mask.any():
                continue
            n, mean = int(self.n[g]), self.mean[g, at]
            m2 = self.cov[g][np.ix_(at, at)] * n
            key = mask.tobytes()
            if key in merged:
                n0, mean0, m20 = merged[key]
                delta = mean - mean0
                total = n0 + n
                merged[key] = [total, mean0 + delta * n / total,
                               m20 + m2 + np.outer(delta, delta) * n0 * n / total]
            else:
                merged[key] = [n, mean, m2]
        cells = list(merged.items())
        q = len(at)
        stats = PatternStatistics(
            list(columns), np.array([c[0] for _, c in cells], dtype=int),
            np.array([np.frombuffer(k, dtype=bool) for k, _ in cells], dtype=int).reshape(-1, q),
            np.array([c[1] for _, c in cells]).reshape(-1, q),
            np.array([c[2] / c[0] for _, c in cells]).reshape(-1, q, q),
        )
        return stats.take(stats.order()[0])

    def observed_moments(self, pattern_of_row: np.ndarray | None = None) -> ObservedMoments:
        """The statistics as the marginal backend takes them: covariances as factors.

        Parameters
        ----------
        pattern_of_row : numpy.ndarray, optional
            Each row's pattern (``-1`` for rows without answers); None when the rows are not
            in memory (a Dask DataFrame).
        """
        k, p = self.mask.shape
        factor = np.zeros((k, p, p))
        for g in range(k):
            idx = np.flatnonzero(self.mask[g])
            w, v = np.linalg.eigh(self.cov[g][np.ix_(idx, idx)])
            factor[g][np.ix_(idx, idx)] = v * np.sqrt(np.clip(w, 0.0, None))
        return ObservedMoments(
            variables=list(self.variables), n=self.n.astype(int), mask=self.mask.astype(int),
            mean=self.mean, factor=factor, n_total=int(self.n.sum()),
            pattern_of_row=pattern_of_row,
        )

    def pairwise(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What pandas computes from pairwise-complete rows, from the pattern statistics.

        Returns
        -------
        n : numpy.ndarray
            ``(p, p)`` rows answering both variables.
        mean : numpy.ndarray
            ``(p,)`` each variable's mean over the rows that answer it (``DataFrame.mean``).
        cov : numpy.ndarray
            ``(p, p)`` covariances (divided by N) over the rows answering both; NaN where no
            row answers both. (``DataFrame.cov`` divides by N - 1 whenever a value is missing,
            whatever its ``ddof``.)
        corr : numpy.ndarray
            ``(p, p)`` Pearson correlations over the rows answering both
            (``DataFrame.corr()``).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> d = pd.DataFrame({"a": [1.0, 2, 4, np.nan, 3], "b": [2.0, 1, 4, 3, np.nan]})
        >>> m = moments(d)
        >>> s = PatternStatistics(m.variables, m.n, m.mask, m.mean,
        ...                       np.einsum("kij,klj->kil", m.factor, m.factor))
        >>> n, mean, cov, corr = s.pairwise()
        >>> bool(np.allclose(cov * n / (n - 1), d.cov()) and np.allclose(corr, d.corr()))
        True
        """
        k, p = self.mask.shape
        obs = self.mask.astype(bool)
        n = np.zeros((p, p))
        cov = np.full((p, p), np.nan)
        corr = np.full((p, p), np.nan)
        for i in range(p):
            for j in range(i, p):
                both = obs[:, i] & obs[:, j]
                nk = self.n[both].astype(float)
                n[i, j] = n[j, i] = nk.sum()
                if nk.sum() == 0:
                    continue
                # the pair's means over its own rows, then the within- plus between-pattern parts
                mi = nk @ self.mean[both, i] / nk.sum()
                mj = nk @ self.mean[both, j] / nk.sum()
                di, dj = self.mean[both, i] - mi, self.mean[both, j] - mj
                cij = nk @ (self.cov[both, i, j] + di * dj) / nk.sum()
                cii = nk @ (self.cov[both, i, i] + di * di) / nk.sum()
                cjj = nk @ (self.cov[both, j, j] + dj * dj) / nk.sum()
                cov[i, j] = cov[j, i] = cij
                corr[i, j] = corr[j, i] = cij / np.sqrt(cii * cjj)
        answered = self.mask.T @ self.n
        mean = np.where(answered > 0, (self.mean * self.n[:, None]).sum(axis=0)
                        / np.maximum(answered, 1), np.nan)
        return n, mean, cov, corr


def saturated_loglik(m: ObservedMoments) -> float:
    """Log-likelihood of the saturated (unrestricted) model for complete data.

    Parameters
    ----------
    m : ObservedMoments
        Moments of a complete data set (a single pattern).
    """
    if not m.complete:
        raise ValueError("the closed-form saturated log-likelihood needs complete data")
    return float(saturated_loglik_at(m.factor[0] @ m.factor[0].T, m.n[0]))


def saturated_loglik_at(sigma: np.ndarray, n: float) -> np.ndarray:
    """The saturated normal log-likelihood of ``n`` complete rows whose covariance (divided by
    N) is ``sigma``, shape ``(..., p, p)``: ``-n/2 (p log 2π + log|S| + p)``.

    Examples
    --------
    >>> round(float(saturated_loglik_at(np.eye(2), 10)), 3)
    -28.379
    """
    p = sigma.shape[-1]
    _, logdet = np.linalg.slogdet(sigma)
    return -0.5 * n * (p * np.log(2 * np.pi) + logdet + p)
