"""Identification: choosing scale markers, and resolving loading signs under ``std_lv``.

*Marker variables.* lavaan fixes the first loading of every factor to 1. In a Likert inventory
the first item of a factor is often reverse-keyed; fixing a loading that is really negative to
+1 forces every other loading of the factor negative and traps the sampler between modes. Before
fitting, each automatic marker is checked against the other indicators of its factor, and a
marker that correlates negatively with them is replaced by the first indicator that does not.

*Sign alignment.* With ``std_lv=True`` the likelihood is unchanged when a factor and all its
loadings change sign, so each factor has two mirror-image modes. As blavaan does, every draw is
brought to the mode where the factor's first loading is positive: the factor's loadings, and each
path, covariance and mean that touches it, are multiplied by the sign. A row touching factors f
and g is multiplied by s_f·s_g, so the implied covariance matrix of every draw is unchanged.
Only factors whose first loading is free take part (:func:`sign_free_factors`); a marker fixes
its factor's sign. With ordinal items the latent scores are sampled, and they would have to flip
with their factor, so there the first loading is instead held positive while sampling
(:func:`bayes_rent.backend.conditional.positive_loadings`), and alignment finds nothing to flip.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_rent.errors import IdentificationError
from bayes_rent.spec.partable import latent_variables, n_free, observed_variables


class MarkerWarning(UserWarning):
    """A factor's marker item was replaced because it runs against the factor."""


def check_markers(partable: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Move a factor's marker when the marker item correlates negatively with its other items.

    Parameters
    ----------
    partable : pandas.DataFrame
        Parameter table with marker identification (first loading fixed to 1).
    data : pandas.DataFrame
        Observed data (numeric).

    Returns
    -------
    pandas.DataFrame
        The same table, or a copy with the marker moved (and a :class:`MarkerWarning`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayes_rent.spec.partable import build_partable
    >>> rng = np.random.default_rng(0); f = rng.normal(size=200)
    >>> d = pd.DataFrame({"x1": -f + rng.normal(size=200), "x2": f + rng.normal(size=200),
    ...                   "x3": f + rng.normal(size=200)})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):
    ...     pt = check_markers(build_partable("f =~ x1 + x2 + x3"), d)
    >>> pt.loc[pt.op == "=~", ["rhs", "free"]].values.tolist()
    [['x1', True], ['x2', False], ['x3', True]]
    """
    pt = partable
    changed = False
    for f in latent_variables(pt):
        rows = pt[(pt["op"] == "=~") & (pt["lhs"] == f)]
        items = [r for r in rows["rhs"] if r in data.columns]
        if len(items) < 3:
            continue
        first = rows.iloc[0]
        is_marker = (not first["free"]) and first["value"] == 1.0 and not first["label"]
        if not is_marker or first["rhs"] not in data.columns:
            continue
        corr = data[items].corr().to_numpy(copy=True)
        np.fill_diagonal(corr, np.nan)
        mean_corr = np.nanmean(corr, axis=1)
        if mean_corr[0] >= 0:
            continue
        candidates = [
            (k, rid) for k, rid in enumerate(rows["id"])
            if rows.iloc[k]["free"] and rows.iloc[k]["rhs"] in items and k > 0
            and mean_corr[items.index(rows.iloc[k]["rhs"])] > 0
        ]
        if not candidates:
            continue
        if not changed:
            pt = pt.copy()
            changed = True
        k, rid = candidates[0]
        new_marker = rows.iloc[k]["rhs"]
        pt.loc[pt["id"] == first["id"], ["free", "value"]] = [True, np.nan]
        pt.loc[pt["id"] == rid, ["free", "value"]] = [False, 1.0]
        warnings.warn(
            f"factor '{f}': its first item '{first['rhs']}' correlates negatively with the "
            f"factor's other items (mean r = {mean_corr[0]:.2f}), as a reverse-keyed item does; "
            f"'{new_marker}' is used as the marker instead. To keep '{first['rhs']}', recode "
            "it (reverse=True when reading the survey) or write the marker explicitly "
            f"('{f} =~ NA*{first['rhs']} + 1*{new_marker} + ...').",
            MarkerWarning,
            stacklevel=3,
        )
    return pt


def _sign_rows(partable: pd.DataFrame) -> dict[str, pd.Series]:
    """Per factor whose sign the model leaves free, the loading row that decides it.

    A factor's sign is free when none of its loadings is fixed at a nonzero value (a marker,
    wherever it sits, fixes it). The deciding row is its first free loading (blavaan's rule:
    the first loading is positive).
    """
    out = {}
    for f in latent_variables(partable):
        rows = partable[(partable["op"] == "=~") & (partable["lhs"] == f)]
        fixed = rows[~rows["free"].astype(bool)]
        free = rows[rows["free"].astype(bool)]
        if len(free) and not (fixed["value"] != 0).any():
            out[f] = free.iloc[0]
    return out


def sign_free_factors(partable: pd.DataFrame) -> list[str]:
    """The factors whose sign the model leaves free: no loading is fixed at a nonzero value.

    Under ``std_lv`` that is every factor; under markers none (the marker's 1 fixes the sign,
    also when :func:`check_markers` moved it off the first item).

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> sign_free_factors(build_partable("f =~ x1 + x2; g =~ x3 + x4", std_lv=True))
    ['f', 'g']
    >>> sign_free_factors(build_partable("f =~ x1 + x2; g =~ NA*x3 + 1*x4"))
    []
    """
    return list(_sign_rows(partable))


def sign_loading_rows(partable: pd.DataFrame) -> list[int]:
    """The ``id`` of each sign-free factor's deciding loading (its first free one)."""
    return [int(row["id"]) for row in _sign_rows(partable).values()]


def factor_signs(partable: pd.DataFrame, row_values: np.ndarray) -> dict[str, np.ndarray]:
    """Per sign-free factor, the sign (±1, shape ``row_values.shape[:-1]``) that brings each
    draw to the mode where the factor's first loading is positive."""
    free = _sign_rows(partable)
    ids = list(partable["id"])
    first_row = {f: (ids.index(row["id"]), row["rhs"]) for f, row in free.items()}
    signs: dict[str, np.ndarray] = {}
    # a second-order factor's first indicator is a factor: its sign is known only after that
    # factor's own sign, so resolve lower orders first
    pending = list(first_row)
    while pending:
        progress = False
        for f in list(pending):
            k, first = first_row[f]
            if first in first_row and first not in signs:
                continue
            s = np.sign(row_values[..., k] * signs.get(first, 1.0))
            signs[f] = np.where(s == 0, 1.0, s)
            pending.remove(f)
            progress = True
        if not progress:
            raise ValueError(f"factors {pending} are each other's first indicators")
    return signs


def sign_multipliers(
    partable: pd.DataFrame, signs: dict[str, np.ndarray], shape: tuple[int, ...]
) -> np.ndarray:
    """Per row, the factor (±1) that applies the factors' ``signs`` to the row.

    Parameters
    ----------
    partable : pandas.DataFrame
        The parameter table.
    signs : dict
        From :func:`factor_signs`.
    shape : tuple of int
        ``(..., n_rows)``, the shape of the row values the signs came from.

    Returns
    -------
    numpy.ndarray
        Shape ``shape``; 1 for every row when no factor's sign is free.
    """
    out = np.ones(shape)
    for k, (op, lhs, rhs) in enumerate(partable[["op", "lhs", "rhs"]].itertuples(index=False)):
        if op in ("=~", "~") or (op == "~~" and lhs != rhs):
            out[..., k] = signs.get(lhs, 1.0) * signs.get(rhs, 1.0)
        elif op == "~1":
            out[..., k] = signs.get(lhs, 1.0)
    return out


def align_signs(partable: pd.DataFrame, row_draws: np.ndarray) -> np.ndarray:
    """Bring every draw of a ``std_lv`` model to the mode with positive first loadings.

    Only factors whose sign the model leaves free change sign (:func:`sign_free_factors`); a
    marker-identified factor is left as it is.

    Parameters
    ----------
    partable : pandas.DataFrame
        The parameter table.
    row_draws : numpy.ndarray
        Shape ``(..., n_rows)``: values of every row for each draw.

    Returns
    -------
    numpy.ndarray
        Aligned draws of the same shape.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> pt = build_partable("f =~ x1 + x2", std_lv=True, meanstructure=False)
    >>> vals = np.zeros((2, len(pt)))
    >>> vals[:, :2] = [[-0.8, -0.5], [0.7, 0.4]]
    >>> align_signs(pt, vals)[:, :2].tolist()
    [[0.8, 0.5], [0.7, 0.4]]
    """
    signs = factor_signs(partable, row_draws)
    return row_draws * sign_multipliers(partable, signs, row_draws.shape)


def check_identified(partable: pd.DataFrame) -> None:
    """Refuse a model that is not identified, before anything is compiled.

    Two necessary conditions, cheap enough to check on every fit: every latent variable has
    a scale (a loading fixed to a non-zero value, or a fixed variance), and the t-rule (no more
    free parameters than the observed means, variances and covariances). Passing them does not
    prove identification; failing either proves its absence.

    Parameters
    ----------
    partable : pandas.DataFrame
        A parameter table from :func:`bayes_rent.spec.partable.build_partable`.

    Raises
    ------
    bayes_rent.errors.IdentificationError
        Naming the latent variables without a scale, or the free-parameter and moment counts
        with the parameters most likely at fault.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> check_identified(build_partable("f =~ x1 + x2 + x3"))
    >>> try:
    ...     check_identified(build_partable("f =~ NA*x1 + x2 + x3"))
    ... except IdentificationError as err:
    ...     print(str(err).split(";")[0])
    latent variable 'f' has no scale
    """
    pt = partable[partable["op"] != ":="]
    unscaled = [f for f in latent_variables(pt) if not _has_scale(pt, f)]
    if unscaled:
        f = unscaled[0]
        raise IdentificationError(
            f"latent variable {_names(unscaled)} has no scale; its loadings and its variance "
            f"are all free. Fix one loading to 1 (f =~ 1*item), fix its variance ({f} ~~ 1*{f}), "
            "or fit with std_lv=True"
        )
    if "level" in pt.columns:
        return  # moments per level are not counted here; the scale check still applies
    _check_t_rule(pt)


def _has_scale(pt: pd.DataFrame, f: str) -> bool:
    loads = pt[(pt["op"] == "=~") & (pt["lhs"] == f)]
    var = pt[(pt["op"] == "~~") & (pt["lhs"] == f) & (pt["rhs"] == f)]
    fixed_load = (~loads["free"].astype(bool) & (loads["value"] != 0)).any()
    fixed_var = (~var["free"].astype(bool) & (var["value"] != 0)).any()
    return bool(fixed_load or fixed_var or loads.empty)


def _check_t_rule(pt: pd.DataFrame) -> None:
    for g, part in pt.groupby("group"):
        observed = observed_variables(part)
        p = len(observed)
        has_means = bool((part["op"] == "~1").any())
        thresholds = int((part["op"] == "|").sum())
        moments = p * (p + 1) // 2 + (p if has_means else 0) + thresholds
        free = n_free(part)
        if free <= moments:
            continue
        lv = latent_variables(part)
        loads = part[part["op"] == "=~"]
        weak = [f for f in lv if (loads["lhs"] == f).sum() < 3]
        culprits = [
            f"{r.lhs} {r.op} {r.rhs}".rstrip()
            for r in part.itertuples()
            if r.free and (r.lhs in weak or (r.op == "~~" and r.rhs in weak))
        ]
        hint = (
            f"; the factors with fewer than 3 indicators ({_names(weak)}) are the likely cause: "
            f"{', '.join(culprits[:8])}" if weak else ""
        )
        where = f" in group {g}" if pt["group"].nunique() > 1 else ""
        raise IdentificationError(
            f"the model is not identified{where}: {free} free parameters but only {moments} "
            f"observed moments ({p} observed variables){hint}. Add indicators, fix parameters "
            "(1*x, f ~~ 1*f) or constrain them equal with labels"
        )


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)
