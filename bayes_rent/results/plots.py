"""Forest and trace plots of a fit, drawn by ArviZ over labelled posterior draws.

Nothing here draws by hand: every plot is ArviZ's (``az.plot_forest``, ``az.plot_trace``) over
an ``xarray`` object whose one variable has a ``parameter`` dim labelled in the field's words,
so the tick labels and titles are those labels. The draws are the result modules' own
per-draw arrays (vectorized over draws): :func:`~bayes_rent.results.standardized.standardized_draws`
for paths and loadings, :func:`~bayes_rent.results.effects.effect_draws` and
:func:`~bayes_rent.results.effects.specific_indirect` for effects,
:func:`~bayes_rent.results.defined.defined_draws` for ``:=`` parameters.

Labels: a regression ``KR ~ a*RE`` is ``KR ← RE (a)``, a loading ``RE =~ re_trust`` is
``RE → re_trust``, effects are ``direct RE → KR``, ``indirect RE → KR → IG`` (one mediator
chain), ``indirect RE ⇒ IG (all paths)`` (the sum over several chains) and ``total RE → IG``,
a defined parameter is its lavaan line ``indirect := a*b``. For a fit with several groups or
levels, ``fit.plot_forest()`` shows every block's rows with the block appended
(``KR ← RE [urban]``).

The library never chooses a matplotlib backend; scripts and tests that draw without a display
call ``matplotlib.use("Agg")`` themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from arviz.labels import NoVarLabeller
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayes_rent.results.defined import defined_draws, is_label
from bayes_rent.results.diagram import table_blocks
from bayes_rent.results.effects import (
    ALL_PATHS,
    ARROW,
    effect_draws,
    effects_table,
    specific_indirect,
)
from bayes_rent.results.fitted import FittedModel
from bayes_rent.results.standardized import standardized_draws

__all__ = [
    "FOREST_KINDS",
    "TRACE_KINDS",
    "forest_draws",
    "plot_forest",
    "plot_trace",
    "worst_parameters",
]

FOREST_KINDS = ("paths", "effects", "loadings")
#: plot_trace's kinds and ArviZ's names for them
TRACE_KINDS = {"trace": "trace", "rank": "rank_bars"}


@contextmanager
def _arviz_drawing() -> Iterator[None]:
    """ArviZ 0.23's matplotlib backend calls ``normalize_kwargs`` the way matplotlib 3.11
    deprecates, once per artist; the notice is ArviZ's to act on, not the reader's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Passing a dict or None as alias_mapping",
                                MatplotlibDeprecationWarning)
        yield


def _labelled(values: np.ndarray, labels: list[str], like: xr.DataArray, name: str) -> xr.DataArray:
    """``values`` ``(chain, draw, n)`` as a DataArray with a ``parameter`` dim of labels."""
    return xr.DataArray(
        values,
        dims=("chain", "draw", "parameter"),
        coords={"chain": like["chain"].values, "draw": like["draw"].values,
                "parameter": labels},
        name=name,
    )


def _row_label(lhs: str, op: str, rhs: str, label: object) -> str:
    text = f"{lhs} ← {rhs}" if op in ("~", "<~") else f"{lhs} → {rhs}"
    return f"{text} ({str(label).strip()})" if is_label(label) else text


def _effect_label(src: str, dst: str, kind: str, via: str) -> str:
    if kind == "indirect":
        if via == ALL_PATHS:
            return f"indirect {src} ⇒ {dst} (all paths)"
        return f"indirect {' → '.join([src, *via.split(ARROW), dst])}"
    return f"{kind} {src} → {dst}"


def _check_one_block(partable: pd.DataFrame) -> None:
    for col in table_blocks(partable):
        raise ValueError(
            f"this fit has several {col}s: plot it with fit.plot_forest(), which shows "
            f"every {col}, or pass {{name: block fit}} (fit.block_fits) to plot_forest"
        )


def forest_draws(
    fit: FittedModel, kind: str = "paths", *, standardized: bool = True
) -> xr.DataArray:
    """The draws a forest plot shows, labelled: dims ``(chain, draw, parameter)``.

    Parameters
    ----------
    fit : FittedModel
        A single-block fit.
    kind : {"paths", "effects", "loadings"}
        ``paths``: the regressions (``~``). ``effects``: the direct, indirect and total
        effects of :func:`~bayes_rent.results.effects.effects_table` among the variables of
        the structural model (those in ``~`` rows), then the ``:=`` parameters.
        ``loadings``: the ``=~`` rows (second-order loadings too).
    standardized : bool
        ``std.all`` values (loadings, paths, ``:=`` evaluated at standardized values as in
        lavaan; effects scaled by ``sd(from) / sd(to)``), else the raw scale.

    Returns
    -------
    xarray.DataArray
        Named ``kind``; the ``parameter`` coordinate holds the labels (module docstring).

    Examples
    --------
    >>> forest_draws(fit, "effects")["parameter"].values[:4].tolist()  # doctest: +SKIP
    ['direct ind60 → dem60', 'total ind60 → dem60', 'direct ind60 → dem65',
     'indirect ind60 → dem60 → dem65']
    """
    if kind not in FOREST_KINDS:
        raise ValueError(f"kind must be one of {FOREST_KINDS}, got {kind!r}")
    pt = fit.partable.reset_index(drop=True)
    _check_one_block(pt)
    draws = fit.parameter_draws.transpose("chain", "draw", "par")
    if kind == "effects":
        return _effect_forest_draws(fit, pt, draws, standardized)
    ops = ("~", "<~") if kind == "paths" else ("=~",)
    rows = pt[pt["op"].isin(ops)]
    if rows.empty:
        raise ValueError(f"the model has no {kind} to plot")
    if standardized:
        values = standardized_draws(fit.matrices, pt, draws, kind="std_all")
    else:
        values = draws
    labels = [_row_label(str(r.lhs), str(r.op), str(r.rhs), getattr(r, "label", None))
              for r in rows.itertuples(index=False)]
    picked = values.sel(par=rows["id"].to_numpy()).transpose("chain", "draw", "par")
    return _labelled(picked.values, labels, draws, kind)


def _effect_forest_draws(
    fit: FittedModel, pt: pd.DataFrame, draws: xr.DataArray, standardized: bool
) -> xr.DataArray:
    mats = fit.matrices
    table = effects_table(mats, standardized=standardized)
    structural = set(pt.loc[pt["op"].isin(["~", "<~"]), ["lhs", "rhs"]].astype(str).values.ravel())
    # a second-order model's B also holds construct -> dimension loadings; those are
    # measurement, not effects (and a model without "~" has none)
    table = table[table["from"].isin(structural) & table["to"].isin(structural)]
    eff = effect_draws(mats, standardized=standardized)
    columns: list[np.ndarray] = []
    labels: list[str] = []
    for src, dst, kind, via in table[["from", "to", "kind", "via"]].itertuples(index=False):
        if kind == "indirect" and via != ALL_PATHS:
            # one mediator chain: the product of its paths
            path = [src, *via.split(ARROW), dst]
            x = specific_indirect(mats, path, standardized=standardized).values
        else:
            x = eff[kind].sel(to=dst, **{"from": src}).transpose("chain", "draw").values
        columns.append(x)
        labels.append(_effect_label(src, dst, kind, via))
    defined = pt[pt["op"] == ":="]
    if not defined.empty:
        if standardized:
            std = standardized_draws(mats, pt, draws, kind="std_all")
            d = std.sel(par=defined["id"].to_numpy()).transpose("chain", "draw", "par").values
        else:
            d = defined_draws(pt, draws).sel(defined=defined["lhs"].astype(str).tolist())
            d = d.transpose("chain", "draw", "defined").values
        columns += list(np.moveaxis(d, -1, 0))
        labels += [f"{n} := {e}" for n, e in zip(defined["lhs"], defined["rhs"], strict=True)]
    if not columns:
        raise ValueError("the model has no effects or defined parameters to plot")
    return _labelled(np.stack(columns, axis=-1), labels, draws, "effects")


def _first_axes(axes: object) -> Axes:
    return np.asarray(axes, dtype=object).ravel()[0]


def plot_forest(
    fit: FittedModel | Mapping[str, FittedModel],
    kind: str = "paths",
    *,
    hdi_prob: float = 0.9,
    standardized: bool = True,
    ax: Axes | None = None,
) -> Figure:
    """Forest plot of paths, effects or loadings: posterior mean, HDI and 50 % interval.

    Parameters
    ----------
    fit : FittedModel or mapping of str to FittedModel
        A single-block fit, or ``{block name: block fit}`` (``fit.plot_forest()`` passes a
        multi-group or two-level fit's blocks so): every label gains ``[block name]``.
    kind : {"paths", "effects", "loadings"}
        What to show (:func:`forest_draws`).
    hdi_prob : float
        Mass of the HDI (the thin line); ArviZ draws the interquartile range thicker.
    standardized : bool
        ``std.all`` scale (default) or the raw scale.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        One y tick per parameter, labelled as in :func:`forest_draws`.

    Examples
    --------
    >>> fig = plot_forest(fit, "effects")  # doctest: +SKIP
    >>> fig.savefig("effects.png")  # doctest: +SKIP
    """
    if isinstance(fit, Mapping):
        parts = []
        for name, block in fit.items():
            da = forest_draws(block, kind, standardized=standardized)
            parts.append(da.assign_coords(
                parameter=[f"{p} [{name}]" for p in da["parameter"].values]))
        draws = xr.concat(parts, dim="parameter")
    else:
        draws = forest_draws(fit, kind, standardized=standardized)
    with _arviz_drawing():
        axes = az.plot_forest(
            xr.Dataset({kind: draws}), combined=True, hdi_prob=hdi_prob,
            labeller=NoVarLabeller(), ax=ax,
            figsize=None if ax is not None else (8, 1.2 + 0.3 * draws.sizes["parameter"]),
        )
    first = _first_axes(axes)
    first.axvline(0.0, color="0.6", lw=0.8, ls="--", zorder=0)
    first.tick_params(axis="y", labelsize=9)
    scale = "standardized (std.all)" if standardized else "unstandardized"
    first.set_title(f"{kind}: posterior mean, {100 * hdi_prob:g}% HDI ({scale})",
                    fontsize=10)
    if ax is None:
        # long labels ("indirect RE → KR → IG") need the room ArviZ's layout does not give
        first.figure.tight_layout()
    return first.figure


def worst_parameters(fit: FittedModel, n: int = 4) -> pd.DataFrame:
    """The ``n`` free parameters that converged worst: highest R-hat, ties by lowest bulk ESS.

    Parameters
    ----------
    fit : FittedModel
        Any fit; the parameters are ``fit.idata.posterior["parameters"]`` (every table row,
        labelled ``lhs op rhs``). Rows constant over draws (fixed) are left out.
    n : int
        How many.

    Returns
    -------
    pandas.DataFrame
        Indexed by the parameter's name, columns ``r_hat, ess_bulk``, worst first.

    Examples
    --------
    >>> import types
    >>> draws = np.random.default_rng(0).normal(size=(2, 100, 3))
    >>> draws[1, :, 0] += 3.0  # the second chain of "a" sits apart
    >>> draws[:, :, 2] = 1.0  # "c" is fixed
    >>> post = xr.Dataset({"parameters": (("chain", "draw", "parameter"), draws)},
    ...                   coords={"parameter": ["a", "b", "c"]})
    >>> fit = types.SimpleNamespace(idata=az.InferenceData(posterior=post))
    >>> worst_parameters(fit, 3).index.tolist()
    ['a', 'b']
    """
    post = fit.idata.posterior["parameters"].transpose("chain", "draw", "parameter")
    varies = np.ptp(post.values, axis=(0, 1)) > 0
    post = post.isel(parameter=np.flatnonzero(varies))
    ds = xr.Dataset({"parameters": post})
    table = pd.DataFrame(
        {"r_hat": az.rhat(ds)["parameters"].values,
         "ess_bulk": az.ess(ds, method="bulk")["parameters"].values},
        index=pd.Index([str(p) for p in post["parameter"].values], name="parameter"),
    )
    # NaN R-hat (a chain stuck on one value) ranks first: it is the worst case
    key = table["r_hat"].fillna(np.inf)
    order = np.lexsort((table["ess_bulk"].to_numpy(), -key.to_numpy()))
    return table.iloc[order[:n]]


def plot_trace(fit: FittedModel, worst: int = 4, kind: str = "trace") -> Figure:
    """Trace or rank plots of the parameters that converged worst.

    Parameters
    ----------
    fit : FittedModel
        Any fit (every group or level's parameters compete).
    worst : int
        How many parameters (:func:`worst_parameters`), one row each.
    kind : {"trace", "rank"}
        ``trace``: draws against iteration per chain; ``rank``: ArviZ's rank bars, flat for
        well-mixed chains.

    Returns
    -------
    matplotlib.figure.Figure
        A row per parameter, worst first, titled with its name (``dem65 ~~ dem65``);
        the left column shows each chain's density.

    Examples
    --------
    >>> fig = plot_trace(fit, worst=3, kind="rank")  # doctest: +SKIP
    """
    if kind not in TRACE_KINDS:
        raise ValueError(f"kind must be one of {tuple(TRACE_KINDS)}, got {kind!r}")
    names = worst_parameters(fit, worst).index.tolist()
    post = fit.idata.posterior["parameters"].sel(parameter=names)
    with _arviz_drawing():
        axes = az.plot_trace(
            xr.Dataset({"parameters": post}), kind=TRACE_KINDS[kind], compact=False,
            labeller=NoVarLabeller(), figsize=(9, 1.9 * len(names) + 0.4),
        )
    fig = _first_axes(axes).figure
    fig.suptitle(f"{len(names)} parameters with the highest R-hat ({kind})", fontsize=10)
    fig.tight_layout()
    return fig
