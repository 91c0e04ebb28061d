"""Indicator weights: entropy method, equal, AHP, user-given and Dirichlet-perturbed.

Entropy method (e.g. Zou, Yun & Sun 2006; the form used across Chinese evaluation studies). For
``n`` samples and non-negative, already normalised indicators ``x_tj``::

    p_tj = x_tj / Σ_t x_tj
    e_j  = −(1 / ln n) Σ_t p_tj ln p_tj          (with 0·ln 0 = 0)
    d_j  = 1 − e_j                                (degree of divergence)
    w_j  = d_j / Σ_j d_j

AHP (Saaty 1977, 1980). Weights are the normalised principal right eigenvector of the reciprocal
pairwise-comparison matrix ``A`` (or the normalised row geometric means), with::

    CI = (λ_max − n) / (n − 1),     CR = CI / RI(n)

and Saaty's random indices ``RI``. A judgement matrix with ``CR ≥ 0.1`` is inconsistent and is
refused with :class:`AHPConsistencyError`.

Dirichlet perturbation. For a probabilistic analysis the weights themselves can be uncertain:
``w ~ Dirichlet(κ·w₀)`` has mean ``w₀`` and ``Var(w_j) = w₀_j(1 − w₀_j)/(κ + 1)``; larger ``κ``
means more confidence in ``w₀``.

References
----------
Saaty, T. L. (1977). A scaling method for priorities in hierarchical structures. *Journal of
Mathematical Psychology*, 15(3), 234–281.
Saaty, T. L. (1980). *The Analytic Hierarchy Process*. McGraw-Hill.
Zou, Z., Yun, Y., & Sun, J. (2006). Entropy method for determination of weight of evaluating
indicators in fuzzy synthetic evaluation for water quality assessment. *Journal of Environmental
Sciences*, 18(5), 1020–1023.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import xlogy

from ._common import GreyWarning, Table, as_table, check_finite, restore_vector

__all__ = [
    "AHPConsistencyError",
    "AHPResult",
    "RANDOM_INDEX",
    "ahp_weights",
    "dirichlet_weights",
    "entropy_weights",
    "equal_weights",
    "user_weights",
]

#: Saaty's random consistency index RI(n) for n = 1 … 15 (Saaty 1980, as tabulated in AHP texts).
RANDOM_INDEX: dict[int, float] = {
    1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45, 10: 1.49,
    11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59,
}


class AHPConsistencyError(ValueError):
    """Raised when an AHP pairwise-comparison matrix has a consistency ratio CR ≥ the limit."""


@dataclass(frozen=True)
class AHPResult:
    """Weights and consistency statistics of an AHP judgement matrix.

    Attributes
    ----------
    weights : pandas.Series
        Priority weights, summing to 1, indexed by the criteria labels.
    lambda_max : float
        Principal eigenvalue of the matrix (``n`` for a perfectly consistent matrix).
    ci, ri, cr : float
        Consistency index, random index and consistency ratio ``CR = CI / RI``.
    """

    weights: pd.Series
    lambda_max: float
    ci: float
    ri: float
    cr: float

    @property
    def consistent(self) -> bool:
        """Whether ``CR < 0.1`` (always true for n ≤ 2)."""
        return bool(self.cr < 0.1)


def entropy_weights(
    X: Table, *, sample_dim: str | None = None, indicator_dim: str | None = None
) -> pd.Series | np.ndarray | xr.DataArray:
    """Entropy-method weights of the indicators of a normalised samples × indicators table.

    Parameters
    ----------
    X
        Non-negative indicator values (normalise first, e.g. with
        :func:`~bayes_rent.grey.normalize`). A ``DataArray`` may carry extra dimensions such as
        ``chain`` and ``draw``; weights are then computed for every draw at once.
    sample_dim, indicator_dim
        Dimension names for ``DataArray`` input (default: the last two dimensions).

    Returns
    -------
    Series, ndarray or DataArray
        One weight per indicator (per batch element for ``DataArray`` input), summing to 1. When
        every indicator is perfectly uniform (all ``d_j = 0``) the weights are equal.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import entropy_weights
    >>> X = pd.DataFrame({"a": [0.0, 0.5, 1.0], "b": [0.4, 0.5, 0.6]})
    >>> w = entropy_weights(X)
    >>> round(float(w["a"]), 4), round(float(w["b"]), 4)
    (0.9718, 0.0282)
    """
    da, kind = as_table(X, sample_dim=sample_dim, indicator_dim=indicator_dim)
    check_finite(da, "X")
    values = da.values
    if (values < 0).any():
        raise ValueError("entropy weights need non-negative indicators; normalise X first "
                         "(e.g. normalize(X, 'minmax'))")
    n = values.shape[-2]
    if n < 2:
        raise ValueError("entropy weights need at least two samples")
    total = values.sum(axis=-2, keepdims=True)
    if (total == 0).any():
        raise ValueError("an indicator sums to zero over the samples; its entropy is undefined")
    p = values / total
    e = -xlogy(p, p).sum(axis=-2) / np.log(n)
    d = 1.0 - e
    dsum = d.sum(axis=-1, keepdims=True)
    m = d.shape[-1]
    # All-uniform indicators carry no information; fall back to equal weights rather than 0/0.
    w = np.where(dsum > 0, d / np.where(dsum > 0, dsum, 1.0), 1.0 / m)
    dims = tuple(d_ for d_ in da.dims if d_ != kind.sample_dim)
    coords = {k: v for k, v in da.coords.items() if kind.sample_dim not in v.dims}
    out = xr.DataArray(w, dims=dims, coords=coords, name="weight")
    return restore_vector(out, kind, name="weight")


def equal_weights(indicators: int | Sequence[Hashable]) -> pd.Series:
    """Equal weights ``1/m`` for ``m`` indicators.

    Parameters
    ----------
    indicators
        The number of indicators or their labels.

    Examples
    --------
    >>> from bayes_rent.grey import equal_weights
    >>> equal_weights(["vision", "construction"]).tolist()
    [0.5, 0.5]
    """
    labels = list(range(indicators)) if isinstance(indicators, int) else list(indicators)
    if not labels:
        raise ValueError("need at least one indicator")
    return pd.Series(np.full(len(labels), 1.0 / len(labels)), index=labels, name="weight")


def user_weights(
    weights: Mapping[Hashable, float] | Sequence[float] | pd.Series | np.ndarray,
    indicators: Sequence[Hashable] | None = None,
) -> pd.Series:
    """Check user-given weights and rescale them to sum to 1.

    Parameters
    ----------
    weights
        A mapping or ``Series`` from indicator label to weight, or one weight per indicator.
    indicators
        Labels, in order. With a mapping every label must be present; with a sequence the lengths
        must match.

    Raises
    ------
    ValueError
        On negative or non-finite weights, an all-zero vector, or missing labels.

    Warns
    -----
    GreyWarning
        When the weights do not sum to 1 and were rescaled.

    Examples
    --------
    >>> import warnings
    >>> from bayes_rent.grey import user_weights
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     user_weights({"a": 2, "b": 1, "c": 1}).tolist()
    [0.5, 0.25, 0.25]
    >>> print(str(caught[0].message).split(";")[0])
    weights {'a': 2, 'b': 1, 'c': 1} sum to 4, not 1
    """
    if isinstance(weights, Mapping | pd.Series):
        s = pd.Series(dict(weights) if isinstance(weights, Mapping) else weights, dtype=float)
        if indicators is not None:
            missing = [lab for lab in indicators if lab not in s.index]
            extra = [lab for lab in s.index if lab not in list(indicators)]
            if missing or extra:
                raise ValueError(f"weights do not match the indicators: missing {missing}, "
                                 f"unknown {extra}")
            s = s.loc[list(indicators)]
    else:
        arr = np.asarray(weights, dtype=float).ravel()
        labels = list(indicators) if indicators is not None else list(range(arr.size))
        if len(labels) != arr.size:
            raise ValueError(f"{arr.size} weights given for {len(labels)} indicators")
        s = pd.Series(arr, index=labels)
    if not np.isfinite(s.to_numpy()).all() or (s < 0).any():
        raise ValueError(f"weights must be finite and non-negative, got {s.tolist()}")
    if s.sum() <= 0:
        raise ValueError("weights sum to zero")
    warn_rescaled(s.to_numpy(), list(s.index))
    return (s / s.sum()).rename("weight")


def warn_rescaled(weights: np.ndarray, labels: Sequence[Hashable] | None = None) -> None:
    """Warn when weights that do not sum to 1 are about to be rescaled.

    Silent rescaling hides a typo (``0.3, 0.3, 0.3``) that changes every result; a warning
    lets the user see it. Weight arrays with batch dimensions are checked along the last axis.

    Examples
    --------
    >>> warn_rescaled(np.array([0.25, 0.75]))  # sums to 1: nothing to say
    """
    total = np.asarray(weights, dtype=float).sum(axis=-1)
    if np.allclose(total, 1.0, rtol=0, atol=1e-8):
        return
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        labels = list(labels) if labels is not None else list(range(w.size))
        given = {lab: _short(x) for lab, x in zip(labels, w, strict=True)}
        scaled = {lab: _short(x) for lab, x in zip(labels, w / w.sum(), strict=True)}
        message = f"weights {given} sum to {_short(w.sum())}, not 1; they were rescaled to {scaled}"
    else:
        bad = np.abs(total - 1) > 1e-8
        message = (f"{int(bad.sum())} of {bad.size} weight vectors do not sum to 1 (e.g. "
                   f"{_short(np.asarray(total)[bad].flat[0])}); they were rescaled to sum to 1")
    warnings.warn(message, GreyWarning, stacklevel=3)


def _short(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(float(x), 6)


def _ahp_matrix(matrix: Any, labels: Sequence[Hashable] | None) -> tuple[np.ndarray, list]:
    if isinstance(matrix, pd.DataFrame):
        A = matrix.to_numpy(dtype=float)
        labs = list(matrix.index) if labels is None else list(labels)
    else:
        A = np.asarray(matrix, dtype=float)
        labs = list(range(A.shape[0])) if labels is None else list(labels)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"the pairwise-comparison matrix must be square, got shape {A.shape}")
    if len(labs) != A.shape[0]:
        raise ValueError(f"{len(labs)} labels for a {A.shape[0]}×{A.shape[0]} matrix")
    if not np.isfinite(A).all() or (A <= 0).any():
        raise ValueError("pairwise comparisons must be positive and finite")
    if not np.allclose(np.diag(A), 1.0):
        raise ValueError("the diagonal of a pairwise-comparison matrix must be 1")
    # Typed-in reciprocals such as 0.33 for 1/3 are accepted up to 2 %.
    recip = A * A.T
    if not np.allclose(recip, 1.0, rtol=0.0, atol=0.02):
        i, j = np.unravel_index(np.argmax(np.abs(recip - 1.0)), A.shape)
        raise ValueError(f"the matrix is not reciprocal: a[{labs[i]!r}, {labs[j]!r}] = {A[i, j]:g} "
                         f"but a[{labs[j]!r}, {labs[i]!r}] = {A[j, i]:g}")
    return A, labs


def ahp_weights(
    matrix: Any,
    labels: Sequence[Hashable] | None = None,
    *,
    method: Literal["eigenvector", "geometric"] = "eigenvector",
    max_cr: float = 0.1,
    check: bool = True,
    random_index: Mapping[int, float] | None = None,
) -> AHPResult:
    """AHP priority weights from a reciprocal pairwise-comparison (judgement) matrix.

    Parameters
    ----------
    matrix
        ``n × n`` array or ``DataFrame`` with ``a_ij`` = importance of criterion ``i`` over ``j``
        on Saaty's 1–9 scale, ``a_ji = 1/a_ij``, ``a_ii = 1``.
    labels
        Criterion labels (default: the ``DataFrame`` index, or 0 … n−1).
    method
        ``"eigenvector"`` (Saaty's principal eigenvector) or ``"geometric"`` (row geometric
        means). ``λ_max`` and CR always come from the eigenvalue.
    max_cr
        Consistency limit; a matrix with ``CR ≥ max_cr`` raises (default 0.1, Saaty's rule).
    check
        Set ``False`` to return the result of an inconsistent matrix instead of raising.
    random_index
        Replacement for :data:`RANDOM_INDEX`, e.g. for ``n > 15``.

    Returns
    -------
    AHPResult
        ``weights`` (Series), ``lambda_max``, ``ci``, ``ri`` and ``cr``.

    Raises
    ------
    AHPConsistencyError
        If ``CR ≥ max_cr`` and ``check`` is true.

    Examples
    --------
    >>> from bayes_rent.grey import ahp_weights
    >>> res = ahp_weights([[1, 2, 4], [1/2, 1, 2], [1/4, 1/2, 1]], ["a", "b", "c"])
    >>> [round(w, 4) for w in res.weights]
    [0.5714, 0.2857, 0.1429]
    >>> round(res.cr, 6)
    0.0
    """
    A, labs = _ahp_matrix(matrix, labels)
    n = A.shape[0]
    eigvals, eigvecs = np.linalg.eig(A)
    k = int(np.argmax(eigvals.real))
    lam = float(eigvals[k].real)
    if method == "eigenvector":
        v = np.abs(eigvecs[:, k].real)
    elif method == "geometric":
        v = np.exp(np.log(A).mean(axis=1))
    else:
        raise ValueError(f"method must be 'eigenvector' or 'geometric', got {method!r}")
    w = v / v.sum()
    table = dict(RANDOM_INDEX if random_index is None else random_index)
    if n <= 2:
        ci = ri = cr = 0.0
    else:
        if n not in table:
            raise ValueError(f"no random index for n = {n}; pass random_index={{{n}: RI}}")
        ci = max((lam - n) / (n - 1), 0.0)
        ri = float(table[n])
        cr = ci / ri
    res = AHPResult(pd.Series(w, index=labs, name="weight"), lam, ci, float(table.get(n, 0.0)),
                    cr)
    if check and cr >= max_cr:
        raise AHPConsistencyError(
            f"the pairwise-comparison matrix is not consistent enough: CR = {cr:.3f} ≥ {max_cr} "
            f"(λ_max = {lam:.3f}, CI = {ci:.3f}, RI({n}) = {res.ri}); revise the judgements")
    return res


def dirichlet_weights(
    base: pd.Series | Sequence[float] | np.ndarray | xr.DataArray,
    concentration: float,
    *,
    sizes: Mapping[str, int] | None = None,
    indicator_dim: str = "indicator",
    seed: int | np.random.Generator | None = None,
) -> xr.DataArray:
    """Random weights ``w ~ Dirichlet(κ·w₀)`` around base weights ``w₀``, one vector per draw.

    Parameters
    ----------
    base
        Base weights ``w₀`` (rescaled to sum to 1). A ``DataArray`` may already vary over batch
        dimensions (e.g. per-draw entropy weights); its last dimension must be the indicators.
    concentration
        ``κ > 0``; ``Var(w_j) = w₀_j(1 − w₀_j)/(κ + 1)``.
    sizes
        Batch dimensions to draw over, e.g. ``{"chain": 4, "draw": 1000}``.
    indicator_dim
        Name of the indicator dimension of the result (for non-xarray ``base``).
    seed
        Seed or generator.

    Returns
    -------
    DataArray
        Dimensions ``(*sizes, *base batch dims, indicator)``; every vector sums to 1.

    Examples
    --------
    >>> from bayes_rent.grey import dirichlet_weights
    >>> w = dirichlet_weights([0.5, 0.3, 0.2], 200.0, sizes={"draw": 1000}, seed=1)
    >>> w.dims
    ('draw', 'indicator')
    >>> bool(abs(float(w.mean("draw")[0]) - 0.5) < 0.01)
    True
    """
    if not concentration > 0:
        raise ValueError(f"concentration must be positive, got {concentration}")
    if isinstance(base, xr.DataArray):
        w0 = base / base.sum(base.dims[-1])
    else:
        s = user_weights(base)
        labels = s.index if isinstance(base, pd.Series) else None
        coords = {indicator_dim: labels.to_numpy()} if labels is not None else None
        w0 = xr.DataArray(s.to_numpy(), dims=(indicator_dim,), coords=coords)
    if (w0 <= 0).any():
        raise ValueError("Dirichlet perturbation needs strictly positive base weights")
    sizes = dict(sizes or {})
    template = xr.DataArray(np.empty(tuple(sizes.values())), dims=tuple(sizes))
    alpha = (concentration * w0).broadcast_like(template).transpose(*sizes, ...)
    rng = np.random.default_rng(seed)
    # Gamma draws normalised per vector are Dirichlet; standard_gamma broadcasts over alpha,
    # which numpy's dirichlet() does not.
    g = rng.standard_gamma(alpha.values)
    g /= g.sum(axis=-1, keepdims=True)
    return alpha.copy(data=g).rename("weight")
