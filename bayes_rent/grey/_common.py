"""Input handling shared by the grey-analysis functions.

Every public function in :mod:`bayes_rent.grey` accepts a pandas object, a NumPy array or an
xarray ``DataArray``. Internally everything becomes a ``DataArray`` whose last two dimensions are
``(sample, indicator)``; any other dimensions (``chain``, ``draw``, ...) are *batch* dimensions that
the computations broadcast over. The helpers here do that conversion and turn results back into
the caller's kind.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "Kind",
    "Table",
    "as_table",
    "as_series",
    "GreyWarning",
    "check_finite",
    "restore_table",
    "restore_vector",
]

Table = pd.DataFrame | np.ndarray | xr.DataArray


class GreyWarning(UserWarning):
    """A grey analysis changed or could not compute something the caller should know about.

    Examples
    --------
    >>> issubclass(GreyWarning, UserWarning)
    True
    """


@dataclass(frozen=True)
class Kind:
    """How an input arrived, so that a result can be returned in the same form."""

    kind: str  # "pandas", "numpy" or "xarray"
    sample_dim: str
    indicator_dim: str | None
    ndim: int
    # The original pandas index/column names (None when unnamed), restored on the way out.
    pandas_names: tuple[Hashable | None, Hashable | None] = (None, None)


def _check_numeric(values: np.ndarray, what: str) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.number) and values.dtype != bool:
        raise TypeError(f"{what} must be numeric, got dtype {values.dtype}")
    return values.astype(np.float64, copy=False)


def check_finite(da: xr.DataArray, what: str) -> None:
    """Raise a clear error naming the first offending position when ``da`` has NaN or inf."""
    bad = ~np.isfinite(da.values)
    if bad.any():
        first = np.unravel_index(np.argmax(bad), bad.shape)
        where = ", ".join(f"{d}={da[d].values[i]!r}" for d, i in zip(da.dims, first, strict=True))
        raise ValueError(f"{what} contains {int(bad.sum())} missing or infinite value(s), e.g. at "
                         f"{where}; grey analysis needs complete data")


def as_table(
    X: Any,
    *,
    sample_dim: str | None = None,
    indicator_dim: str | None = None,
    what: str = "X",
    indicator_name: str = "indicator",
) -> tuple[xr.DataArray, Kind]:
    """Convert a samples × indicators table to a ``DataArray`` with ``(…, sample, indicator)`` last.

    Parameters
    ----------
    X
        ``DataFrame`` (rows are samples), 2-D+ ``ndarray`` (last axis indicators, second-to-last
        samples) or ``DataArray``.
    sample_dim, indicator_dim
        Dimension names for ``DataArray`` input. By default the last dimension holds the indicators
        and the one before it the samples.
    what
        Name used in error messages.
    indicator_name
        Dimension name given to the indicator axis of pandas/NumPy input.
    """
    if isinstance(X, xr.DataArray):
        if X.ndim < 2:
            raise ValueError(f"{what} needs a sample and an indicator dimension, got dims {X.dims}")
        ind = indicator_dim if indicator_dim is not None else str(X.dims[-1])
        rest = [d for d in X.dims if d != ind]
        smp = sample_dim if sample_dim is not None else str(rest[-1])
        for d, role in ((ind, "indicator_dim"), (smp, "sample_dim")):
            if d not in X.dims:
                raise ValueError(f"{what} has no dimension {d!r} ({role}); dims are {X.dims}")
        if smp == ind:
            raise ValueError(f"{what}: sample_dim and indicator_dim are both {smp!r}")
        da = X.transpose(..., smp, ind)
        da = da.copy(data=_check_numeric(da.values, what)) if da.dtype != np.float64 else da
        return da, Kind("xarray", smp, ind, X.ndim)
    if isinstance(X, pd.DataFrame):
        smp = sample_dim or (str(X.index.name) if X.index.name is not None else "sample")
        ind = indicator_dim or (str(X.columns.name) if X.columns.name is not None
                                else indicator_name)
        values = _check_numeric(X.to_numpy(), what)
        da = xr.DataArray(values, dims=(smp, ind),
                          coords={smp: X.index.to_numpy(), ind: X.columns.to_numpy()})
        return da, Kind("pandas", smp, ind, 2, (X.index.name, X.columns.name))
    arr = _check_numeric(np.asarray(X), what)
    if arr.ndim < 2:
        raise ValueError(f"{what} must be 2-D (samples × indicators), got shape {arr.shape}")
    smp = sample_dim or "sample"
    ind = indicator_dim or indicator_name
    dims = tuple(f"dim_{k}" for k in range(arr.ndim - 2)) + (smp, ind)
    return xr.DataArray(arr, dims=dims), Kind("numpy", smp, ind, arr.ndim)


def as_series(
    x: Any, *, sample_dim: str | None = None, what: str = "reference"
) -> tuple[xr.DataArray, Kind]:
    """Convert one sequence (a value per sample, possibly with batch dims) to a ``DataArray``."""
    if isinstance(x, xr.DataArray):
        smp = sample_dim if sample_dim is not None else str(x.dims[-1])
        if smp not in x.dims:
            raise ValueError(f"{what} has no dimension {smp!r}; dims are {x.dims}")
        da = x.transpose(..., smp)
        da = da.copy(data=_check_numeric(da.values, what)) if da.dtype != np.float64 else da
        return da, Kind("xarray", smp, None, x.ndim)
    if isinstance(x, pd.Series):
        smp = sample_dim or (str(x.index.name) if x.index.name is not None else "sample")
        da = xr.DataArray(_check_numeric(x.to_numpy(), what), dims=(smp,),
                          coords={smp: x.index.to_numpy()}, name=x.name)
        return da, Kind("pandas", smp, None, 1, (x.index.name, None))
    arr = _check_numeric(np.asarray(x), what)
    if arr.ndim < 1:
        raise ValueError(f"{what} must be a sequence, got a scalar")
    smp = sample_dim or "sample"
    dims = tuple(f"dim_{k}" for k in range(arr.ndim - 1)) + (smp,)
    return xr.DataArray(arr, dims=dims), Kind("numpy", smp, None, arr.ndim)


def restore_table(da: xr.DataArray, kind: Kind) -> Table:
    """Return ``da`` (same layout as the input table) in the caller's kind."""
    if kind.kind == "xarray":
        return da
    if kind.kind == "pandas":
        out = da.to_pandas()
        out.index.name = kind.pandas_names[0]
        if isinstance(out, pd.DataFrame):
            out.columns.name = kind.pandas_names[1]
        return out
    return da.values


def restore_vector(da: xr.DataArray, kind: Kind, name: Hashable | None = None) -> Any:
    """Return a result that lost the sample or indicator dimension in the caller's kind.

    pandas input gives a ``Series`` (or ``DataFrame`` for 2-D results), NumPy gives an array and
    xarray gives the ``DataArray``.
    """
    if kind.kind == "xarray":
        return da.rename(name) if name is not None else da
    if kind.kind == "pandas":
        out = da.to_pandas()
        original = {kind.sample_dim: kind.pandas_names[0], kind.indicator_dim: kind.pandas_names[1]}
        if isinstance(out, pd.Series | pd.DataFrame) and out.index.name in original:
            out.index.name = original[out.index.name]
        if isinstance(out, pd.DataFrame) and out.columns.name in original:
            out.columns.name = original[out.columns.name]
        if isinstance(out, pd.Series) and name is not None:
            out.name = name
        return out
    return da.values


def labels_for(da: xr.DataArray, dim: str) -> list[Hashable]:
    """The coordinate labels of ``dim`` (integer positions when it has no coordinate)."""
    if dim in da.coords:
        return list(da[dim].values)
    return list(range(da.sizes[dim]))


def ensure_sequence(x: Any) -> Sequence[Any]:
    """Turn a scalar label into a one-element list, leaving sequences alone."""
    if isinstance(x, str | bytes) or not isinstance(x, Sequence | np.ndarray | pd.Index):
        return [x]
    return list(x)
