r"""Capacity coupling and coupling–coordination of subsystems (耦合协调度模型).

Subsystem indices ``U_1 … U_n`` in [0, 1] (weighted sums of normalised indicators, see
:func:`subsystem_index`) are combined into a coupling degree ``C``, a comprehensive development
index ``T`` and the coupling–coordination degree ``D``::

    T = Σ_i a_i U_i   (Σ a_i = 1; T = a·U1 + b·U2 for two systems),      D = √(C·T)

Three forms of ``C`` are offered (``method``):

``"standard"``
    ``C = n·(∏ U_i)^{1/n} / Σ U_i`` — the geometric over the arithmetic mean, so ``0 ≤ C ≤ 1``
    with ``C = 1`` exactly when all ``U_i`` are equal (AM–GM). For two systems this is
    ``C = 2√(U1·U2)/(U1 + U2)``. The same quantity is often written
    ``C = {∏U_i / [(ΣU_i)/n]^n}^{1/n}``; the two expressions are algebraically identical (both
    ≤ 1, checked numerically in the tests). Variants that are *not* equivalent circulate in the
    literature (see Liu 2017; Wang et al. 2021), notably the three-system
    ``C = 3·{U1U2U3 / [(U1+U2)(U1+U3)(U2+U3)]}^{1/3}``, which equals 1.5 when ``U1 = U2 = U3``
    (so exceeds 1), and the same without the leading coefficient, which never exceeds 1/2.
    Neither is reproduced here.
``"wang"``
    The corrected coupling degree of Wang, Kong, Ren, Zhi & Dai (2021)::

        C = √{ [1 − Σ_{i<j} |U_i − U_j| / Σ_{s=1}^{n−1} s] · [∏_i (U_i / max U)]^{1/(n−1)} }

    For two systems ``C = √[(1 − |U2 − U1|) · min(U1, U2)/max(U1, U2)]``. At ``U = (0.2, 0.4)``:
    ``(1 − 0.2) · (0.2/0.4) = 0.4`` and ``C = √0.4 ≈ 0.632``. (The standard form gives
    ``2√0.08/0.6 ≈ 0.943`` there: the standard ``C`` crowds near 1, the reason for the correction.)
``"fan"``
    The dispersion-based form of Fan, Ke & Cao (2024)::

        C = 1 − 2·√{ [n Σ U_i² − (Σ U_i)²] / n² }  = 1 − 2·sd(U)   (population sd)

    For two systems ``C = 1 − |U1 − U2|``, i.e. 0.8 at ``U = (0.2, 0.4)``.

Degenerate input: with every ``U_i = 0`` the standard and Wang forms are 0/0 and return NaN.

References
----------
Wang, S., Kong, W., Ren, L., Zhi, D., & Dai, B. (2021). 国内耦合协调度模型的误区及修正 [Research on
misuses and modification of coupling coordination degree model in China]. *Journal of Natural
Resources* (自然资源学报), 36(3), 793–810. https://doi.org/10.31497/zrzyxb.20210319
Fan, D., Ke, H., & Cao, R. (2024). 耦合协调度模型的修正与改进 [Modification and improvement of
coupling coordination degree model]. *Statistics & Decision* (统计与决策), 40(22), 41–46.
https://doi.org/10.13546/j.cnki.tjyjc.2024.22.007
Liu, C. (2017). 耦合度计算的常见错误分析 [Analysis of common errors in coupling degree
calculation]. *Journal of Jiangsu Normal University (Natural Science Edition)*, 35(1).
The formulas agree with the R package ``coupling`` (Lyu, CRAN), ``ccd(method = "standard" |
"wang" | "fan")``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._common import GreyWarning, Table, as_table, check_finite, labels_for, restore_vector
from .levels import DEVELOPMENT_BANDS, Bands, level_codes, make_bands
from .weights import user_weights, warn_rescaled

__all__ = [
    "COUPLING_METHODS",
    "coupling_coordination",
    "coupling_degree_values",
    "relative_development",
    "subsystem_index",
]

CouplingMethod = Literal["standard", "wang", "fan"]
COUPLING_METHODS: tuple[str, ...] = ("standard", "wang", "fan")


def coupling_degree_values(U: np.ndarray, method: str = "standard") -> np.ndarray:
    """NumPy core: the coupling degree ``C`` of subsystem indices on the last axis of ``U``."""
    n = U.shape[-1]
    if n < 2:
        raise ValueError("coupling needs at least two systems")
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "standard":
            total = U.sum(axis=-1)
            if n == 2:
                # sqrt(u·u) is exactly u in IEEE arithmetic, so C = 1 exactly when U1 = U2.
                gm2 = 2.0 * np.sqrt(U[..., 0] * U[..., 1])
            else:
                gm2 = n * np.prod(U, axis=-1) ** (1.0 / n)
            c = gm2 / total
            # Rounding in the n-th root can give 1 + 1e-16 for equal U; C ≤ 1 holds exactly in
            # real arithmetic (AM–GM).
            return np.minimum(c, 1.0)
        if method == "wang":
            if n == 2:
                u1, u2 = U[..., 0], U[..., 1]
                spread = np.abs(u1 - u2)
                ratio = np.minimum(u1, u2) / np.maximum(u1, u2)
            else:
                spread = np.abs(U[..., :, None] - U[..., None, :]).sum(axis=(-2, -1)) / 2.0
                spread = spread / (n * (n - 1) / 2.0)
                ratio = np.prod(U / U.max(axis=-1, keepdims=True), axis=-1) ** (1.0 / (n - 1))
            return np.sqrt((1.0 - spread) * ratio)
        if method == "fan":
            mean = U.mean(axis=-1, keepdims=True)
            var = ((U - mean) ** 2).mean(axis=-1)
            return 1.0 - 2.0 * np.sqrt(var)
    raise ValueError(f"unknown coupling method {method!r}; choose from {COUPLING_METHODS}")


def _system_weights(weights: Any, labels: Sequence[Hashable], system_dim: str) -> xr.DataArray:
    if weights is None:
        return xr.DataArray(np.full(len(labels), 1.0 / len(labels)), dims=(system_dim,))
    if isinstance(weights, xr.DataArray):
        if system_dim not in weights.dims:
            raise ValueError(f"weights need a {system_dim!r} dimension, got {weights.dims}")
        if (weights < 0).any():
            raise ValueError("system weights must be non-negative")
        warn_rescaled(weights.transpose(..., system_dim).values)
        return weights / weights.sum(system_dim)
    s = user_weights(weights, labels if isinstance(weights, Mapping | pd.Series) else None)
    if len(s) != len(labels):
        raise ValueError(f"{len(s)} weights for {len(labels)} systems")
    return xr.DataArray(s.to_numpy(), dims=(system_dim,))


def coupling_coordination(
    U: Table | Sequence[float],
    weights: Any = None,
    method: CouplingMethod = "standard",
    *,
    system_dim: str | None = None,
) -> pd.DataFrame | pd.Series | xr.Dataset:
    """Coupling degree C, development index T and coupling–coordination degree D.

    Parameters
    ----------
    U
        Subsystem indices in [0, 1], samples × systems: a ``DataFrame``, an array (systems on the
        last axis; a 1-D array is one sample) or a ``DataArray`` with a ``"system"`` dimension and
        any other dimensions (``chain``, ``draw``, ``firm`` …), all kept.
    weights
        Contribution of each system to ``T`` (``a``, ``b``, … summing to 1); default equal. A
        mapping or ``Series`` by system label, a sequence, or a ``DataArray`` with the system
        dimension (it may vary over draws).
    method
        ``"standard"``, ``"wang"`` (Wang et al. 2021) or ``"fan"`` (Fan et al. 2024); see the
        module docstring for the formulas.
    system_dim
        Name of the system dimension of a ``DataArray`` (default ``"system"`` if present, else
        the last dimension).

    Returns
    -------
    DataFrame, Series or Dataset
        Columns / variables ``C``, ``T`` and ``D`` with the same samples as ``U``: a ``DataFrame``
        for ``DataFrame`` or 2-D array input, a ``Series`` for a 1-D array, a ``Dataset`` for
        ``DataArray`` input.

    Examples
    --------
    >>> from bayes_rent.grey import coupling_coordination
    >>> coupling_coordination([0.2, 0.4]).round(4).to_dict()
    {'C': 0.9428, 'T': 0.3, 'D': 0.5318}
    >>> round(float(coupling_coordination([0.2, 0.4], method="wang")["C"]), 3)
    0.632
    >>> round(float(coupling_coordination([0.2, 0.4], method="fan")["C"]), 3)
    0.8
    """
    if method not in COUPLING_METHODS:
        raise ValueError(f"unknown coupling method {method!r}; choose from {COUPLING_METHODS}")
    one_sample = not isinstance(U, pd.DataFrame | xr.DataArray) and np.ndim(U) == 1
    if isinstance(U, xr.DataArray):
        sdim = system_dim or ("system" if "system" in U.dims else str(U.dims[-1]))
        if sdim not in U.dims:
            raise ValueError(f"U has no dimension {sdim!r}; dims are {U.dims}")
        da = U.transpose(..., sdim).astype(float)
    else:
        arr = np.atleast_2d(np.asarray(U, dtype=float)) if not isinstance(U, pd.DataFrame) else U
        tab, _ = as_table(arr, indicator_name="system", what="U")
        sdim = "system"
        da = tab
    check_finite(da, "U")
    values = da.values
    if (values < 0).any() or (values > 1).any():
        raise ValueError("subsystem indices U must lie in [0, 1]; build them from normalised "
                         "indicators (see subsystem_index)")
    labels = labels_for(da, sdim)
    w = _system_weights(weights, labels, sdim)
    _warn_all_zero(da, sdim, U)
    c = coupling_degree_values(values, method)
    dims = da.dims[:-1]
    coords = {k: v for k, v in da.coords.items() if sdim not in v.dims}
    C = xr.DataArray(c, dims=dims, coords=coords, name="C")
    if sdim in da.coords and sdim not in w.coords:
        w = w.assign_coords({sdim: da[sdim]})
    T = (da * w).sum(sdim).transpose(*dims, ...)
    D = np.sqrt(C * T)
    ds = xr.Dataset({"C": C, "T": T, "D": D}, attrs={"method": method})
    if isinstance(U, xr.DataArray):
        return ds
    frame = ds.to_dataframe()[["C", "T", "D"]]
    if isinstance(U, pd.DataFrame):
        frame.index = U.index
        return frame
    if one_sample:
        return frame.iloc[0].rename(None)
    return frame.reset_index(drop=True)


def _warn_all_zero(da: xr.DataArray, sdim: str, U: Any) -> None:
    """Samples whose every subsystem index is 0: C is 0/0 there, so C and D come out NaN."""
    zero = (da.values == 0).all(axis=-1)
    if not zero.any():
        return
    if isinstance(U, pd.DataFrame):
        names = [str(x) for x in U.index[zero.reshape(-1)]]
    else:
        names = [", ".join(f"{d}={da[d].values[i]!r}" if d in da.coords else f"{d}={i}"
                           for d, i in zip(da.dims[:-1], pos, strict=True))
                 for pos in zip(*np.nonzero(zero), strict=True)]
    shown = "; ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    warnings.warn(
        f"the subsystem indices U are 0 in every system for {len(names)} sample(s) ({shown}): "
        "the coupling degree C is 0/0 there, so C and D are NaN for them. A firm at the bottom "
        "of every min-max normalised indicator scores 0; check its data or the normalisation",
        GreyWarning, stacklevel=3,
    )


def subsystem_index(
    X: Table,
    weights: Any = None,
    *,
    sample_dim: str | None = None,
    indicator_dim: str | None = None,
) -> pd.Series | np.ndarray | xr.DataArray:
    """Subsystem (comprehensive evaluation) index ``U = Σ_j w_j x'_j`` of normalised indicators.

    Parameters
    ----------
    X
        Normalised indicators in [0, 1], samples × indicators (``DataFrame``, array or
        ``DataArray`` with batch dimensions).
    weights
        ``None`` (equal), a mapping/``Series``/sequence, an :class:`~bayes_rent.grey.AHPResult`,
        or a ``DataArray`` over the indicator dimension that may vary over batch dimensions (e.g.
        per-draw entropy weights or Dirichlet-perturbed weights). Rescaled to sum to 1.

    Returns
    -------
    Series, ndarray or DataArray
        One index per sample (per batch element).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import subsystem_index
    >>> X = pd.DataFrame({"a": [0.0, 0.5, 1.0], "b": [1.0, 0.5, 0.0]})
    >>> subsystem_index(X, {"a": 3, "b": 1}).tolist()
    [0.25, 0.5, 0.75]
    """
    da, kind = as_table(X, sample_dim=sample_dim, indicator_dim=indicator_dim)
    ind = kind.indicator_dim
    labels = labels_for(da, ind)
    if weights is None:
        w = xr.DataArray(np.full(len(labels), 1.0 / len(labels)), dims=(ind,))
    elif isinstance(weights, xr.DataArray):
        wdim = ind if ind in weights.dims else str(weights.dims[-1])
        w = weights.rename({wdim: ind}) if wdim != ind else weights
        warn_rescaled(w.transpose(..., ind).values)
        w = w / w.sum(ind)
    else:
        weights = getattr(weights, "weights", weights)  # an AHPResult
        s = user_weights(weights, labels if isinstance(weights, Mapping | pd.Series) else None)
        if len(s) != len(labels):
            raise ValueError(f"{len(s)} weights for {len(labels)} indicators")
        w = xr.DataArray(s.to_numpy(), dims=(ind,))
    if ind in da.coords and ind not in w.coords:
        w = w.assign_coords({ind: da[ind]})
    u = (da * w).sum(ind)
    u = u.transpose(*[d for d in da.dims if d != ind], ...)
    return restore_vector(u.rename("U"), kind, name="U")


def relative_development(
    U: Table,
    bands: Bands | Any = None,
    *,
    system_dim: str | None = None,
) -> pd.DataFrame | xr.Dataset:
    """Relative development ``U1/U2`` of two systems and which one lags.

    Parameters
    ----------
    U
        Two subsystem indices per sample (``DataFrame`` columns, array last axis, or a
        ``DataArray`` with a system dimension).
    bands
        Bands of the ratio (default :data:`~bayes_rent.grey.DEVELOPMENT_BANDS`:
        ``U1/U2 ≤ 0.8`` first system lags, ``0.8 < U1/U2 ≤ 1.2`` synchronous, ``> 1.2`` second
        system lags, as in e.g. Sci. Rep. 14:5150, 2024).

    Returns
    -------
    DataFrame or Dataset
        ``ratio`` and ``status``: the band name with "first"/"second" replaced by the system
        names (pandas), or integer band codes with the names in ``attrs`` (xarray).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import relative_development
    >>> U = pd.DataFrame({"NC": [0.3, 0.5, 0.6], "AC": [0.6, 0.5, 0.4]})
    >>> relative_development(U)["status"].tolist()
    ['NC lags', 'synchronous', 'AC lags']
    """
    bands = DEVELOPMENT_BANDS if bands is None else make_bands(bands)
    if isinstance(U, xr.DataArray):
        sdim = system_dim or ("system" if "system" in U.dims else str(U.dims[-1]))
        da = U.transpose(..., sdim)
    else:
        da, _ = as_table(U, indicator_name="system", what="U")
        sdim = str(da.dims[-1])
    if da.sizes[sdim] != 2:
        raise ValueError(f"relative development needs exactly two systems, got {da.sizes[sdim]}")
    names = [str(v) for v in labels_for(da, sdim)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = da.isel({sdim: 0}, drop=True) / da.isel({sdim: 1}, drop=True)
    codes = level_codes(ratio.values, bands)
    labels = [b.name.replace("first system", names[0]).replace("second system", names[1])
              for b in bands.bands]
    if isinstance(U, xr.DataArray):
        status = ratio.copy(data=codes).rename("status")
        status.attrs["levels"] = labels
        return xr.Dataset({"ratio": ratio.rename("ratio"), "status": status})
    lab = np.array(labels + ["undefined"], dtype=object)[codes]
    out = pd.DataFrame({"ratio": ratio.values, "status": lab})
    if isinstance(U, pd.DataFrame):
        out.index = U.index
    return out
