"""Reliability and validity of the measurement model, as posteriors.

The statistics a management paper reports for its scales, in the field's own words:

* **Cronbach's alpha** of a scale, from the data: ``alpha = k/(k-1) * (1 - sum(var_i) / var(sum))``.
  Its posterior is a Bayesian bootstrap (Rubin 1981): for each draw, Dirichlet(1, ..., 1)
  weights over respondents give a weighted covariance matrix, and alpha is computed from it.
* **Composite reliability** (CR, McDonald's omega, Fornell & Larcker 1981) of each construct,
  for every posterior draw::

      CR = (sum lambda)^2 / ((sum lambda)^2 + sum theta_ii + 2 sum_{i<j} theta_ij)

  By default (``standardized=True``) ``lambda`` are the completely standardized loadings
  (lavaan's ``std.all``) and ``theta`` the residual (co)variances on the same scale
  (``theta_ij / (sd_i sd_j)``); this is the CR management papers report (Hair et al.).
  With ``standardized=False`` the raw loadings and residual (co)variances are used and the
  construct's variance ``phi`` enters: ``(sum lambda)^2 phi / ((sum lambda)^2 phi + ...)``, the
  omega of the unit-weighted raw sum score.
* **Average variance extracted** (AVE): the mean of the squared standardized loadings.
* **HTMT** (heterotrait-monotrait ratio, Henseler, Ringle & Sarstedt 2015): the mean
  correlation between the indicators of two constructs, divided by the geometric mean of the
  mean correlations among each construct's own indicators. Per draw it uses the model-implied
  correlation matrix; the classical value uses the data's correlation matrix.
* **Fornell-Larcker criterion**: for constructs ``i`` and ``j``,
  ``sqrt(AVE_i) > |r_ij|`` and ``sqrt(AVE_j) > |r_ij|``, with ``r_ij`` the latent correlation,
  checked per draw.

Second-order constructs (``NC =~ vision + construction + ...``) are handled level by level: each
first-order dimension is assessed over its items, and the second-order construct over its
dimensions. Its "loadings" are the standardized paths from the construct to its dimensions and
its residuals are the dimensions' disturbances (``Psi``). For the data-based statistics (alpha,
classical HTMT) a dimension is represented by the mean of its items. Discriminant validity is
not assessed between a second-order construct and its own dimensions (they are nested).

Items are used as they are in the data: recode reverse-keyed items first (the survey room does).
An indicator that is also regressed on other variables (a phantom in the all-y form) has its
residual in ``Psi``; the variance it gets from those predictors counts as neither common nor
unique variance of the construct.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.results.standardized import (
    labelled_moments,
    matrix_names,
    matrix_values,
    phantom_map,
)
from bayes_rent.results.summary import summarize_draws

__all__ = [
    "average_variance_extracted",
    "composite_reliability",
    "constructs",
    "cronbach_alpha",
    "fornell_larcker",
    "htmt",
    "reliability_table",
    "standardized_loadings",
    "validity_table",
]


# --------------------------------------------------------------------------------------------
# constructs and the joint (observed + latent) variable system
# --------------------------------------------------------------------------------------------


def constructs(partable: pd.DataFrame) -> dict[str, list[str]]:
    """Indicators of every construct, read from the ``=~`` rows of the parameter table.

    Parameters
    ----------
    partable : pandas.DataFrame
        The parameter table (``lhs, op, rhs``).

    Returns
    -------
    dict
        ``{construct: [indicator, ...]}`` in table order. The indicators of a second-order
        construct are its first-order dimensions.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["a", "a", "b", "b", "F", "F"], "op": ["=~"] * 6,
    ...                    "rhs": ["x1", "x2", "x3", "x4", "a", "b"]})
    >>> constructs(pt)
    {'a': ['x1', 'x2'], 'b': ['x3', 'x4'], 'F': ['a', 'b']}
    """
    rows = partable[partable["op"] == "=~"]
    out: dict[str, list[str]] = {}
    for lhs, rhs in zip(rows["lhs"].astype(str), rows["rhs"].astype(str), strict=True):
        out.setdefault(lhs, [])
        if rhs not in out[lhs]:
            out[lhs].append(rhs)
    return out


def _level(name: str, cons: Mapping[str, list[str]]) -> str:
    return "second-order" if any(i in cons for i in cons[name]) else "first-order"


def _assessable(cons: Mapping[str, list[str]]) -> list[str]:
    """Constructs with at least two indicators (CR, AVE and HTMT need two)."""
    return [c for c, items in cons.items() if len(items) >= 2]


def _nested(a: str, b: str, cons: Mapping[str, list[str]]) -> bool:
    return a in cons[b] or b in cons[a] or bool(set(cons[a]) & set(cons[b]))


class _Joint:
    """All variables (observed, then latent) in one system, per draw.

    ``cov`` is the model-implied covariance of ``(y, eta)``, ``resid`` the residual covariance
    (``Theta`` and ``Psi`` on the diagonal blocks) and ``load[..., v, f]`` the coefficient of
    latent ``f`` in the equation of variable ``v`` (``Lambda`` rows, then ``B`` rows).
    """

    def __init__(self, matrices: xr.Dataset) -> None:
        observed, latent, phantom = matrix_names(matrices)
        mom = labelled_moments(matrices)
        phi = mom["latent_cov"].values
        sigma = mom["observed_cov"].values
        cross = mom["observed_latent_cov"].values
        p, m = len(observed), len(latent)
        nc, nd = phi.shape[:2]
        cov = np.empty((nc, nd, p + m, p + m))
        cov[:, :, :p, :p] = sigma
        cov[:, :, :p, p:] = cross
        cov[:, :, p:, :p] = np.swapaxes(cross, 2, 3)
        cov[:, :, p:, p:] = phi
        resid = np.zeros_like(cov)
        resid[:, :, :p, :p] = matrix_values(matrices, "Theta", "observed", "observed_col")
        resid[:, :, p:, p:] = matrix_values(matrices, "Psi", "latent", "latent_col")
        load = np.concatenate(
            [
                matrix_values(matrices, "Lambda", "observed", "latent"),
                matrix_values(matrices, "B", "latent", "latent_col"),
            ],
            axis=2,
        )
        self.cov, self.resid, self.load, self.p = cov, resid, load, p
        self.chain = matrices["chain"].values
        self.draw = matrices["draw"].values
        self.latent = latent
        li = {n: i for i, n in enumerate(latent)}
        pmap = phantom_map(matrices)
        index: dict[str, int] = {}
        for i, name in enumerate(observed):
            index[name] = p + li[pmap[name]] if name in pmap else i
        for j, name in enumerate(latent):
            if not phantom[j]:
                index[name] = p + j
        self.index = index
        self.latent_index = li
        self.var = np.diagonal(cov, axis1=2, axis2=3)

    def pair_coords(self, names: list[str]) -> dict[str, object]:
        """Coordinates of a (chain, draw, construct, construct_col) array."""
        return {"chain": self.chain, "draw": self.draw, "construct": names, "construct_col": names}

    def nodes(self, names: Sequence[str]) -> np.ndarray:
        missing = [n for n in names if n not in self.index]
        if missing:
            raise KeyError(f"variables not in the model matrices: {missing}")
        return np.array([self.index[n] for n in names])

    def correlation(self) -> np.ndarray:
        sd = np.sqrt(np.clip(self.var, 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.cov / (sd[:, :, :, None] * sd[:, :, None, :])

    def block(self, construct: str, items: Sequence[str], standardized: bool):
        """Loadings ``(c, d, k)``, residual covariances ``(c, d, k, k)`` and construct variance."""
        idx = self.nodes(items)
        f = self.latent_index[construct]
        lam = self.load[:, :, idx, f]
        res = self.resid[:, :, idx][:, :, :, idx]
        phi = self.cov[:, :, self.p + f, self.p + f]
        if standardized:
            sd = np.sqrt(np.clip(self.var[:, :, idx], 0, None))
            with np.errstate(divide="ignore", invalid="ignore"):
                lam = lam * np.sqrt(np.clip(phi, 0, None))[:, :, None] / sd
                res = res / (sd[:, :, :, None] * sd[:, :, None, :])
            phi = np.ones_like(phi)
        return lam, res, phi


def _per_construct(
    matrices: xr.Dataset,
    partable: pd.DataFrame,
    standardized: bool,
    statistic: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    name: str,
) -> xr.DataArray:
    """``statistic(loadings, residuals, phi)`` of every assessable construct, per draw."""
    joint = _Joint(matrices)
    cons = constructs(partable)
    names = _assessable(cons)
    values = [statistic(*joint.block(c, cons[c], standardized)) for c in names]
    data = np.stack(values, axis=-1) if values else np.zeros(joint.cov.shape[:2] + (0,))
    return xr.DataArray(
        data,
        dims=("chain", "draw", "construct"),
        coords={"chain": joint.chain, "draw": joint.draw, "construct": names},
        name=name,
    )


# --------------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------------


def standardized_loadings(matrices: xr.Dataset, partable: pd.DataFrame) -> dict[str, xr.DataArray]:
    """Completely standardized loadings of each construct's indicators, per draw.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices.
    partable : pandas.DataFrame
        Parameter table (its ``=~`` rows define the constructs).

    Returns
    -------
    dict
        ``{construct: DataArray (chain, draw, indicator)}``; for a second-order construct the
        indicators are its dimensions.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "f", "y1", "y2"],
    ...                    "op": ["=~", "=~", "~~", "~~", "~~"],
    ...                    "rhs": ["y1", "y2", "f", "y1", "y2"],
    ...                    "est": [0.8, 0.6, 1.0, 0.36, 0.64]})
    >>> standardized_loadings(matrices_from_parameters(pt), pt)["f"].values.ravel().round(2)
    array([0.8, 0.6])
    """
    joint = _Joint(matrices)
    out = {}
    for c, items in constructs(partable).items():
        lam, _, _ = joint.block(c, items, standardized=True)
        out[c] = xr.DataArray(
            lam,
            dims=("chain", "draw", "indicator"),
            coords={"chain": joint.chain, "draw": joint.draw, "indicator": items},
            name=c,
        )
    return out


def composite_reliability(
    matrices: xr.Dataset, partable: pd.DataFrame, *, standardized: bool = True
) -> xr.DataArray:
    """Composite reliability (McDonald's omega) of every construct, per draw.

    ``CR = (sum lambda)^2 / ((sum lambda)^2 + sum_i theta_ii + 2 sum_{i<j} theta_ij)``, over the
    construct's indicators (its dimensions, for a second-order construct).

    Parameters
    ----------
    matrices, partable
        As for :func:`standardized_loadings`.
    standardized : bool
        True (default): completely standardized loadings and residual (co)variances, the CR
        reported in management research. False: raw loadings and residual (co)variances, with
        the construct variance ``phi`` multiplying ``(sum lambda)^2`` (omega of the raw sum).

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, construct)``, constructs with at least two indicators.

    Examples
    --------
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "f", "y1", "y2"], "op": ["=~", "=~", "~~", "~~", "~~"],
    ...                    "rhs": ["y1", "y2", "f", "y1", "y2"], "est": [.8, .6, 1, .36, .64]})
    >>> cr = composite_reliability(matrices_from_parameters(pt), pt)
    >>> round(float(cr.sel(construct="f").squeeze()), 4)  # 1.96 / (1.96 + 1.0)
    0.6622
    """

    def omega(lam: np.ndarray, res: np.ndarray, phi: np.ndarray) -> np.ndarray:
        num = lam.sum(axis=-1) ** 2 * phi
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / (num + res.sum(axis=(-2, -1)))

    return _per_construct(matrices, partable, standardized, omega, "composite_reliability")


def average_variance_extracted(matrices: xr.Dataset, partable: pd.DataFrame) -> xr.DataArray:
    """Average variance extracted of every construct, per draw.

    ``AVE = mean_i(lambda_i*^2)``, the mean squared completely standardized loading over the
    construct's indicators (its dimensions, for a second-order construct). Parameters and
    result as for :func:`composite_reliability` with ``standardized=True``.

    Examples
    --------
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> rows = [("f", "=~", "y1", 0.8), ("f", "=~", "y2", 0.6), ("f", "~~", "f", 1.0),
    ...         ("y1", "~~", "y1", 0.36), ("y2", "~~", "y2", 0.64)]
    >>> pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est"])
    >>> ave = average_variance_extracted(matrices_from_parameters(pt), pt)
    >>> round(float(ave.squeeze()), 4)  # (0.64 + 0.36) / 2
    0.5
    """
    return _per_construct(
        matrices, partable, True, lambda lam, _res, _phi: (lam**2).mean(axis=-1), "ave"
    )


def _alpha_from_cov(cov: np.ndarray) -> np.ndarray:
    k = cov.shape[-1]
    total = cov.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return k / (k - 1) * (1.0 - np.trace(cov, axis1=-2, axis2=-1) / total)


def _bootstrap_alpha(x: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Alpha under Dirichlet(1, ..., 1) weights over respondents (Bayesian bootstrap)."""
    n, k = x.shape
    xx = (x[:, :, None] * x[:, None, :]).reshape(n, k * k)
    out = np.empty(draws)
    # chunks keep the (chunk x n) weight matrix small for large surveys
    chunk = max(1, min(draws, 2_000_000 // max(n, 1)))
    for start in range(0, draws, chunk):
        stop = min(draws, start + chunk)
        w = rng.dirichlet(np.ones(n), size=stop - start)
        mean = w @ x
        cov = (w @ xx).reshape(-1, k, k) - mean[:, :, None] * mean[:, None, :]
        out[start:stop] = _alpha_from_cov(cov)
    return out


def _alpha_one(
    data: pd.DataFrame, items: Sequence[str], posterior: bool, draws: int, rng
) -> tuple[float, np.ndarray | None]:
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise KeyError(f"items not in the data: {missing}")
    if len(items) < 2:
        raise ValueError("Cronbach's alpha needs at least two items")
    x = data[list(items)].apply(pd.to_numeric, errors="raise").dropna().to_numpy(dtype=float)
    point = float(_alpha_from_cov(np.cov(x, rowvar=False)))
    return point, (_bootstrap_alpha(x, draws, rng) if posterior else None)


def cronbach_alpha(
    data: pd.DataFrame,
    items: Sequence[str] | Mapping[str, Sequence[str]],
    *,
    posterior: bool = False,
    draws: int = 2000,
    seed: int | np.random.Generator | None = None,
) -> float | pd.Series | xr.DataArray:
    """Cronbach's alpha of a scale, classical and (optionally) as a Bayesian-bootstrap posterior.

    ``alpha = k/(k-1) * (1 - sum_i var(x_i) / var(sum_i x_i))`` with the ``k`` items' sample
    covariance matrix (rows with a missing item are dropped).

    Parameters
    ----------
    data : pandas.DataFrame
        Respondents in rows, items in columns (reverse-keyed items already recoded).
    items : sequence of str or mapping
        The items of one scale, or ``{scale: items}`` for several.
    posterior : bool
        Also return the Bayesian bootstrap: ``draws`` Dirichlet(1, ..., 1) weightings of the
        respondents, alpha from each weighted covariance matrix.
    draws : int
        Number of bootstrap draws.
    seed : int or numpy.random.Generator, optional
        Seed for the Dirichlet weights.

    Returns
    -------
    float, pandas.Series or xarray.DataArray
        Without ``posterior``: the classical alpha (a Series indexed by scale for a mapping).
        With it: a DataArray ``(chain, draw)`` (``(chain, draw, construct)`` for a mapping),
        one chain, whose ``attrs["classical"]`` holds the classical value(s).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 5], "c": [1, 3, 3, 4, 4]})
    >>> round(cronbach_alpha(df, ["a", "b", "c"]), 4)
    0.9538
    >>> post = cronbach_alpha(df, ["a", "b", "c"], posterior=True, draws=500, seed=1)
    >>> post.dims, post.attrs["classical"] == cronbach_alpha(df, ["a", "b", "c"])
    (('chain', 'draw'), True)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if isinstance(items, Mapping):
        names = [str(k) for k in items]
        results = [_alpha_one(data, list(v), posterior, draws, rng) for v in items.values()]
        points = pd.Series([r[0] for r in results], index=pd.Index(names, name="construct"))
        if not posterior:
            return points.rename("alpha")
        return xr.DataArray(
            np.stack([r[1] for r in results], axis=-1)[None],
            dims=("chain", "draw", "construct"),
            coords={"chain": [0], "draw": np.arange(draws), "construct": names},
            name="alpha",
            attrs={"classical": points.to_dict()},
        )
    point, boot = _alpha_one(data, list(items), posterior, draws, rng)
    if not posterior:
        return point
    return xr.DataArray(
        boot[None],
        dims=("chain", "draw"),
        coords={"chain": [0], "draw": np.arange(draws)},
        name="alpha",
        attrs={"classical": point},
    )


def _add_summary(out: pd.DataFrame, name: str, summary: pd.DataFrame) -> None:
    """Add the columns ``name``, ``name_hdi_low`` and ``name_hdi_high`` from a draws summary."""
    out[name] = summary["mean"].to_numpy()
    out[f"{name}_hdi_low"] = summary["hdi_low"].to_numpy()
    out[f"{name}_hdi_high"] = summary["hdi_high"].to_numpy()


def _scale_frame(data: pd.DataFrame, cons: Mapping[str, list[str]]) -> pd.DataFrame:
    """Item columns plus one unit-weighted score column per dimension of a second-order construct.

    Dimensions are added bottom-up, so third-order constructs would also work.
    """
    frame = data.copy()
    pending = [c for c in cons if c not in frame.columns]
    for _ in range(len(pending)):
        for c in list(pending):
            if all(i in frame.columns for i in cons[c]):
                frame[c] = frame[cons[c]].apply(pd.to_numeric, errors="raise").mean(
                    axis=1, skipna=False
                )
                pending.remove(c)
    return frame


def reliability_table(
    matrices: xr.Dataset,
    partable: pd.DataFrame,
    data: pd.DataFrame | None = None,
    *,
    hdi_prob: float = 0.9,
    standardized: bool = True,
    cr_threshold: float = 0.7,
    ave_threshold: float = 0.5,
    bootstrap_draws: int = 2000,
    seed: int | None = None,
) -> pd.DataFrame:
    """One row per construct: Cronbach's alpha, composite reliability and AVE, with intervals.

    Parameters
    ----------
    matrices, partable
        As for :func:`standardized_loadings`, every draw of the fit.
    data : pandas.DataFrame, optional
        The item responses, for alpha (NaN columns without it). For a second-order construct
        alpha is computed over its dimensions' mean scores.
    hdi_prob : float
        Probability mass of the highest-density intervals.
    standardized : bool
        Passed to :func:`composite_reliability`.
    cr_threshold, ave_threshold : float
        Cut-offs for ``p_cr = P(CR >= cr_threshold)`` and ``p_ave = P(AVE >= ave_threshold)``
        (0.7 and 0.5, Fornell & Larcker 1981; Hair et al.).
    bootstrap_draws : int
        Bayesian-bootstrap draws for alpha's interval (0: no interval).
    seed : int, optional
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        ``construct, level, n_indicators, alpha, alpha_hdi_low, alpha_hdi_high,
        composite_reliability, composite_reliability_hdi_low, composite_reliability_hdi_high,
        p_cr, ave, ave_hdi_low, ave_hdi_high, p_ave``. ``alpha`` is the classical value (the
        interval is the bootstrap's); CR and AVE are posterior means. ``attrs`` hold
        ``kind="reliability"``, ``hdi_prob`` and the thresholds.

    Examples
    --------
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "f", "y1", "y2"], "op": ["=~", "=~", "~~", "~~", "~~"],
    ...                    "rhs": ["y1", "y2", "f", "y1", "y2"], "est": [.8, .6, 1, .36, .64]})
    >>> matrices = matrices_from_parameters(pt)
    >>> tab = reliability_table(matrices, pt)
    >>> tab[["construct", "composite_reliability", "ave", "p_ave"]].round(3).values.tolist()
    [['f', 0.662, 0.5, 1.0]]
    """
    cons = constructs(partable)
    cr = composite_reliability(matrices, partable, standardized=standardized)
    ave = average_variance_extracted(matrices, partable)
    names = [str(c) for c in cr["construct"].values]
    cr_s = summarize_draws(cr, "construct", hdi_prob=hdi_prob)
    ave_s = summarize_draws(ave, "construct", hdi_prob=hdi_prob)
    out = pd.DataFrame(
        {
            "construct": names,
            "level": [_level(c, cons) for c in names],
            "n_indicators": [len(cons[c]) for c in names],
        }
    )
    alpha = np.full(len(names), np.nan)
    alpha_lo = np.full(len(names), np.nan)
    alpha_hi = np.full(len(names), np.nan)
    if data is not None:
        frame = _scale_frame(data, cons)
        usable = {c: cons[c] for c in names if all(i in frame.columns for i in cons[c])}
        if usable:
            res = cronbach_alpha(
                frame, usable, posterior=bootstrap_draws > 0, draws=bootstrap_draws, seed=seed
            )
            if isinstance(res, xr.DataArray):
                points = res.attrs["classical"]
                # bootstrap draws are independent: an HDI of the pooled draws, no chain checks
                boot = res.transpose("chain", "draw", "construct").values
                boot = boot.reshape(-1, boot.shape[-1])
                hdi = {c: az.hdi(boot[:, k], hdi_prob=hdi_prob) for k, c in enumerate(usable)}
            else:
                points, hdi = res.to_dict(), {}
            for k, c in enumerate(names):
                if c in usable:
                    alpha[k] = points[c]
                    if c in hdi:
                        alpha_lo[k], alpha_hi[k] = hdi[c]
    out["alpha"] = alpha
    out["alpha_hdi_low"] = alpha_lo
    out["alpha_hdi_high"] = alpha_hi
    _add_summary(out, "composite_reliability", cr_s)
    out["p_cr"] = (cr >= cr_threshold).mean(("chain", "draw")).values
    _add_summary(out, "ave", ave_s)
    out["p_ave"] = (ave >= ave_threshold).mean(("chain", "draw")).values
    out.attrs.update(
        {
            "kind": "reliability",
            "hdi_prob": hdi_prob,
            "cr_threshold": cr_threshold,
            "ave_threshold": ave_threshold,
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# validity
# --------------------------------------------------------------------------------------------


def _htmt_from_corr(
    corr: np.ndarray,
    index: Mapping[str, int],
    cons: Mapping[str, list[str]],
    names: list[str],
    absolute: bool,
    method: str,
) -> np.ndarray:
    """HTMT matrix ``(..., n, n)`` from correlations ``(..., v, v)``; NaN where unassessed."""
    if method not in ("arithmetic", "geometric"):
        raise ValueError("method must be 'arithmetic' (HTMT) or 'geometric' (HTMT2)")
    r = np.abs(corr) if absolute else corr

    def mean(x: np.ndarray) -> np.ndarray:
        if method == "geometric":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.exp(np.log(x).mean(axis=-1))
        return x.mean(axis=-1)

    mono = {}
    for c in names:
        idx = np.array([index[i] for i in cons[c]])
        iu = np.triu_indices(len(idx), 1)
        mono[c] = mean(r[..., idx[:, None], idx[None, :]][..., iu[0], iu[1]])
    out = np.full(corr.shape[:-2] + (len(names), len(names)), np.nan)
    for a, ca in enumerate(names):
        ia = np.array([index[i] for i in cons[ca]])
        for b in range(a + 1, len(names)):
            cb = names[b]
            if _nested(ca, cb, cons):
                continue
            ib = np.array([index[i] for i in cons[cb]])
            hetero = mean(r[..., ia[:, None], ib[None, :]].reshape(corr.shape[:-2] + (-1,)))
            with np.errstate(invalid="ignore", divide="ignore"):
                val = hetero / np.sqrt(mono[ca] * mono[cb])
            out[..., a, b] = val
            out[..., b, a] = val
    return out


def htmt(
    source: xr.Dataset | pd.DataFrame,
    partable: pd.DataFrame,
    *,
    absolute: bool = True,
    method: str = "arithmetic",
) -> xr.DataArray | pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations between every pair of constructs.

    ``HTMT_ij = mean(r_ab : a in I_i, b in I_j) / sqrt(mean(r_aa') * mean(r_bb'))``, the
    monotrait means over distinct pairs of each construct's own indicators (Henseler et al.
    2015). ``method="geometric"`` uses geometric means instead (HTMT2, Roemer et al. 2021).

    Parameters
    ----------
    source : xarray.Dataset or pandas.DataFrame
        Model matrices: HTMT per draw from the model-implied correlation matrix. A data frame of
        item responses: the classical HTMT from the data correlations (pairwise complete).
    partable : pandas.DataFrame
        Parameter table (its ``=~`` rows define the constructs).
    absolute : bool
        Use absolute correlations (as semTools does), so a reverse-keyed item left unrecoded
        does not cancel the others.
    method : {"arithmetic", "geometric"}
        HTMT or HTMT2.

    Returns
    -------
    xarray.DataArray or pandas.DataFrame
        Per draw: dims ``(chain, draw, construct, construct_col)``; classical: a construct x
        construct frame. Symmetric, NaN on the diagonal and for nested pairs (a second-order
        construct and its dimensions).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(500, 2)) @ np.array([[1.0, 0.5], [0.0, 0.8]])
    >>> df = pd.DataFrame(np.repeat(f, 2, axis=1) + rng.normal(size=(500, 4)) * 0.5,
    ...                   columns=["a1", "a2", "b1", "b2"])
    >>> pt = pd.DataFrame({"lhs": ["A", "A", "B", "B"], "op": ["=~"] * 4,
    ...                    "rhs": ["a1", "a2", "b1", "b2"]})
    >>> h = htmt(df, pt)
    >>> round(float(h.loc["A", "B"]), 1)  # population value 0.53
    0.5
    """
    cons = constructs(partable)
    names = _assessable(cons)
    if isinstance(source, xr.Dataset):
        joint = _Joint(source)
        vals = _htmt_from_corr(joint.correlation(), joint.index, cons, names, absolute, method)
        return xr.DataArray(
            vals,
            dims=("chain", "draw", "construct", "construct_col"),
            coords=joint.pair_coords(names),
            name="htmt",
        )
    frame = _scale_frame(source, cons)
    cols = list(dict.fromkeys(i for c in names for i in cons[c] if i in frame.columns))
    names = [c for c in names if all(i in frame.columns for i in cons[c])]
    corr = frame[cols].apply(pd.to_numeric, errors="raise").corr().to_numpy()
    index = {c: k for k, c in enumerate(cols)}
    vals = _htmt_from_corr(corr, index, cons, names, absolute, method)
    return pd.DataFrame(
        vals, index=pd.Index(names, name="construct"), columns=pd.Index(names, name="construct")
    )


def fornell_larcker(matrices: xr.Dataset, partable: pd.DataFrame) -> xr.Dataset:
    """Fornell-Larcker criterion for every pair of constructs, per draw.

    ``matrices`` and ``partable`` are as for :func:`standardized_loadings`.

    Returns
    -------
    xarray.Dataset
        ``sqrt_ave`` ``(chain, draw, construct)``; ``correlation`` ``(chain, draw, construct,
        construct_col)``, the model-implied latent correlations; and ``holds`` (same dims, 1.0
        when ``sqrt(AVE_i) > |r_ij|`` and ``sqrt(AVE_j) > |r_ij|``, else 0.0; NaN on the
        diagonal and for nested pairs), so its mean over draws is P(criterion holds).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["A", "A", "B", "B", "A", "B", "A"] + ["a1", "a2", "b1", "b2"],
    ...                    "op": ["=~"] * 4 + ["~~"] * 7,
    ...                    "rhs": ["a1", "a2", "b1", "b2", "A", "B", "B"]
    ...                           + ["a1", "a2", "b1", "b2"],
    ...                    "est": [0.8, 0.8, 0.7, 0.7, 1.0, 1.0, 0.3, 0.36, 0.36, 0.51, 0.51]})
    >>> fl = fornell_larcker(matrices_from_parameters(pt), pt)
    >>> float(fl["holds"].sel(construct="A", construct_col="B").squeeze())
    1.0
    """
    cons = constructs(partable)
    names = _assessable(cons)
    joint = _Joint(matrices)
    ave = average_variance_extracted(matrices, partable).sel(construct=names).values
    sqrt_ave = np.sqrt(np.clip(ave, 0, None))
    corr_all = joint.correlation()
    idx = joint.nodes(names)
    corr = corr_all[:, :, idx][:, :, :, idx]
    holds = np.full(corr.shape, np.nan)
    absr = np.abs(corr)
    for a, ca in enumerate(names):
        for b, cb in enumerate(names):
            if a == b or _nested(ca, cb, cons):
                continue
            ok = (sqrt_ave[:, :, a] > absr[:, :, a, b]) & (sqrt_ave[:, :, b] > absr[:, :, a, b])
            holds[:, :, a, b] = ok.astype(float)
    return xr.Dataset(
        {
            "sqrt_ave": (("chain", "draw", "construct"), sqrt_ave),
            "correlation": (("chain", "draw", "construct", "construct_col"), corr),
            "holds": (("chain", "draw", "construct", "construct_col"), holds),
        },
        coords=joint.pair_coords(names),
    )


def validity_table(
    matrices: xr.Dataset, partable: pd.DataFrame, data: pd.DataFrame | None = None, *,
    hdi_prob: float = 0.9,
    htmt_threshold: float = 0.85,
    absolute: bool = True,
    method: str = "arithmetic",
) -> pd.DataFrame:
    """Discriminant validity, one row per pair of constructs: HTMT and Fornell-Larcker.

    Parameters
    ----------
    matrices, partable, hdi_prob
        As for :func:`reliability_table`.
    data : pandas.DataFrame, optional
        Item responses, for the classical HTMT (NaN without it).
    htmt_threshold : float
        ``p_htmt = P(HTMT < htmt_threshold)``; 0.85 (Kline; Henseler et al. 2015), 0.90 is the
        lenient alternative.
    absolute, method
        Passed to :func:`htmt`.

    Returns
    -------
    pandas.DataFrame
        ``construct_1, construct_2, correlation, correlation_hdi_low, correlation_hdi_high,
        htmt, htmt_hdi_low, htmt_hdi_high, htmt_classical, p_htmt, p_fornell_larcker`` for all
        non-nested pairs of constructs with at least two indicators; posterior means for
        ``correlation`` and ``htmt``. ``attrs`` hold ``kind="validity"``, ``hdi_prob`` and
        ``htmt_threshold``.

    Examples
    --------
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> items = ["a1", "a2", "b1", "b2"]
    >>> pt = pd.DataFrame({"lhs": ["A", "A", "B", "B", "A", "B", "A"] + items,
    ...                    "op": ["=~"] * 4 + ["~~"] * 7, "rhs": items + ["A", "B", "B"] + items,
    ...                    "est": [0.8, 0.8, 0.7, 0.7, 1.0, 1.0, 0.3, 0.36, 0.36, 0.51, 0.51]})
    >>> tab = validity_table(matrices_from_parameters(pt), pt)
    >>> tab[["construct_1", "construct_2", "htmt", "p_htmt"]].round(3).values.tolist()
    [['A', 'B', 0.3, 1.0]]
    """
    cons = constructs(partable)
    names = _assessable(cons)
    h = htmt(matrices, partable, absolute=absolute, method=method)
    fl = fornell_larcker(matrices, partable)
    h_data = htmt(data, partable, absolute=absolute, method=method) if data is not None else None
    pairs = [
        (a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if not _nested(a, b, cons)
    ]
    columns = [
        "construct_1", "construct_2", "correlation", "correlation_hdi_low",
        "correlation_hdi_high", "htmt", "htmt_hdi_low", "htmt_hdi_high", "htmt_classical",
        "p_htmt", "p_fornell_larcker",
    ]
    if not pairs:
        out = pd.DataFrame(columns=columns)
    else:

        def stack(da: xr.DataArray) -> xr.DataArray:
            vals = np.stack(
                [da.sel(construct=a, construct_col=b).values for a, b in pairs], axis=-1
            )
            return xr.DataArray(
                vals, dims=("chain", "draw", "pair"), coords={"pair": np.arange(len(pairs))}
            )

        r_draws, h_draws, fl_draws = stack(fl["correlation"]), stack(h), stack(fl["holds"])
        r_s = summarize_draws(r_draws, "pair", hdi_prob=hdi_prob)
        h_s = summarize_draws(h_draws, "pair", hdi_prob=hdi_prob)
        out = pd.DataFrame(
            {"construct_1": [a for a, _ in pairs], "construct_2": [b for _, b in pairs]}
        )
        _add_summary(out, "correlation", r_s)
        _add_summary(out, "htmt", h_s)
        out["htmt_classical"] = [
            h_data.loc[a, b] if h_data is not None and a in h_data.index and b in h_data.index
            else np.nan
            for a, b in pairs
        ]
        out["p_htmt"] = (h_draws < htmt_threshold).mean(("chain", "draw")).values
        out["p_fornell_larcker"] = fl_draws.mean(("chain", "draw")).values
    out.attrs.update({"kind": "validity", "hdi_prob": hdi_prob, "htmt_threshold": htmt_threshold})
    return out
