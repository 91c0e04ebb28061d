"""Dimensionless transforms of indicator tables (grey-system "data processing" operators).

Each transform works indicator by indicator along the *sample* dimension (firms, years, …) and
broadcasts over any other dimension, so one call normalises every posterior draw at once.

Methods
-------
``"minmax"``
    positive (benefit) indicator ``x' = (x − min) / (max − min)``;
    negative (cost) indicator ``x' = (max − x) / (max − min)``; optionally mapped onto
    ``feature_range = (a, b)`` as ``a + (b − a)·x'`` (SPSSAU maps onto (0.01, 0.99) so that no
    subsystem index is exactly 0).
``"initial"``
    initial-value operator of grey systems theory, ``x'(k) = x(k) / x(1)`` (Deng 1989).
``"mean"``
    mean-value operator, ``x'(k) = x(k) / mean(x)``.
``"zscore"``
    ``x' = (x − mean) / sd`` (``ddof = 1`` by default); a negative indicator is sign-flipped.
    This is the standardisation used by the grey relational coupling model of Liu et al. (2005).

References
----------
Deng, J. (1989). Introduction to grey system theory. *The Journal of Grey System*, 1(1), 1–24.
Liu, Y., Li, R., & Song, X. (2005). 中国区域城市化与生态环境耦合的关联分析 [Grey associative
analysis of regional urbanization and eco-environment coupling in China]. *Acta Geographica
Sinica* (地理学报), 60(2), 237–247.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr

from ._common import Table, as_table, labels_for, restore_table

__all__ = ["normalize", "NORMALIZE_METHODS"]

NormalizeMethod = Literal["minmax", "initial", "mean", "zscore"]
NORMALIZE_METHODS: tuple[str, ...] = ("minmax", "initial", "mean", "zscore")


def _negative_mask(direction: Any, labels: Sequence[Any]) -> np.ndarray:
    """Boolean mask over indicators: True where the indicator is negative (cost type)."""
    m = len(labels)
    if isinstance(direction, str):
        if direction not in ("positive", "negative"):
            raise ValueError(f"direction must be 'positive' or 'negative', got {direction!r}")
        return np.full(m, direction == "negative")
    if isinstance(direction, Mapping):
        unknown = set(direction) - set(labels)
        if unknown:
            raise ValueError(f"direction names unknown indicator(s) {sorted(map(str, unknown))}; "
                             f"indicators are {list(labels)}")
        dirs = [direction.get(lab, "positive") for lab in labels]
    else:
        dirs = list(direction)
        if len(dirs) != m:
            raise ValueError(f"direction has {len(dirs)} entries for {m} indicators")
    bad = [d for d in dirs if d not in ("positive", "negative")]
    if bad:
        raise ValueError(f"direction entries must be 'positive' or 'negative', got {bad}")
    return np.array([d == "negative" for d in dirs])


def _fail_on_zero(denom: np.ndarray, labels: Sequence[Any], what: str) -> None:
    # The denominators have shape (..., 1, m); report the indicators that hit zero anywhere.
    zero = (denom == 0).reshape(-1, denom.shape[-1]).any(axis=0)
    if zero.any():
        names = [str(labels[j]) for j in np.flatnonzero(zero)]
        raise ValueError(f"cannot normalise: {what} is zero for indicator(s) {names}")


def normalize_values(
    values: np.ndarray,
    method: str,
    negative: np.ndarray,
    labels: Sequence[Any],
    *,
    feature_range: tuple[float, float] = (0.0, 1.0),
    ddof: int = 1,
) -> np.ndarray:
    """NumPy core of :func:`normalize`; ``values`` has samples on axis −2, indicators on −1."""
    if method == "minmax":
        lo = values.min(axis=-2, keepdims=True)
        hi = values.max(axis=-2, keepdims=True)
        span = hi - lo
        _fail_on_zero(span, labels, "the range (max − min)")
        # Only build the cost-type branch when there is one: np.where would compute both.
        out = np.where(negative, hi - values, values - lo) if negative.any() else values - lo
        out /= span
        a, b = feature_range
        if (a, b) != (0.0, 1.0):
            if not a < b:
                raise ValueError(f"feature_range must be increasing, got {feature_range}")
            out *= b - a
            out += a
        return out
    if negative.any() and method in ("initial", "mean"):
        raise ValueError(f"direction='negative' is defined for 'minmax' and 'zscore' only, not "
                         f"for {method!r}; turn cost indicators around first")
    if method == "initial":
        first = values[..., :1, :]
        _fail_on_zero(first, labels, "the initial value")
        return values / first
    if method == "mean":
        mean = values.mean(axis=-2, keepdims=True)
        _fail_on_zero(mean, labels, "the mean")
        return values / mean
    if method == "zscore":
        if values.shape[-2] <= ddof:
            raise ValueError(f"z-scores need at least {ddof + 1} samples (firms) for the "
                             f"standard deviation (ddof={ddof}); got {values.shape[-2]}")
        out = values - values.mean(axis=-2, keepdims=True)
        # The sd from the centred values already in hand: one pass fewer than ndarray.std.
        sd = np.sqrt(np.square(out).sum(axis=-2, keepdims=True) / (values.shape[-2] - ddof))
        _fail_on_zero(sd, labels, "the standard deviation")
        out /= sd
        if negative.any():
            out *= np.where(negative, -1.0, 1.0)
        return out
    raise ValueError(f"unknown normalisation method {method!r}; choose from {NORMALIZE_METHODS}")


def normalize(
    X: Table,
    method: NormalizeMethod = "minmax",
    *,
    direction: str | Mapping[Any, str] | Sequence[str] = "positive",
    feature_range: tuple[float, float] = (0.0, 1.0),
    ddof: int = 1,
    sample_dim: str | None = None,
    indicator_dim: str | None = None,
) -> Table:
    """Make indicators dimensionless, one indicator at a time along the sample dimension.

    Parameters
    ----------
    X
        Samples × indicators: a ``DataFrame``, an array (samples on axis −2) or a ``DataArray``
        with any extra dimensions (e.g. ``chain``, ``draw``) that are broadcast over.
    method
        ``"minmax"``, ``"initial"``, ``"mean"`` or ``"zscore"`` (see the module docstring).
    direction
        ``"positive"`` (benefit, larger is better), ``"negative"`` (cost), a mapping from
        indicator label to either, or one entry per indicator. Negative indicators are defined for
        ``"minmax"`` and ``"zscore"``.
    feature_range
        Target interval of ``"minmax"``.
    ddof
        Delta degrees of freedom of the standard deviation in ``"zscore"``.
    sample_dim, indicator_dim
        Dimension names for ``DataArray`` input (default: the last two dimensions).

    Returns
    -------
    DataFrame, ndarray or DataArray
        Same kind, shape and labels as ``X``.

    Raises
    ------
    ValueError
        If an indicator is constant (``"minmax"``, ``"zscore"``) or its initial value or mean is
        zero, naming the indicator.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import normalize
    >>> df = pd.DataFrame({"sales": [2.0, 4.0, 6.0], "cost": [1.0, 3.0, 5.0]})
    >>> normalize(df, direction={"cost": "negative"})
       sales  cost
    0    0.0   1.0
    1    0.5   0.5
    2    1.0   0.0
    >>> normalize(df, "initial")["sales"].tolist()
    [1.0, 2.0, 3.0]
    """
    da, kind = as_table(X, sample_dim=sample_dim, indicator_dim=indicator_dim)
    labels = labels_for(da, kind.indicator_dim)
    negative = _negative_mask(direction, labels)
    out = normalize_values(da.values, method, negative, labels, feature_range=feature_range,
                           ddof=ddof)
    res = xr.DataArray(out, dims=da.dims, coords=da.coords, name=da.name)
    if kind.kind == "xarray":
        # Keep the caller's dimension order.
        res = res.transpose(*X.dims)
    return restore_table(res, kind)
