"""Direct, indirect and total effects between latent (and phantom) variables, per draw.

With ``B[i, j]`` the direct effect of variable ``j`` on variable ``i`` (all-y LISREL form)::

    direct   = B
    total    = (I - B)^-1 - I          (= B + B² + B³ + ... for a recursive model)
    indirect = total - direct

and the *specific* indirect effect along a path ``v0 -> v1 -> ... -> vk`` is the product of the
path's coefficients ``B[v1, v0] * B[v2, v1] * ... * B[vk, vk-1]``. In a recursive (acyclic)
model the specific indirect effects over all simple paths from ``x`` to ``y`` sum to the total
indirect effect. Every quantity is a posterior: it is computed for every draw, so its interval
is the proper (asymmetric) interval of the product, not a Sobel normal approximation.

Standardized effects (``standardized=True``) multiply each effect by ``sd(from) / sd(to)``, with
model-implied total SDs of the same draw (lavaan's ``std.all`` scale for phantom observed
variables, ``std.lv`` for latent variables).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.results.standardized import labelled_moments, matrix_names, matrix_values
from bayes_rent.results.summary import summarize_draws
from bayes_rent.spec.implied import total_operator

__all__ = ["effect_draws", "effects_table", "indirect_paths", "specific_indirect"]

ARROW = " -> "
ALL_PATHS = "all"


def _support(b: np.ndarray) -> np.ndarray:
    """Structural graph: ``S[i, j]`` is True when ``B[i, j]`` is non-zero in some draw."""
    return np.any(b != 0, axis=(0, 1))


def _closure(s: np.ndarray) -> np.ndarray:
    """Reachability through paths of length >= 1 (boolean transitive closure)."""
    reach = s.copy()
    while True:
        new = reach | ((s.astype(int) @ reach.astype(int)) > 0)
        if (new == reach).all():
            return reach
        reach = new


def _is_acyclic(s: np.ndarray) -> bool:
    return not np.diag(_closure(s)).any()


def _causal_order(s: np.ndarray) -> list[int]:
    """Indices in causal (topological) order, ties kept in matrix order; matrix order if cyclic."""
    if not _is_acyclic(s):
        return list(range(len(s)))
    remaining = list(range(len(s)))
    order: list[int] = []
    while remaining:
        ready = next(i for i in remaining if not any(s[i, j] for j in remaining if j != i))
        order.append(ready)
        remaining.remove(ready)
    return order


def _sd_ratio(matrices: xr.Dataset) -> np.ndarray:
    """``sd(from) / sd(to)`` with dims ``(chain, draw, to, from)``."""
    phi = labelled_moments(matrices)["latent_cov"].values
    sd = np.sqrt(np.clip(np.diagonal(phi, axis1=2, axis2=3), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return sd[:, :, None, :] / sd[:, :, :, None]


def effect_draws(matrices: xr.Dataset, *, standardized: bool = False) -> xr.Dataset:
    """Direct, indirect and total effects between all latent variables, per draw.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices; only ``B`` (and ``Psi`` when ``standardized``) are used.
    standardized : bool
        Scale every effect by ``sd(from) / sd(to)`` (model-implied SDs of the same draw).

    Returns
    -------
    xarray.Dataset
        ``direct``, ``indirect``, ``total`` with dims ``(chain, draw, to, from)``. Entries that
        are structurally zero (no path of the required length in any draw) are exactly 0, so
        round-off in the matrix inverse never shows up as a tiny spurious effect.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["M", "Y", "Y", "X", "M", "Y"],
    ...                    "op": ["~", "~", "~", "~~", "~~", "~~"],
    ...                    "rhs": ["X", "M", "X", "X", "M", "Y"],
    ...                    "est": [0.5, 0.4, 0.1, 1.0, 1.0, 1.0]})
    >>> eff = effect_draws(matrices_from_parameters(pt))
    >>> round(float(eff["indirect"].sel(to="Y", **{"from": "X"}).squeeze()), 3)
    0.2
    >>> round(float(eff["total"].sel(to="Y", **{"from": "X"}).squeeze()), 3)
    0.3
    """
    _, latent, _ = matrix_names(matrices)
    b = matrix_values(matrices, "B", "latent", "latent_col")
    m = len(latent)
    total = total_operator(b) - np.eye(m)
    s = _support(b)
    reach = _closure(s)
    reach2 = (s.astype(int) @ reach.astype(int)) > 0
    direct = np.where(s, b, 0.0)
    total = np.where(reach, total, 0.0)
    indirect = np.where(reach2, total - direct, 0.0)
    if standardized:
        ratio = _sd_ratio(matrices)
        direct, indirect, total = (direct * ratio, indirect * ratio, total * ratio)
    dims = ("chain", "draw", "to", "from")
    coords = {
        "chain": matrices["chain"].values,
        "draw": matrices["draw"].values,
        "to": latent,
        "from": latent,
    }
    out = xr.Dataset(
        {"direct": (dims, direct), "indirect": (dims, indirect), "total": (dims, total)},
        coords=coords,
    )
    out.attrs["standardized"] = int(standardized)
    return out


def specific_indirect(
    matrices: xr.Dataset, path: Sequence[str], *, standardized: bool = False
) -> xr.DataArray:
    """The specific indirect effect along one path, per draw.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices (``B``).
    path : sequence of str
        Variables in causal order, e.g. ``["RE", "KR", "IG"]`` for RE -> KR -> IG; at least
        three (one mediator).
    standardized : bool
        Multiply by ``sd(path[0]) / sd(path[-1])``.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw)``, the product ``B[v1, v0] * B[v2, v1] * ...``; named
        ``"RE -> KR -> IG"``, with ``attrs`` ``from``, ``to``, ``via``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["M", "Y", "X", "M", "Y"], "op": ["~", "~", "~~", "~~", "~~"],
    ...                    "rhs": ["X", "M", "X", "M", "Y"], "est": [0.5, 0.4, 1.0, 1.0, 1.0]})
    >>> ab = specific_indirect(matrices_from_parameters(pt), ["X", "M", "Y"])
    >>> ab.name, round(float(ab.squeeze()), 3)
    ('X -> M -> Y', 0.2)
    """
    path = [str(v) for v in path]
    if len(path) < 3:
        raise ValueError("an indirect path needs at least three variables (one mediator)")
    _, latent, _ = matrix_names(matrices)
    missing = [v for v in path if v not in latent]
    if missing:
        raise KeyError(f"not latent or phantom variables of the model: {missing}")
    li = {n: i for i, n in enumerate(latent)}
    b = matrix_values(matrices, "B", "latent", "latent_col")
    prod = np.ones(b.shape[:2])
    for src, dst in zip(path[:-1], path[1:], strict=True):
        prod = prod * b[:, :, li[dst], li[src]]
    if standardized:
        prod = prod * _sd_ratio(matrices)[:, :, li[path[-1]], li[path[0]]]
    return xr.DataArray(
        prod,
        dims=("chain", "draw"),
        coords={"chain": matrices["chain"].values, "draw": matrices["draw"].values},
        name=ARROW.join(path),
        attrs={"from": path[0], "to": path[-1], "via": ARROW.join(path[1:-1])},
    )


def indirect_paths(matrices: xr.Dataset, source: str, target: str) -> list[list[str]]:
    """All simple directed paths with at least one mediator from ``source`` to ``target``.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices (``B``); an edge exists where ``B`` is non-zero in some draw.
    source, target : str
        Variable names.

    Returns
    -------
    list of list of str
        Each path from ``source`` to ``target`` inclusive, in depth-first order.

    Examples
    --------
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> pt = pd.DataFrame({"lhs": ["M", "Y", "Y"], "op": ["~"] * 3, "rhs": ["X", "M", "X"],
    ...                    "est": [0.5, 0.4, 0.1]})
    >>> indirect_paths(matrices_from_parameters(pt), "X", "Y")
    [['X', 'M', 'Y']]
    """
    _, latent, _ = matrix_names(matrices)
    s = _support(matrix_values(matrices, "B", "latent", "latent_col"))
    return _simple_paths(s, latent, latent.index(source), latent.index(target))


def _simple_paths(s: np.ndarray, names: list[str], src: int, dst: int) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: int, trail: list[int]) -> None:
        for nxt in np.flatnonzero(s[:, node]):
            if nxt in trail:
                continue
            if nxt == dst:
                if len(trail) >= 2:
                    found.append([names[i] for i in trail + [int(nxt)]])
                continue
            walk(int(nxt), trail + [int(nxt)])

    walk(src, [src])
    return found


def _p_direction(x: np.ndarray) -> np.ndarray:
    """Probability of direction (bayestestR): ``max(P(x > 0), P(x < 0))`` over draws."""
    return np.maximum((x > 0).mean(axis=(0, 1)), (x < 0).mean(axis=(0, 1)))


def _rope_bounds(rope: float | tuple[float, float]) -> tuple[float, float]:
    if np.ndim(rope) == 0:
        r = abs(float(rope))
        return -r, r
    low, high = (float(v) for v in rope)
    return min(low, high), max(low, high)


def effects_table(
    matrices: xr.Dataset,
    *,
    hdi_prob: float = 0.9,
    rope: float | tuple[float, float] | None = None,
    via: Sequence[Sequence[str]] | None = None,
    standardized: bool = False,
) -> pd.DataFrame:
    """Posterior summary of the direct, indirect and total effects a paper reports.

    Parameters
    ----------
    matrices : xarray.Dataset
        Model matrices of the fit.
    hdi_prob : float
        Probability mass of the highest-density intervals.
    rope : float or (float, float), optional
        Region of practical equivalence; a single number ``r`` means ``(-r, r)``. Adds
        ``p_rope``, the posterior probability that the effect lies inside the region.
    via : sequence of paths, optional
        Specific indirect effects to report, each a path like ``["RE", "KR", "IG"]``. By default
        every simple path is reported for each pair that has more than one; with exactly one
        path the aggregate indirect row names its mediators and no separate row is added.
    standardized : bool
        Report effects on the standardized scale (``sd(from) / sd(to)``).

    Returns
    -------
    pandas.DataFrame
        Columns ``from, to, kind, via, mean, sd, hdi_low, hdi_high, p_direction`` (and
        ``p_rope``). ``kind`` is ``direct``, ``indirect`` or ``total``. ``via`` is empty for
        direct and total rows; for indirect rows it is the mediator chain (``"M1 -> M2"``), or
        ``"all"`` for the sum over several paths. Only effects that are not identically zero
        over draws are listed; rows follow the causal order of the variables.
        ``p_direction = max(P(effect > 0), P(effect < 0))``.

    Examples
    --------
    >>> from bayes_rent.results.standardized import matrices_from_parameters
    >>> rows = [("M", "~", "X", 0.5), ("Y", "~", "M", 0.4), ("Y", "~", "X", 0.1),
    ...         ("X", "~~", "X", 1.0), ("M", "~~", "M", 1.0), ("Y", "~~", "Y", 1.0)]
    >>> pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est"])
    >>> tab = effects_table(matrices_from_parameters(pt))
    >>> for r in tab.itertuples():
    ...     print(f"{r[1]} -> {r.to}: {r.kind} {r.via}".strip(), round(r.mean, 2))
    X -> M: direct 0.5
    X -> M: total 0.5
    X -> Y: direct 0.1
    X -> Y: indirect M 0.2
    X -> Y: total 0.3
    M -> Y: direct 0.4
    M -> Y: total 0.4
    """
    eff = effect_draws(matrices, standardized=standardized)
    _, latent, _ = matrix_names(matrices)
    li = {n: i for i, n in enumerate(latent)}
    b = matrix_values(matrices, "B", "latent", "latent_col")
    s = _support(b)
    acyclic = _is_acyclic(s)
    ratio = _sd_ratio(matrices) if standardized else None
    arrays = {k: eff[k].transpose("chain", "draw", "to", "from").values for k in eff.data_vars}

    explicit: dict[tuple[str, str], list[list[str]]] = {}
    if via is not None:
        for path in via:
            path = [str(v) for v in path]
            unknown = [v for v in path if v not in li]
            if len(path) < 3 or unknown:
                raise ValueError(
                    f"via path {path}: needs >= 3 variables of the model (unknown: {unknown})"
                )
            explicit.setdefault((path[0], path[-1]), []).append(path)

    def path_draws(path: list[str]) -> np.ndarray:
        prod = np.ones(b.shape[:2])
        for src, dst in zip(path[:-1], path[1:], strict=True):
            prod = prod * b[:, :, li[dst], li[src]]
        if ratio is not None:
            prod = prod * ratio[:, :, li[path[-1]], li[path[0]]]
        return prod

    rows: list[dict[str, str]] = []
    cols: list[np.ndarray] = []

    def add(src: str, dst: str, kind: str, via_label: str, x: np.ndarray) -> None:
        if np.all(x == 0):
            return
        rows.append({"from": src, "to": dst, "kind": kind, "via": via_label})
        cols.append(x)

    ordered = [latent[k] for k in _causal_order(s)]
    for src in ordered:
        for dst in ordered:
            if src == dst:
                continue
            i, j = li[dst], li[src]
            add(src, dst, "direct", "", arrays["direct"][:, :, i, j])
            ind = arrays["indirect"][:, :, i, j]
            if not np.all(ind == 0):
                paths = _simple_paths(s, latent, j, i) if acyclic else []
                single = len(paths) == 1
                agg_label = ARROW.join(paths[0][1:-1]) if single else ALL_PATHS
                add(src, dst, "indirect", agg_label, ind)
                specific = explicit.get((src, dst), []) if via is not None else (
                    [] if single else paths
                )
                for path in specific:
                    label = ARROW.join(path[1:-1])
                    if single and label == agg_label:
                        continue
                    add(src, dst, "indirect", label, path_draws(path))
            add(src, dst, "total", "", arrays["total"][:, :, i, j])

    columns = ["from", "to", "kind", "via", "mean", "sd", "hdi_low", "hdi_high", "p_direction"]
    if rope is not None:
        columns.append("p_rope")
    if not rows:
        out = pd.DataFrame(columns=columns)
    else:
        stacked = np.stack(cols, axis=-1)
        da = xr.DataArray(
            stacked,
            dims=("chain", "draw", "effect"),
            coords={"effect": np.arange(len(rows))},
        )
        summ = summarize_draws(da, "effect", hdi_prob=hdi_prob).reset_index(drop=True)
        out = pd.DataFrame(rows)
        for c in ("mean", "sd", "hdi_low", "hdi_high"):
            out[c] = summ[c].to_numpy()
        out["p_direction"] = _p_direction(stacked)
        if rope is not None:
            low, high = _rope_bounds(rope)
            out["p_rope"] = ((stacked >= low) & (stacked <= high)).mean(axis=(0, 1))
        out = out[columns]
    out.attrs.update(
        {"kind": "effects", "hdi_prob": hdi_prob, "standardized": bool(standardized)}
    )
    if rope is not None:
        out.attrs["rope"] = _rope_bounds(rope)
    return out
