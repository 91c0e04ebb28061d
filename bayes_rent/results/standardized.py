"""Standardized solution and R², computed for every posterior draw.

All results here start from the model matrices of a fit in the all-y LISREL form (one xarray
Dataset, every matrix with leading dims ``(chain, draw)``)::

    Sigma = Lambda A Psi A' Lambda' + Theta,     A = (I - B)^-1
    mu    = nu + Lambda A alpha

and from the parameter table (one row per parameter, columns ``id, lhs, op, rhs, ...``).

Standardization follows lavaan's ``standardizedSolution()`` (``lav_standardize_lv`` and
``lav_standardize_all``, with the default ``cov.std = TRUE``), row by row:

=========================  ==========================================  =======================
row                        std_lv                                      std_all (in addition)
=========================  ==========================================  =======================
``f =~ y`` (y observed)    ``est * sd(f)``                             ``/ sd(y)``
``F =~ f`` (second order)  ``est * sd(F) / sd(f)``                     --
``a ~ b``                  ``est * sd(b) / sd(a)`` for latent a, b     same for observed a, b
``v ~~ v``                 ``est / var(v)`` for latent v               ``est / var(v)`` observed
``u ~~ v`` (u != v)        ``est / sqrt(|psi_uu| |psi_vv|)`` (latent)  with theta for observed
``v ~1``                   ``est / sd(v)`` for latent v                ``est / sd(v)`` observed
``y | t``                  --                                          ``est / sd(y)``
``:=``                     the expression re-evaluated at the standardized values of the labels
=========================  ==========================================  =======================

``sd`` and ``var`` are *model-implied total* SDs and variances of the same draw: for latent
variables ``diag(A Psi A')``, for observed variables ``diag(Sigma)``. Covariances are scaled by
the *residual* variances (``Psi`` / ``Theta`` diagonals), so a residual covariance becomes the
correlation of the two residuals, as in lavaan, Mplus, AMOS and EQS. An observed variable that
takes part in the structural model is carried by a *phantom* latent (loading 1, zero residual);
for standardization it is an observed variable, as in lavaan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.results.defined import defined_draws, row_ids
from bayes_rent.results.summary import summarize_draws
from bayes_rent.spec.implied import implied_from_matrices

__all__ = [
    "labelled_moments",
    "matrices_from_parameters",
    "parameter_values",
    "phantom_map",
    "r2",
    "standardized_draws",
    "standardized_summary",
    "std_all",
    "std_lv",
]

_STD_KINDS = ("std_all", "std_lv")


# --------------------------------------------------------------------------------------------
# small shared helpers (also used by effects.py and measures.py)
# --------------------------------------------------------------------------------------------


def matrix_values(matrices: xr.Dataset, name: str, *dims: str) -> np.ndarray:
    """The numpy array of ``matrices[name]`` with dims ``(chain, draw, *dims)``."""
    return matrices[name].transpose("chain", "draw", *dims).values.astype(float)


def matrix_names(matrices: xr.Dataset) -> tuple[list[str], list[str], np.ndarray]:
    """Observed names, latent names and the phantom mask of the latent dim."""
    observed = [str(v) for v in matrices["observed"].values]
    latent = [str(v) for v in matrices["latent"].values]
    if "phantom" in matrices.coords:
        phantom = np.asarray(matrices.coords["phantom"].values, dtype=bool)
    else:
        phantom = np.zeros(len(latent), dtype=bool)
    return observed, latent, phantom





def phantom_map(matrices: xr.Dataset) -> dict[str, str]:
    """Map each observed variable carried by a phantom latent to that latent's name.

    The phantom's column of ``Lambda`` holds a single 1 in the row of its observed variable; the
    map is read from there (first draw), so it holds whatever the backend names its phantoms.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices with a boolean ``phantom`` coordinate on the ``latent`` dim.

    Returns
    -------
    dict
        ``{observed name: phantom latent name}``.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["y", "x", "y"], "op": ["~", "~~", "~~"],
    ...                    "rhs": ["x", "x", "y"], "est": [0.5, 1.0, 1.0]})
    >>> phantom_map(matrices_from_parameters(pt))
    {'y': 'y', 'x': 'x'}
    """
    observed, latent, phantom = matrix_names(matrices)
    lam = matrices["Lambda"].transpose("chain", "draw", "observed", "latent").values
    first = lam[0, 0]
    out: dict[str, str] = {}
    for j in np.flatnonzero(phantom):
        rows = np.flatnonzero(first[:, j] != 0)
        if len(rows) >= 1:
            out[observed[rows[0]]] = latent[j]
        elif latent[j] in observed:
            out[latent[j]] = latent[j]
    return out


def labelled_moments(matrices: xr.Dataset) -> xr.Dataset:
    """Model-implied moments of latent and observed variables, per draw.

    Parameters
    ----------
    matrices : xarray.Dataset
        ``Lambda, B, Psi, Theta`` (and optionally ``nu, alpha``) with leading dims
        ``(chain, draw)``.

    Returns
    -------
    xarray.Dataset
        ``latent_cov`` ``(chain, draw, latent, latent_col)`` = ``A Psi A'`` with
        ``A = (I - B)^-1``; ``observed_cov`` ``(chain, draw, observed, observed_col)`` =
        ``Lambda A Psi A' Lambda' + Theta``; ``observed_latent_cov``
        ``(chain, draw, observed, latent)`` = ``Lambda A Psi A'``; and, when ``nu`` and
        ``alpha`` are present, ``latent_mean`` = ``A alpha`` and ``observed_mean`` =
        ``nu + Lambda A alpha``.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "f", "y1", "y2", "f"],
    ...                    "op": ["=~", "=~", "~~", "~~", "~~", "~1"],
    ...                    "rhs": ["y1", "y2", "f", "y1", "y2", ""],
    ...                    "est": [1.0, 2.0, 0.5, 0.5, 1.0, 0.0]})
    >>> m = labelled_moments(matrices_from_parameters(pt))
    >>> float(m["observed_cov"].sel(observed="y2", observed_col="y2").squeeze())
    3.0
    """
    lam = matrix_values(matrices, "Lambda", "observed", "latent")
    arrays = {
        "Lambda": lam,
        "B": matrix_values(matrices, "B", "latent", "latent_col"),
        "Psi": matrix_values(matrices, "Psi", "latent", "latent_col"),
        "Theta": matrix_values(matrices, "Theta", "observed", "observed_col"),
    }
    with_means = "alpha" in matrices and "nu" in matrices
    if with_means:
        arrays["alpha"] = matrix_values(matrices, "alpha", "latent")
        arrays["nu"] = matrix_values(matrices, "nu", "observed")
    else:
        arrays["alpha"] = np.zeros(arrays["B"].shape[:-1])
        arrays["nu"] = np.zeros(lam.shape[:-1])
    implied = implied_from_matrices(arrays)
    coords_l = {"latent": matrices["latent"].values, "latent_col": matrices["latent_col"].values}
    coords_o = {
        "observed": matrices["observed"].values,
        "observed_col": matrices["observed_col"].values,
    }
    chain_draw = {"chain": matrices["chain"].values, "draw": matrices["draw"].values}
    out = xr.Dataset(
        {
            "latent_cov": (("chain", "draw", "latent", "latent_col"), implied.latent_cov),
            "observed_cov": (("chain", "draw", "observed", "observed_col"), implied.sigma),
            "observed_latent_cov": (("chain", "draw", "observed", "latent"),
                                    lam @ implied.latent_cov),
        },
        coords={**chain_draw, **coords_l, **coords_o},
    )
    if with_means:
        out["latent_mean"] = (("chain", "draw", "latent"), implied.latent_mean)
        out["observed_mean"] = (("chain", "draw", "observed"), implied.mu)
    return out


# --------------------------------------------------------------------------------------------
# parameter table <-> matrices
# --------------------------------------------------------------------------------------------


def _row_draws(
    partable: pd.DataFrame, parameter_draws: xr.DataArray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row draws as a numpy array ``(chain, draw, row)`` in partable order."""
    ids = row_ids(partable)
    if parameter_draws is None:
        col = "est" if "est" in partable.columns else "value"
        vals = partable[col].to_numpy(dtype=float)
        return vals[None, None, :], np.array([0]), np.array([0])
    pd_ = parameter_draws.transpose("chain", "draw", "par").sel(par=ids)
    return pd_.values.astype(float), pd_["chain"].values, pd_["draw"].values


def _variable_roles(partable: pd.DataFrame, observed: Iterable[str] | None = None):
    """Latent names, observed names and phantom set implied by a parameter table."""
    pt = partable[partable["op"].isin(["=~", "~", "~~", "~1", "|", "<~"])]
    latent = list(dict.fromkeys(pt.loc[pt["op"] == "=~", "lhs"].astype(str)))
    lat = set(latent)
    names: list[str] = []
    for _, row in pt.iterrows():
        names.append(str(row["lhs"]))
        if row["op"] in ("=~", "~", "~~", "<~"):
            names.append(str(row["rhs"]))
    obs = [n for n in dict.fromkeys(names) if n not in lat and n != ""]
    if observed is not None:
        extra = [n for n in obs if n not in set(observed)]
        obs = list(observed) + extra
    # An observed variable in a regression, or covarying with a latent, becomes a phantom.
    phantoms: list[str] = []
    for _, row in pt.iterrows():
        lhs, op, rhs = str(row["lhs"]), row["op"], str(row["rhs"])
        if op in ("~", "<~"):
            phantoms += [v for v in (lhs, rhs) if v not in lat]
        elif op == "~~" and lhs != rhs and ((lhs in lat) != (rhs in lat)):
            phantoms += [v for v in (lhs, rhs) if v not in lat]
    # covariances with a phantom pull more observed variables into the structural part
    covs = pt[(pt["op"] == "~~") & (pt["lhs"] != pt["rhs"])]
    pairs = list(zip(covs["lhs"].astype(str), covs["rhs"].astype(str), strict=True))
    found = set(phantoms)
    changed = True
    while changed:
        changed = False
        for a, b in pairs + [(b, a) for a, b in pairs]:
            if a in found and b not in found and b not in lat:
                found.add(b)
                changed = True
    phantoms = [p for p in obs if p in found]
    return latent, obs, phantoms


def matrices_from_parameters(
    partable: pd.DataFrame,
    parameter_draws: xr.DataArray | None = None,
    *,
    observed: Iterable[str] | None = None,
) -> xr.Dataset:
    """Build the LISREL model matrices from parameter-table values, per draw.

    This is the reference mapping between parameter-table rows and matrix entries. It lets any
    set of estimates (lavaan's ML estimates, true simulation values, posterior draws) be fed to
    the result functions of this package.

    Parameters
    ----------
    partable : pandas.DataFrame
        Columns ``lhs, op, rhs`` and, when ``parameter_draws`` is None, ``est`` (or ``value``);
        ``id`` is optional (``1..n`` otherwise).
    parameter_draws : xarray.DataArray, optional
        Dims ``(chain, draw, par)``, ``par`` = partable ``id``. Without it the table's ``est``
        column is used as a single draw.
    observed : iterable of str, optional
        Order of the observed variables (default: order of first appearance).

    Returns
    -------
    xarray.Dataset
        ``Lambda, B, Psi, Theta, nu, alpha`` with dims as produced by the backend and a boolean
        ``phantom`` coordinate on ``latent``. Phantom latents carry the name of their observed
        variable. Observed variables that appear in ``~`` rows, or covary with a latent, get a
        phantom.

    Notes
    -----
    ``f =~ y``: ``Lambda[y, f]`` (or ``B[y, f]`` when ``y`` is a latent or a phantom);
    ``a ~ b``: ``B[a, b]``; ``u ~~ v``: ``Psi`` for latents and phantoms, ``Theta`` otherwise;
    ``v ~1``: ``alpha`` for latents and phantoms, ``nu`` otherwise. Rows of other operators are
    ignored.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "f", "y1", "y2"],
    ...                    "op": ["=~", "=~", "~~", "~~", "~~"],
    ...                    "rhs": ["y1", "y2", "f", "y1", "y2"],
    ...                    "est": [1.0, 0.8, 1.0, 0.5, 0.4]})
    >>> mats = matrices_from_parameters(pt)
    >>> mats["Lambda"].dims
    ('chain', 'draw', 'observed', 'latent')
    >>> float(mats["Lambda"].sel(observed="y2", latent="f").squeeze())
    0.8
    """
    latent, obs, phantoms = _variable_roles(partable, observed)
    lat_all = latent + phantoms
    li = {n: i for i, n in enumerate(lat_all)}
    oi = {n: i for i, n in enumerate(obs)}
    ph = set(phantoms)
    vals, chains, draws = _row_draws(partable, parameter_draws)
    nc, nd = vals.shape[:2]
    p, m = len(obs), len(lat_all)
    lam = np.zeros((nc, nd, p, m))
    b = np.zeros((nc, nd, m, m))
    psi = np.zeros((nc, nd, m, m))
    theta = np.zeros((nc, nd, p, p))
    nu = np.zeros((nc, nd, p))
    alpha = np.zeros((nc, nd, m))
    for name in phantoms:
        lam[:, :, oi[name], li[name]] = 1.0

    def node(v: str) -> tuple[str, int]:
        return ("lat", li[v]) if v in li else ("obs", oi[v])

    for k, (_, row) in enumerate(partable.iterrows()):
        lhs, op, rhs = str(row["lhs"]), row["op"], str(row["rhs"])
        v = vals[:, :, k]
        if op == "=~":
            if rhs in li:
                b[:, :, li[rhs], li[lhs]] = v
            else:
                lam[:, :, oi[rhs], li[lhs]] = v
        elif op in ("~", "<~"):
            b[:, :, li[lhs], li[rhs]] = v
        elif op == "~~":
            (kl, il), (kr, ir) = node(lhs), node(rhs)
            if kl != kr:
                raise ValueError(f"cannot place covariance {lhs} ~~ {rhs}")
            target = psi if kl == "lat" else theta
            target[:, :, il, ir] = v
            target[:, :, ir, il] = v
        elif op == "~1":
            kind, i = node(lhs)
            (alpha if kind == "lat" else nu)[:, :, i] = v
    dims_l = ("chain", "draw", "latent", "latent_col")
    dims_o = ("chain", "draw", "observed", "observed_col")
    return xr.Dataset(
        {
            "Lambda": (("chain", "draw", "observed", "latent"), lam),
            "B": (dims_l, b),
            "Psi": (dims_l, psi),
            "Theta": (dims_o, theta),
            "nu": (("chain", "draw", "observed"), nu),
            "alpha": (("chain", "draw", "latent"), alpha),
        },
        coords={
            "chain": chains,
            "draw": draws,
            "observed": obs,
            "observed_col": obs,
            "latent": lat_all,
            "latent_col": lat_all,
            "phantom": ("latent", np.array([n in ph for n in lat_all])),
        },
    )


def parameter_values(matrices: xr.Dataset, partable: pd.DataFrame) -> xr.DataArray:
    """Read every parameter-table row's value from the model matrices, per draw.

    The inverse of :func:`matrices_from_parameters` (same placement rules); ``:=`` and other
    non-matrix rows are NaN.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices with dims ``(chain, draw, ...)``.
    partable : pandas.DataFrame
        Columns ``lhs, op, rhs`` and optionally ``id``.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, par)`` with ``par`` = partable ``id``.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["y", "x", "y"], "op": ["~", "~~", "~~"],
    ...                    "rhs": ["x", "x", "y"], "est": [0.5, 2.0, 1.0]})
    >>> parameter_values(matrices_from_parameters(pt), pt).values.ravel().tolist()
    [0.5, 2.0, 1.0]
    """
    observed, latent, _ = matrix_names(matrices)
    pmap = phantom_map(matrices)
    li = {n: i for i, n in enumerate(latent)}
    oi = {n: i for i, n in enumerate(observed)}
    lam = matrix_values(matrices, "Lambda", "observed", "latent")
    b = matrix_values(matrices, "B", "latent", "latent_col")
    psi = matrix_values(matrices, "Psi", "latent", "latent_col")
    theta = matrix_values(matrices, "Theta", "observed", "observed_col")
    has_means = "nu" in matrices and "alpha" in matrices
    if has_means:
        nu = matrix_values(matrices, "nu", "observed")
        alpha = matrix_values(matrices, "alpha", "latent")
    nc, nd = lam.shape[:2]
    out = np.full((nc, nd, len(partable)), np.nan)

    def lat_index(v: str) -> int | None:
        if v in pmap:
            return li[pmap[v]]
        if v in li and v not in oi:
            return li[v]
        return None

    for k, (_, row) in enumerate(partable.iterrows()):
        lhs, op, rhs = str(row["lhs"]), row["op"], str(row["rhs"])
        if op == "=~":
            r = lat_index(rhs)
            out[:, :, k] = b[:, :, r, li[lhs]] if r is not None else lam[:, :, oi[rhs], li[lhs]]
        elif op in ("~", "<~"):
            out[:, :, k] = b[:, :, lat_index(lhs), lat_index(rhs)]
        elif op == "~~":
            il, ir = lat_index(lhs), lat_index(rhs)
            if il is not None and ir is not None:
                out[:, :, k] = psi[:, :, il, ir]
            elif il is None and ir is None:
                out[:, :, k] = theta[:, :, oi[lhs], oi[rhs]]
        elif op == "~1" and has_means:
            i = lat_index(lhs)
            if i is None:
                out[:, :, k] = nu[:, :, oi[lhs]]
            elif lhs in pmap:
                # a phantom's mean may sit in alpha or in nu, whichever the backend chose
                out[:, :, k] = alpha[:, :, i] + nu[:, :, oi[lhs]]
            else:
                out[:, :, k] = alpha[:, :, i]
    return _per_draw(matrices, out, "par", row_ids(partable), "value")


def _per_draw(
    matrices: xr.Dataset, values: np.ndarray, dim: str, labels: Sequence[object], name: str
) -> xr.DataArray:
    """``values`` ``(chain, draw, dim)`` as a DataArray on the draws of ``matrices``."""
    return xr.DataArray(
        values,
        dims=("chain", "draw", dim),
        coords={
            "chain": matrices["chain"].values,
            "draw": matrices["draw"].values,
            dim: labels,
        },
        name=name,
    )


# --------------------------------------------------------------------------------------------
# standardization
# --------------------------------------------------------------------------------------------


def _scale_vectors(matrices: xr.Dataset) -> dict[str, dict[str, np.ndarray]]:
    """Per-variable total and residual variances, keyed by *variable* name.

    Observed variables carried by a phantom are keyed by their observed name and take the
    phantom's (identical) variances, so the partable's names can be looked up directly.
    """
    observed, latent, phantom = matrix_names(matrices)
    pmap = phantom_map(matrices)
    mom = labelled_moments(matrices)
    phi = mom["latent_cov"].values
    sigma = mom["observed_cov"].values
    psi = matrix_values(matrices, "Psi", "latent", "latent_col")
    theta = matrix_values(matrices, "Theta", "observed", "observed_col")
    lat_var = np.diagonal(phi, axis1=2, axis2=3)
    obs_var = np.diagonal(sigma, axis1=2, axis2=3)
    psi_d = np.diagonal(psi, axis1=2, axis2=3)
    theta_d = np.diagonal(theta, axis1=2, axis2=3)
    li = {n: i for i, n in enumerate(latent)}
    lv_total: dict[str, np.ndarray] = {}
    lv_resid: dict[str, np.ndarray] = {}
    ov_total: dict[str, np.ndarray] = {}
    ov_resid: dict[str, np.ndarray] = {}
    for j, name in enumerate(latent):
        if not phantom[j]:
            lv_total[name] = lat_var[:, :, j]
            lv_resid[name] = psi_d[:, :, j]
    for i, name in enumerate(observed):
        ov_total[name] = obs_var[:, :, i]
        if name in pmap:
            ov_resid[name] = psi_d[:, :, li[pmap[name]]]
        else:
            ov_resid[name] = theta_d[:, :, i]
    return {"lv_total": lv_total, "lv_resid": lv_resid, "ov_total": ov_total, "ov_resid": ov_resid}


def _sqrt(x: np.ndarray) -> np.ndarray:
    # lavaan turns negative (Heywood) variances into NA before the square root
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.where(x < 0, np.nan, x))


def standardized_draws(
    matrices: xr.Dataset,
    partable: pd.DataFrame,
    parameter_draws: xr.DataArray | None = None,
    *,
    kind: str = "std_all",
    evaluate: Callable[[str, Mapping[str, np.ndarray]], object] | None = None,
) -> xr.DataArray:
    """Standardized value of every parameter-table row, per draw, as lavaan defines it.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices of the same draws (``Lambda, B, Psi, Theta``).
    partable : pandas.DataFrame
        The parameter table (``id, lhs, op, rhs``, and ``label`` for ``:=`` rows).
    parameter_draws : xarray.DataArray, optional
        Raw values ``(chain, draw, par)``; read from ``matrices`` when omitted.
    kind : {"std_all", "std_lv"}
        ``std_lv`` scales by latent SDs only; ``std_all`` also by observed SDs.
    evaluate : callable, optional
        Evaluator for ``:=`` expressions (default
        :func:`bayes_rent.spec.syntax.evaluate_expression`).

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, par)``, ``par`` = partable ``id``; name = ``kind``. ``:=`` rows are
        re-evaluated from the standardized labelled rows (NaN when the expression helpers of
        :mod:`bayes_rent.spec.syntax` are unavailable).

    Notes
    -----
    See the module docstring for the row-by-row definitions (lavaan's, with ``cov.std=TRUE``).

    Examples
    --------
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "f", "y1", "y2"], "op": ["=~", "=~", "~~", "~~", "~~"],
    ...                    "rhs": ["y1", "y2", "f", "y1", "y2"], "est": [1, 1, 1, 1, 3.0]})
    >>> s = standardized_draws(matrices_from_parameters(pt), pt)
    >>> [round(float(v), 4) for v in s.values.ravel()]
    [0.7071, 0.5, 1.0, 0.5, 0.75]
    """
    if kind not in _STD_KINDS:
        raise ValueError(f"kind must be one of {_STD_KINDS}, got {kind!r}")
    if parameter_draws is None:
        parameter_draws = parameter_values(matrices, partable)
    # the fit's draws have no ':=' rows; reindexing leaves them NaN until re-evaluated below
    raw = parameter_draws.transpose("chain", "draw", "par").reindex(par=row_ids(partable))
    out = raw.values.astype(float).copy()
    sc = _scale_vectors(matrices)
    lv_sd = {k: _sqrt(v) for k, v in sc["lv_total"].items()}
    lv_var = sc["lv_total"]
    lv_rsd = {k: np.sqrt(np.abs(v)) for k, v in sc["lv_resid"].items()}
    do_ov = kind == "std_all"
    ov_sd = {k: _sqrt(v) for k, v in sc["ov_total"].items()}
    ov_var = sc["ov_total"]
    ov_rsd = {k: np.sqrt(np.abs(v)) for k, v in sc["ov_resid"].items()}
    lv, ov = set(lv_sd), set(ov_sd)
    one = np.ones(out.shape[:2])

    with np.errstate(divide="ignore", invalid="ignore"):
        for k, (_, row) in enumerate(partable.iterrows()):
            lhs, op, rhs = str(row["lhs"]), row["op"], str(row["rhs"])
            f = one
            if op == "=~":
                if lhs in lv:
                    f = f * lv_sd[lhs]
                if rhs in lv:
                    f = f / lv_sd[rhs]
                elif do_ov and rhs in ov:
                    f = f / ov_sd[rhs]
            elif op in ("~", "<~"):
                if lhs in lv:
                    f = f / lv_sd[lhs]
                elif do_ov and lhs in ov:
                    f = f / ov_sd[lhs]
                if rhs in lv:
                    f = f * lv_sd[rhs]
                elif do_ov and rhs in ov:
                    f = f * ov_sd[rhs]
            elif op == "~~":
                if lhs == rhs:
                    if lhs in lv:
                        f = f / lv_var[lhs]
                    elif do_ov and lhs in ov:
                        f = f / ov_var[lhs]
                else:
                    for v in (lhs, rhs):
                        if v in lv:
                            f = f / lv_rsd[v]
                        elif do_ov and v in ov:
                            f = f / ov_rsd[v]
            elif op == "~1":
                if lhs in lv:
                    f = f / lv_sd[lhs]
                elif do_ov and lhs in ov:
                    f = f / ov_sd[lhs]
            elif op == "|":
                if do_ov and lhs in ov:
                    f = f / ov_sd[lhs]
            elif op == ":=":
                continue
            out[:, :, k] = out[:, :, k] * f
    out[~np.isfinite(out)] = np.nan
    result = raw.copy(data=out).rename(kind)

    is_def = (partable["op"] == ":=").to_numpy()
    if is_def.any():
        result = _restandardize_defined(partable, result, is_def, evaluate)
    return result


def _restandardize_defined(
    partable: pd.DataFrame, std: xr.DataArray, is_def: np.ndarray, evaluate
) -> xr.DataArray:
    """Evaluate ``:=`` rows at the standardized values of the labelled rows (lavaan's rule)."""
    out = std.values.copy()
    try:
        d = defined_draws(partable, std, evaluate=evaluate)
        names = partable.loc[is_def, "lhs"].astype(str).tolist()
        out[:, :, is_def] = d.sel(defined=names).transpose("chain", "draw", "defined").values
    except ImportError:
        out[:, :, is_def] = np.nan
    return std.copy(data=out)


def std_all(
    matrices: xr.Dataset, partable: pd.DataFrame, parameter_draws: xr.DataArray | None = None
) -> xr.DataArray:
    """Completely standardized values of every row, per draw (lavaan's ``std.all``).

    Shorthand for ``standardized_draws(..., kind="std_all")``: parameters as for
    :func:`standardized_draws`; the result, dims ``(chain, draw, par)``, is named ``"std_all"``.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["y", "x", "y"], "op": ["~", "~~", "~~"],
    ...                    "rhs": ["x", "x", "y"], "est": [1.0, 1.0, 3.0]})
    >>> round(float(std_all(matrices_from_parameters(pt), pt).values[0, 0, 0]), 3)
    0.5
    """
    return standardized_draws(matrices, partable, parameter_draws, kind="std_all")


def std_lv(
    matrices: xr.Dataset, partable: pd.DataFrame, parameter_draws: xr.DataArray | None = None
) -> xr.DataArray:
    """Values standardized by the latent variables only, per draw (lavaan's ``std.lv``).

    As :func:`std_all`, with ``kind="std_lv"`` (also the result's name).

    Examples
    --------
    >>> rows = [("f", "=~", "y1", 1.0), ("f", "=~", "y2", 2.0), ("f", "~~", "f", 4.0),
    ...         ("y1", "~~", "y1", 1.0), ("y2", "~~", "y2", 1.0)]
    >>> pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est"])
    >>> std_lv(matrices_from_parameters(pt), pt).values.ravel().tolist()
    [2.0, 4.0, 1.0, 1.0, 1.0]
    """
    return standardized_draws(matrices, partable, parameter_draws, kind="std_lv")


def standardized_summary(
    matrices: xr.Dataset,
    partable: pd.DataFrame,
    parameter_draws: xr.DataArray | None = None,
    *,
    kind: str = "std_all",
    hdi_prob: float = 0.9,
) -> pd.DataFrame:
    """The standardized solution as a parameter-table-shaped summary.

    Parameters
    ----------
    matrices, partable, parameter_draws
        As for :func:`standardized_draws`.
    kind : {"std_all", "std_lv"}
        Standardization.
    hdi_prob : float
        Probability mass of the highest-density intervals.

    Returns
    -------
    pandas.DataFrame
        ``lhs, op, rhs, [group], label, mean, sd, hdi_low, hdi_high, r_hat, ess_bulk``, one row
        per partable row; ``attrs`` carry ``kind`` and ``hdi_prob``.

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["y", "x", "y"], "op": ["~", "~~", "~~"],
    ...                    "rhs": ["x", "x", "y"], "est": [1.0, 1.0, 3.0]})
    >>> standardized_summary(matrices_from_parameters(pt), pt)["mean"].round(3).tolist()
    [0.5, 1.0, 0.75]
    """
    draws = standardized_draws(matrices, partable, parameter_draws, kind=kind)
    summ = summarize_draws(draws, "par", hdi_prob=hdi_prob)
    keep = [c for c in ("lhs", "op", "rhs", "group", "label") if c in partable.columns]
    out = partable[keep].reset_index(drop=True)
    out = pd.concat([out, summ.reset_index(drop=True)], axis=1)
    out.attrs.update({"kind": "standardized", "standardization": kind, "hdi_prob": hdi_prob})
    return out


# --------------------------------------------------------------------------------------------
# R²
# --------------------------------------------------------------------------------------------


def r2(matrices: xr.Dataset) -> xr.DataArray:
    """R² of every endogenous observed and latent variable, per draw.

    ``R² = 1 - residual variance / model-implied total variance`` (lavaan's ``r2``): indicators
    use ``Theta`` and ``diag(Sigma)``; latent variables, and observed variables carried by a
    phantom, use ``Psi`` and ``diag(A Psi A')``. A variable is endogenous when it loads on a
    latent (indicators) or has a non-zero row of ``B`` in some draw.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices with dims ``(chain, draw, ...)``.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, variable)``: observed variables first, then latent variables (by
        variable name; phantoms under their observed name).

    Examples
    --------
    >>> import pandas as pd
    >>> pt = pd.DataFrame({"lhs": ["y", "x", "y"], "op": ["~", "~~", "~~"],
    ...                    "rhs": ["x", "x", "y"], "est": [1.0, 1.0, 3.0]})
    >>> r = r2(matrices_from_parameters(pt))
    >>> r["variable"].values.tolist(), float(r.sel(variable="y").squeeze())
    (['y'], 0.25)
    """
    observed, latent, phantom = matrix_names(matrices)
    pmap = phantom_map(matrices)
    li = {n: i for i, n in enumerate(latent)}
    mom = labelled_moments(matrices)
    lat_var = np.diagonal(mom["latent_cov"].values, axis1=2, axis2=3)
    obs_var = np.diagonal(mom["observed_cov"].values, axis1=2, axis2=3)
    lam = matrix_values(matrices, "Lambda", "observed", "latent")
    b = matrix_values(matrices, "B", "latent", "latent_col")
    psi_d = np.diagonal(matrix_values(matrices, "Psi", "latent", "latent_col"), axis1=2, axis2=3)
    theta_d = np.diagonal(matrix_values(matrices, "Theta", "observed", "observed_col"),
                          axis1=2, axis2=3)
    has_cause = np.any(b != 0, axis=(0, 1, 3))
    loads = np.any(lam[:, :, :, ~phantom] != 0, axis=(0, 1, 3))
    names: list[str] = []
    cols: list[np.ndarray] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, name in enumerate(observed):
            if name in pmap:
                j = li[pmap[name]]
                if has_cause[j]:
                    names.append(name)
                    cols.append(1.0 - psi_d[:, :, j] / lat_var[:, :, j])
            elif loads[i]:
                names.append(name)
                cols.append(1.0 - theta_d[:, :, i] / obs_var[:, :, i])
        for j, name in enumerate(latent):
            if not phantom[j] and has_cause[j]:
                names.append(name)
                cols.append(1.0 - psi_d[:, :, j] / lat_var[:, :, j])
    data = np.stack(cols, axis=-1) if cols else np.zeros(lam.shape[:2] + (0,))
    return _per_draw(matrices, data, "variable", names, "r2")
