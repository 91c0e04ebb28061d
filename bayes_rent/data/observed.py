"""Observed data for the continuous (marginal) backend: checks and sufficient statistics.

With complete data the normal log-likelihood depends on the data only through the sample size,
mean vector and covariance matrix, so one gradient costs the same for 300 firms or 3 million.
With missing answers the rows are grouped by *missingness pattern*; each pattern contributes its
own (N, mean, covariance) over the variables it observed (full-information ML under MAR), so no
respondent is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# DataError lives in bayes_rent.errors (the error contract); imported here so that
# ``bayes_rent.data.observed.DataError`` keeps working.
from bayes_rent.errors import DataError

__all__ = [
    "DataError", "ObservedMoments", "check_data", "moments", "saturated_loglik",
    "saturated_loglik_at",
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
    """

    variables: list[str]
    n: np.ndarray
    mask: np.ndarray
    mean: np.ndarray
    factor: np.ndarray
    n_total: int
    pattern_of_row: np.ndarray

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


def check_data(data: pd.DataFrame, variables: list[str], *, source: str = "data") -> pd.DataFrame:
    """Check that the model's observed variables can be used, and return them as floats.

    Parameters
    ----------
    data : pandas.DataFrame
        The respondents' data.
    variables : list of str
        Observed variables named in the model.
    source : str
        How to name the data in messages (e.g. the file name).

    Returns
    -------
    pandas.DataFrame
        The model's columns, as float, in model order.

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


def moments(data: pd.DataFrame) -> ObservedMoments:
    """Group respondents by missingness pattern and compute each pattern's statistics.

    Parameters
    ----------
    data : pandas.DataFrame
        Checked numeric data (see :func:`check_data`), columns in model order; NaN = missing.

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
    y = data.to_numpy(dtype=float)
    observed = ~np.isnan(y)
    keep = observed.any(axis=1)
    y, observed = y[keep], observed[keep]
    patterns, inverse, counts = np.unique(
        observed, axis=0, return_inverse=True, return_counts=True
    )
    # complete rows first, so a complete data set is exactly one pattern
    order = np.lexsort((-counts, -patterns.sum(axis=1)))
    patterns, counts = patterns[order], counts[order]
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inverse = rank[inverse.ravel()]
    k, p = patterns.shape
    mean = np.zeros((k, p))
    factor = np.zeros((k, p, p))
    for g in range(k):
        rows = y[inverse == g][:, patterns[g]]
        mu = rows.mean(axis=0)
        cov = (rows - mu).T @ (rows - mu) / rows.shape[0]
        w, v = np.linalg.eigh(cov)
        f = v * np.sqrt(np.clip(w, 0.0, None))
        idx = np.flatnonzero(patterns[g])
        mean[g, idx] = mu
        factor[g][np.ix_(idx, idx)] = f
    row_pattern = np.full(len(keep), -1)
    row_pattern[keep] = inverse
    return ObservedMoments(
        variables=list(data.columns),
        n=counts.astype(int),
        mask=patterns.astype(int),
        mean=mean,
        factor=factor,
        n_total=int(keep.sum()),
        pattern_of_row=row_pattern,
    )


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
