"""Deng's grey relational analysis (GRA): relational coefficients and grades.

For a reference sequence ``x₀(k)`` and comparison sequences ``x_i(k)``, ``k = 1 … n`` (already
made dimensionless, see :func:`~bayes_rent.grey.normalize`), Deng (1982, 1989) defines::

    Δ_i(k) = |x₀(k) − x_i(k)|
    ξ_i(k) = (Δmin + ρ·Δmax) / (Δ_i(k) + ρ·Δmax)          ρ ∈ (0, 1], usually 0.5
    r_i    = (1/n) Σ_k ξ_i(k)          or the weighted grade  Σ_k w_k ξ_i(k),  Σ_k w_k = 1

Where ``Δmin``/``Δmax`` are taken is an explicit option (``extremes``):

* ``"all"`` — Deng's two-level minimum and maximum ``min_i min_k Δ_i(k)`` and
  ``max_i max_k Δ_i(k)`` over *all* comparison sequences, so coefficients are comparable across
  sequences (the classical definition);
* ``"pair"`` — ``min_k Δ_i(k)`` and ``max_k Δ_i(k)`` of each reference/comparison pair alone.

Properties (checked in the tests): ``0 < ξ ≤ 1``; ``ξ = 1`` where the sequences coincide and
``Δmin = 0`` (always so for identical sequences); if ``Δmin = 0`` then
``ξ ≥ ρ/(1 + ρ)`` (= 1/3 for ρ = 0.5). When every difference is zero (``Δmax = 0``) the
sequences coincide and ``ξ = 1``.

References
----------
Deng, J. (1982). Control problems of grey systems. *Systems & Control Letters*, 1(5), 288–294.
Deng, J. (1989). Introduction to grey system theory. *The Journal of Grey System*, 1(1), 1–24.
Liu, S., & Lin, Y. (2010). *Grey Systems: Theory and Applications*. Springer, ch. 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._common import Table, as_series, as_table, check_finite, restore_table, restore_vector

__all__ = ["relational_coefficients", "relational_grade", "deng_inplace", "check_rho"]

Extremes = Literal["all", "pair"]


def check_rho(rho: float) -> float:
    """Validate the distinguishing coefficient ρ ∈ (0, 1]."""
    rho = float(rho)
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"the distinguishing coefficient rho must lie in (0, 1], got {rho}")
    return rho


def deng_inplace(delta: np.ndarray, rho: float, axes: tuple[int, ...]) -> np.ndarray:
    """Turn absolute differences into Deng coefficients, overwriting ``delta``.

    ``axes`` are the axes over which Δmin and Δmax are taken. Working in place keeps the posterior
    computation to one large buffer (4 000 draws × 300 firms × 16 pairs is 150 MB in float64).
    """
    dmin = delta.min(axis=axes, keepdims=True)
    dmax = delta.max(axis=axes, keepdims=True)
    rd = rho * dmax
    num = dmin + rd
    delta += rd
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(num, delta, out=delta)
    flat = dmax == 0
    if flat.any():
        # Only when all compared values coincide (0/0): the limit of ξ is 1.
        np.copyto(delta, 1.0, where=np.broadcast_to(flat, delta.shape))
    return delta


def _extreme_axes(extremes: str) -> tuple[int, ...]:
    if extremes == "all":
        return (-2, -1)
    if extremes == "pair":
        return (-2,)
    raise ValueError(f"extremes must be 'all' or 'pair', got {extremes!r}")


def relational_coefficients(
    reference: Any,
    comparison: Table,
    rho: float = 0.5,
    *,
    extremes: Extremes = "all",
    sample_dim: str | None = None,
    indicator_dim: str | None = None,
) -> Table:
    """Deng's grey relational coefficients ``ξ_i(k)`` of comparison sequences to a reference.

    Parameters
    ----------
    reference
        The reference sequence ``x₀`` (one value per sample): a ``Series``, 1-D array or
        ``DataArray`` with the sample dimension (and possibly batch dimensions such as ``chain``
        and ``draw``), or the label of a column of ``comparison`` (that column is then used as the
        reference and dropped from the comparisons).
    comparison
        Samples × sequences: ``DataFrame``, array or ``DataArray``. Inputs must already be
        dimensionless.
    rho
        Distinguishing coefficient ρ ∈ (0, 1] (default 0.5).
    extremes
        ``"all"`` (Δmin/Δmax over all sequences, Deng's definition) or ``"pair"`` (per
        reference/comparison pair).
    sample_dim, indicator_dim
        Dimension names for ``DataArray`` input (default: the last two dimensions of
        ``comparison``).

    Returns
    -------
    DataFrame, ndarray or DataArray
        ``ξ`` with the shape and labels of ``comparison``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import relational_coefficients
    >>> x0 = pd.Series([1.0, 1.0, 1.0])
    >>> X = pd.DataFrame({"a": [1.0, 1.0, 1.0], "b": [1.0, 2.0, 3.0]})
    >>> relational_coefficients(x0, X)
         a         b
    0  1.0  1.000000
    1  1.0  0.500000
    2  1.0  0.333333
    """
    rho = check_rho(rho)
    axes = _extreme_axes(extremes)
    comp, kind = as_table(comparison, sample_dim=sample_dim, indicator_dim=indicator_dim,
                          what="comparison", indicator_name="sequence")
    smp, ind = kind.sample_dim, kind.indicator_dim
    is_label = np.isscalar(reference) or isinstance(reference, tuple)
    if is_label and ind in comp.coords and reference in list(comp[ind].values):
        ref = comp.sel({ind: reference}, drop=True)
        comp = comp.drop_sel({ind: reference})
    else:
        ref, _ = as_series(reference, sample_dim=smp, what="reference")
    check_finite(ref, "reference")
    check_finite(comp, "comparison")
    ref, comp = xr.align(ref, comp, join="exact", exclude=[ind])
    # Common batch dims in one order, then one output buffer for Δ and ξ (no temporaries).
    comp, ref = xr.broadcast(comp, ref, exclude=[smp, ind])
    comp = comp.transpose(..., smp, ind)
    ref = ref.transpose(*comp.dims[:-1])
    buf = np.empty(comp.shape)
    np.subtract(comp.values, ref.values[..., None], out=buf)
    np.abs(buf, out=buf)
    out = comp.copy(data=deng_inplace(buf, rho, axes)).rename("xi")
    if kind.kind == "xarray":
        if set(out.dims) == set(comparison.dims):
            out = out.transpose(*comparison.dims)
        else:  # batch dims that only the reference has go before (sample, sequence)
            out = out.transpose(*[d for d in comparison.dims if d not in (smp, ind)], ..., smp,
                                ind)
    return restore_table(out, kind)


def relational_grade(
    coefficients: Table,
    weights: Sequence[float] | np.ndarray | pd.Series | xr.DataArray | None = None,
    *,
    sample_dim: str | None = None,
    indicator_dim: str | None = None,
) -> pd.Series | np.ndarray | xr.DataArray:
    """Grey relational grades: the mean (or weighted mean) of the coefficients over the samples.

    Parameters
    ----------
    coefficients
        Output of :func:`relational_coefficients` (samples × sequences).
    weights
        Optional weight per sample (point ``k``), rescaled to sum to 1: the weighted grade
        ``Σ_k w_k ξ_i(k)``. A ``DataArray`` may vary over batch dimensions.
    sample_dim, indicator_dim
        Dimension names for ``DataArray`` input.

    Returns
    -------
    Series, ndarray or DataArray
        One grade per sequence (per batch element).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import relational_coefficients, relational_grade
    >>> x0 = pd.Series([1.0, 1.0, 1.0])
    >>> X = pd.DataFrame({"a": [1.0, 1.0, 1.0], "b": [1.0, 2.0, 3.0]})
    >>> relational_grade(relational_coefficients(x0, X)).round(4).tolist()
    [1.0, 0.6111]
    >>> relational_grade(relational_coefficients(x0, X), [2, 1, 1]).round(4).tolist()
    [1.0, 0.7083]
    """
    xi, kind = as_table(coefficients, sample_dim=sample_dim, indicator_dim=indicator_dim,
                        what="coefficients", indicator_name="sequence")
    smp = kind.sample_dim
    if weights is None:
        grade = xi.mean(smp)
    else:
        if isinstance(weights, xr.DataArray):
            w = weights
        else:
            w_arr = np.asarray(weights, dtype=float).ravel()
            if w_arr.size != xi.sizes[smp]:
                raise ValueError(f"{w_arr.size} weights for {xi.sizes[smp]} samples")
            w = xr.DataArray(w_arr, dims=(smp,))
        if not np.isfinite(w.values).all() or (w < 0).any():
            raise ValueError("sample weights must be finite and non-negative")
        w = w / w.sum(smp)
        grade = (xi * w).sum(smp)
    return restore_vector(grade.rename("grade"), kind, name="grade")
