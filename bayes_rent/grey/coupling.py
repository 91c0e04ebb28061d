"""Grey relational coupling between two indicator systems.

This is the "grey relational coupling degree model" (灰色关联耦合度模型) introduced for
urbanisation and the eco-environment by Liu, Li & Song (2005) and used since across Chinese
regional-economics studies; He Wenliang's book applies it to network capability (NC, ``X`` with
``m`` indicators) and absorptive capability (AC, ``Y`` with ``l`` indicators) of cluster firms.
For samples ``t = 1 … k`` (firms, or years):

1. standardise every indicator over the samples, ``Z = (x − mean)/sd`` (``normalize``);
2. relational coefficient of X-indicator ``i`` and Y-indicator ``j`` at sample ``t``::

       Δ_ij(t) = |Z_i^x(t) − Z_j^y(t)|
       ξ_ij(t) = (Δmin + ρ·Δmax) / (Δ_ij(t) + ρ·Δmax),   ρ = 0.5

   with Δmin/Δmax taken as chosen by ``extremes``:

   * ``"all"`` (default) — over all pairs and all samples: Deng's two-level extremes with the
     samples as the points, which keeps ``ξ`` and ``C(t)`` comparable between firms;
   * ``"sample"`` — ``min_i min_j`` and ``max_i max_j`` at the same sample ``t``, the way the
     formula is written in Liu et al. (2005); each firm is then scaled by its own largest
     difference, so ``C(t)`` ranks pairs within a firm but not firms against each other;
   * ``"pair"`` — over the samples of one ``(i, j)`` pair;

3. the relational-degree matrix ``γ_ij = (1/k) Σ_t ξ_ij(t)`` (``degree_matrix``); its row means
   ``(1/l) Σ_j γ_ij`` and column means ``(1/m) Σ_i γ_ij`` rank the indicators that drive the
   coupling (``x_means``, ``y_means``);
4. the coupling degree of sample ``t``: ``C(t) = (1/(m·l)) Σ_i Σ_j ξ_ij(t)`` (``coupling``), its
   mean over samples (``overall``, equal to the mean of ``γ``), and group (cluster) means.

Every step broadcasts over extra dimensions such as ``chain`` and ``draw``.

Because ``ξ`` sees differences only relative to Δmax, the grey coupling degree is a *relative*
index: it orders firms and clusters within one analysis, but two data sets whose differences have
the same shape get the same values whatever their scale (see :mod:`bayes_rent.grey.posterior`).

References
----------
Liu, Y., Li, R., & Song, X. (2005). 中国区域城市化与生态环境耦合的关联分析 [Grey associative
analysis of regional urbanization and eco-environment coupling in China]. *Acta Geographica
Sinica* (地理学报), 60(2), 237–247.
Deng, J. (1989). Introduction to grey system theory. *The Journal of Grey System*, 1(1), 1–24.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._common import Table, as_table, check_finite, labels_for
from .normalize import normalize_values
from .relational import check_rho, deng_inplace

__all__ = ["GreyCouplingResult", "grey_coupling", "aggregation_matrix"]

CouplingExtremes = Literal["sample", "all", "pair"]
_EXTREME_AXES = {"sample": (-2, -1), "all": (-3, -2, -1), "pair": (-3,)}


@dataclass
class GreyCouplingResult:
    """Result of :func:`grey_coupling`; every field is a labelled ``DataArray``.

    Attributes
    ----------
    coefficients
        ``ξ_ij(t)``, dims ``(*batch, sample, x, y)`` (``None`` if not kept).
    degree_matrix
        Relational degrees ``γ_ij``, dims ``(*batch, x, y)``.
    coupling
        Coupling degree ``C(t)`` of each sample, dims ``(*batch, sample)``.
    x_means, y_means
        Row means of ``γ`` (one per X indicator) and column means (one per Y indicator).
    overall
        Mean coupling degree over the samples (weighted under ``sample_weights``).
    group_coupling, group_degree_matrix
        Per-group means of ``C(t)`` and of ``ξ`` when ``groups`` is given, else ``None``.
    sample_dim
        Name of the sample dimension (``"sample"`` unless the input named it).

    Examples
    --------
    >>> import numpy as np
    >>> from bayes_rent.grey import grey_coupling
    >>> rng = np.random.default_rng(0)
    >>> res = grey_coupling(rng.normal(size=(30, 4)), rng.normal(size=(30, 3)),
    ...                     groups=np.repeat(["a", "b", "c"], 10))
    >>> sorted(res.to_dataset().data_vars)
    ['C', 'C_group', 'C_overall', 'gamma', 'gamma_group', 'gamma_x', 'gamma_y', 'xi']
    >>> res.drivers().columns.tolist()
    ['system', 'indicator', 'mean_degree', 'rank']
    """

    coefficients: xr.DataArray | None
    degree_matrix: xr.DataArray
    coupling: xr.DataArray
    x_means: xr.DataArray
    y_means: xr.DataArray
    overall: xr.DataArray
    group_coupling: xr.DataArray | None = None
    group_degree_matrix: xr.DataArray | None = None
    sample_dim: str = "sample"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def row_means(self) -> xr.DataArray:
        """Alias of :attr:`x_means`: how strongly each X indicator couples with system Y."""
        return self.x_means

    @property
    def col_means(self) -> xr.DataArray:
        """Alias of :attr:`y_means`: how strongly each Y indicator couples with system X."""
        return self.y_means

    def to_dataset(self) -> xr.Dataset:
        """All results in one ``Dataset`` (variables ``xi``, ``gamma``, ``C``, …)."""
        data = {"gamma": self.degree_matrix, "C": self.coupling, "gamma_x": self.x_means,
                "gamma_y": self.y_means, "C_overall": self.overall}
        if self.coefficients is not None:
            data["xi"] = self.coefficients
        if self.group_coupling is not None:
            data["C_group"] = self.group_coupling
            data["gamma_group"] = self.group_degree_matrix
        return xr.Dataset(data, attrs={k: str(v) for k, v in self.settings.items()})

    def drivers(self) -> pd.DataFrame:
        """Indicators ranked by their mean relational degree (posterior mean if batched).

        Returns
        -------
        DataFrame
            Columns ``system`` (``"x"``/``"y"``), ``indicator``, ``mean_degree`` and ``rank``
            within the system (1 = drives the coupling most).
        """
        rows = []
        for system, da in (("x", self.x_means), ("y", self.y_means)):
            batch = [d for d in da.dims if d != system]
            mean = da.mean(batch) if batch else da
            s = mean.to_series()
            ranks = s.rank(ascending=False, method="min").astype(int)
            rows += [{"system": system, "indicator": k, "mean_degree": float(v),
                      "rank": int(ranks[k])} for k, v in s.items()]
        return pd.DataFrame(rows)


def aggregation_matrix(
    groups: Any, sample_labels: list[Hashable], sample_dim: str, group_dim: str
) -> tuple[np.ndarray, pd.Index]:
    """One-hot membership matrix ``(sample, group)`` and the group labels.

    ``groups`` is one label per sample (array-like), a ``Series`` indexed by the sample labels, or
    a ``DataArray`` along the sample dimension.
    """
    if isinstance(groups, xr.DataArray):
        labels = groups.transpose(sample_dim).values
    elif isinstance(groups, pd.Series):
        labels = groups.reindex(sample_labels).to_numpy()
        if pd.isna(labels).any():
            raise ValueError("groups does not give a group for every sample")
    else:
        labels = np.asarray(groups)
    if labels.shape != (len(sample_labels),):
        raise ValueError(f"groups must give one label per sample ({len(sample_labels)}), got "
                         f"shape {labels.shape}")
    codes, uniques = pd.factorize(labels, sort=True)
    onehot = np.zeros((len(sample_labels), len(uniques)))
    onehot[np.arange(len(sample_labels)), codes] = 1.0
    return onehot, pd.Index(uniques, name=group_dim)


def _prepare(
    X: Table, Y: Table, sample_dim: str | None, x_dim: str | None, y_dim: str | None
) -> tuple[xr.DataArray, xr.DataArray, str]:
    xa, kx = as_table(X, sample_dim=sample_dim, indicator_dim=x_dim, what="X")
    ya, ky = as_table(Y, sample_dim=sample_dim, indicator_dim=y_dim, what="Y")
    smp = kx.sample_dim
    if ky.sample_dim != smp:
        ya = ya.rename({ky.sample_dim: smp})
    xa = xa.rename({kx.indicator_dim: "x"})
    ya = ya.rename({ky.indicator_dim: "y"})
    if xa.sizes[smp] != ya.sizes[smp]:
        raise ValueError(f"X has {xa.sizes[smp]} samples but Y has {ya.sizes[smp]}")
    check_finite(xa, "X")
    check_finite(ya, "Y")
    xa, ya = xr.align(xa, ya, join="exact", exclude=["x", "y"])
    # Same batch dimensions, in the same order, in both.
    xa, ya = xr.broadcast(xa, ya, exclude=[smp, "x", "y"])
    xa = xa.transpose(..., smp, "x")
    ya = ya.transpose(*xa.dims[:-1], "y")
    return xa, ya, smp


def grey_coupling(
    X: Table,
    Y: Table,
    rho: float = 0.5,
    *,
    extremes: CouplingExtremes = "all",
    normalize: str | None = "zscore",
    groups: Any = None,
    group_dim: str = "group",
    sample_weights: Any = None,
    keep_coefficients: bool = True,
    sample_dim: str | None = None,
    x_dim: str | None = None,
    y_dim: str | None = None,
) -> GreyCouplingResult:
    """Grey relational coupling between indicator systems X (m indicators) and Y (l indicators).

    Parameters
    ----------
    X, Y
        Samples × indicators tables (``DataFrame``, array, or ``DataArray``). ``DataArray`` inputs
        may carry batch dimensions such as ``(chain, draw)``; by default the last dimension holds
        the indicators and the one before it the samples (e.g. ``(chain, draw, firm, indicator)``).
    rho
        Distinguishing coefficient ρ ∈ (0, 1] (default 0.5).
    extremes
        Where Δmin/Δmax are taken: ``"all"`` (all pairs and samples; default), ``"sample"`` (all
        pairs at the same sample, as the formula is written in Liu et al. 2005) or ``"pair"``
        (all samples of one pair). See the module docstring; with ``"sample"`` each firm's
        coefficients are rescaled by that firm's own largest difference, so ``C(t)`` is not
        comparable between firms.
    normalize
        Standardisation of every indicator over the samples before differencing: ``"zscore"``
        (default, Liu et al. 2005), ``"minmax"``, ``"initial"``, ``"mean"`` or ``None`` for data
        that are already comparable.
    groups
        Optional group (cluster) label per sample; adds per-group means of ``C(t)`` and ``ξ``.
    group_dim
        Name of the group dimension.
    sample_weights
        Optional non-negative weight per sample (e.g. Bayesian-bootstrap weights), possibly varying
        over batch dimensions (a ``DataArray`` with the sample dimension). Used for ``γ``, the
        overall and the group means.
    keep_coefficients
        Keep the full ``ξ`` array (``(*batch, sample, m, l)``); set ``False`` to save memory.
    sample_dim, x_dim, y_dim
        Dimension names for ``DataArray`` inputs.

    Returns
    -------
    GreyCouplingResult
        ``.coefficients`` (sample, x, y), ``.degree_matrix`` (x, y), ``.coupling`` (sample),
        ``.x_means``/``.y_means`` (row and column means of γ), ``.overall`` and group results.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.grey import grey_coupling
    >>> X = pd.DataFrame({"vision": [1.0, 2.0, 3.0, 4.0], "portfolio": [2.0, 1.0, 4.0, 3.0]})
    >>> Y = pd.DataFrame({"acquisition": [1.5, 2.5, 3.0, 4.5]})
    >>> res = grey_coupling(X, Y)
    >>> res.degree_matrix.dims, res.coupling.dims
    (('x', 'y'), ('sample',))
    >>> res.degree_matrix.sel(y="acquisition").round(3).to_series().to_dict()
    {'vision': 0.892, 'portfolio': 0.421}
    >>> bool(res.coupling.max() <= 1.0)
    True
    """
    rho = check_rho(rho)
    if extremes not in _EXTREME_AXES:
        raise ValueError(f"extremes must be one of {tuple(_EXTREME_AXES)}, got {extremes!r}")
    xa, ya, smp = _prepare(X, Y, sample_dim, x_dim, y_dim)
    xl, yl = labels_for(xa, "x"), labels_for(ya, "y")
    if xa.sizes[smp] < 2 and normalize not in (None, "none"):
        only = labels_for(xa, smp)[0] if xa.sizes[smp] else None
        raise ValueError(
            f"grey coupling compares samples (firms), but X and Y hold {xa.sizes[smp]} "
            f"({smp} {only}); normalize={normalize!r} over a single sample divides by zero "
            "and every coefficient would be NaN. Give at least two firms, or normalize=None "
            "for indicators that are already comparable"
        )
    zx, zy = xa.values, ya.values
    if normalize not in (None, "none"):
        zx = normalize_values(zx, normalize, np.zeros(len(xl), bool), xl)
        zy = normalize_values(zy, normalize, np.zeros(len(yl), bool), yl)
    batch_shape = zx.shape[:-2]
    n, m, l_ = zx.shape[-2], zx.shape[-1], zy.shape[-1]
    # One buffer of shape (*batch, n, m, l) carries Δ and then ξ; no other array of that size.
    xi = np.empty(batch_shape + (n, m, l_))
    np.subtract(zx[..., :, :, None], zy[..., :, None, :], out=xi)
    np.abs(xi, out=xi)
    deng_inplace(xi, rho, _EXTREME_AXES[extremes])

    batch_dims = xa.dims[:-2]
    coords = dict(xa.coords.items())
    coords.update({k: v for k, v in ya.coords.items() if "y" in v.dims})
    coef = xr.DataArray(xi, dims=batch_dims + (smp, "x", "y"), coords=coords, name="xi")
    coupling = xr.DataArray(
        xi.mean(axis=(-2, -1)), dims=batch_dims + (smp,),
        coords={k: v for k, v in coords.items() if set(v.dims) <= set(batch_dims + (smp,))},
        name="C")
    group_c = group_g = None
    members: list[np.ndarray] = []
    if groups is not None:
        onehot, glabels = aggregation_matrix(groups, labels_for(xa, smp), smp, group_dim)
        members = [_as_slice(np.flatnonzero(onehot[:, g])) for g in range(onehot.shape[1])]
    # Means are plain reductions (and weighted means multiply-then-reduce, never BLAS), so a
    # batch gives bit-for-bit the per-draw result. The loops below run over the few groups.
    if sample_weights is None:
        gamma_v = xi.mean(axis=-3)
        overall_v = coupling.values.mean(axis=-1)
        if groups is not None:
            gc = np.stack([coupling.values[..., idx].mean(axis=-1) for idx in members], axis=-1)
            gg = np.stack([xi[..., idx, :, :].mean(axis=-3) for idx in members], axis=-3)
    else:
        w = _sample_weights(sample_weights, smp, batch_dims, xa)
        wn = np.broadcast_to(w / w.sum(axis=-1, keepdims=True), batch_shape + (n,))
        cv = coupling.values
        overall_v = (wn * cv).sum(axis=-1)
        # ξ is no longer needed unweighted unless it is returned: weight it in place then.
        wxi = np.multiply(xi, wn[..., :, None, None], out=None if keep_coefficients else xi)
        gamma_v = wxi.sum(axis=-3)
        if groups is not None:
            gsum = [wn[..., idx].sum(axis=-1) for idx in members]
            gc = np.stack([(wn[..., idx] * cv[..., idx]).sum(axis=-1) / ws
                           for idx, ws in zip(members, gsum, strict=True)], axis=-1)
            gg = np.stack([wxi[..., idx, :, :].sum(axis=-3) / ws[..., None, None]
                           for idx, ws in zip(members, gsum, strict=True)], axis=-3)
    if groups is not None:
        bcoords = {k: v for k, v in coords.items() if set(v.dims) <= set(batch_dims)}
        group_c = xr.DataArray(gc, dims=batch_dims + (group_dim,),
                               coords={**bcoords, group_dim: glabels}, name="C_group")
        group_g = xr.DataArray(gg, dims=batch_dims + (group_dim, "x", "y"),
                               coords={**bcoords, group_dim: glabels,
                                       **{k: v for k, v in coords.items() if k in ("x", "y")}},
                               name="gamma_group")

    gcoords = {k: v for k, v in coords.items() if smp not in v.dims}
    gamma = xr.DataArray(gamma_v, dims=batch_dims + ("x", "y"), coords=gcoords, name="gamma")
    overall = xr.DataArray(overall_v, dims=batch_dims,
                           coords={k: v for k, v in gcoords.items()
                                   if set(v.dims) <= set(batch_dims)}, name="C_overall")
    return GreyCouplingResult(
        coefficients=coef if keep_coefficients else None,
        degree_matrix=gamma,
        coupling=coupling,
        x_means=gamma.mean("y").rename("gamma_x"),
        y_means=gamma.mean("x").rename("gamma_y"),
        overall=overall,
        group_coupling=group_c,
        group_degree_matrix=group_g,
        sample_dim=smp,
        settings={"rho": rho, "extremes": extremes, "normalize": normalize},
    )


def _as_slice(idx: np.ndarray) -> np.ndarray | slice:
    """A slice for a contiguous run of indices, so that selecting a group is a view, not a copy."""
    if idx.size and idx[-1] - idx[0] + 1 == idx.size:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _sample_weights(
    sample_weights: Any, smp: str, batch_dims: tuple[Hashable, ...], like: xr.DataArray
) -> np.ndarray:
    """Weights as an array broadcastable to ``(*batch, sample)``."""
    if isinstance(sample_weights, xr.DataArray):
        extra = set(sample_weights.dims) - set(batch_dims) - {smp}
        if extra:
            raise ValueError(f"sample_weights has dimensions {sorted(map(str, extra))} that the "
                             f"data do not have")
        template = like.isel(x=0, drop=True)
        w = sample_weights.broadcast_like(template).transpose(*batch_dims, smp).values
    else:
        w = np.asarray(sample_weights, dtype=float)
        if w.shape[-1:] != (like.sizes[smp],):
            raise ValueError(f"sample_weights must end with the {like.sizes[smp]} samples, got "
                             f"shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or (w.sum(axis=-1) == 0).any():
        raise ValueError("sample_weights must be finite, non-negative and not all zero")
    return w
