"""Path diagrams of a fit, in the visual grammar of AMOS, drawn with Graphviz.

Latent variables are ellipses, observed items rectangles, residuals and disturbances small
circles with an arrow into their variable. Loadings and regressions are single-headed arrows,
covariances curved double-headed arrows; a covariance between two endogenous variables (two
items, or two predicted constructs) joins their residuals, as in AMOS. Every arrow carries the
**standardized** (``std.all``) posterior mean and HDI of its parameter, ``0.42 [0.31, 0.53]``;
the residual arrows carry the standardized residual variance (1 − R²).

Second-order models (a construct measured by dimensions, each measured by items) are drawn
*collapsed* by default: only the constructs that are not themselves indicators of another
latent, the observed variables of the structural model, and the paths among them. Their
hidden dimensions or items are counted in the construct's label (``RE\\n(3 dimensions)``).
``collapse=False`` draws everything; ``collapse=True`` collapses a first-order model too.

Fits with several blocks (groups, or the levels of a two-level model) have one diagram per
block: :func:`path_diagram` refuses them with a message naming the blocks, and
``fit.plot_diagram(block=...)`` draws the diagram of one block.

Every edge has a ``class`` attribute (``loading``, ``regression``, ``composite``,
``covariance``, ``residual``; Graphviz writes it into the SVG, so a report's CSS can style
them) and a ``tooltip`` with its lavaan row (``dem60 ~ ind60``). Arrows out of an exogenous
construct toward its items are written ``item -> construct [dir=back]`` so that Graphviz places
the items on the outer side of the picture; the ``tooltip`` keeps the row's meaning.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import graphviz
import numpy as np
import pandas as pd

from bayes_rent.results.fitted import FittedModel
from bayes_rent.results.standardized import standardized_summary

__all__ = ["diagram_from_table", "dot_available", "path_diagram", "table_blocks", "write_diagram"]

#: table columns that hold a row's block; a fit with more than one value has several diagrams
BLOCK_COLUMNS = ("group", "level")

_GRAPH_ATTR = {
    "rankdir": "LR", "splines": "true", "nodesep": "0.25", "ranksep": "0.55",
    "fontname": "Helvetica", "fontsize": "12",
}
_NODE_ATTR = {"fontname": "Helvetica", "fontsize": "11"}
_EDGE_ATTR = {"fontname": "Helvetica", "fontsize": "9", "arrowsize": "0.7"}
_LATENT = {"shape": "ellipse"}
_OBSERVED = {"shape": "box"}
_RESIDUAL = {"shape": "circle", "width": "0.3", "height": "0.3", "fixedsize": "true",
             "fontsize": "9"}


def table_blocks(partable: pd.DataFrame) -> dict[str, list]:
    """The block columns of a parameter table that hold more than one block.

    Examples
    --------
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "ab"], "op": ["=~", "=~", ":="],
    ...                    "rhs": ["y", "y", "a*b"], "group": [1, 2, 0]})
    >>> table_blocks(pt)
    {'group': [1, 2]}
    """
    out: dict[str, list] = {}
    for col in BLOCK_COLUMNS:
        if col in partable.columns:
            # ':=' rows belong to no block (0)
            values = sorted(v.item() if isinstance(v, np.generic) else v
                            for v in pd.unique(partable[col].dropna()) if v != 0)
            if len(values) > 1:
                out[col] = list(values)
    return out


def _check_one_block(partable: pd.DataFrame, what: str) -> None:
    blocks = table_blocks(partable)
    if blocks:
        col, values = next(iter(blocks.items()))
        raise ValueError(
            f"this fit has {len(values)} {col}s (a {what} is drawn per {col}); draw one "
            f"with fit.plot_{what}(block=...), the block being one of fit.block_names"
        )


@dataclass
class _Roles:
    """Who is what in a single-block parameter table."""

    latent: list[str]
    observed: list[str]
    #: construct -> its indicators (latent or observed), in table order
    indicators: dict[str, list[str]]
    #: latents that are indicators of another latent (the dimensions of a second-order model)
    dimensions: set[str]
    #: variables with an incoming arrow (indicators, and lhs of ``~``)
    endogenous: set[str]
    #: variables of the structural model (either side of ``~``)
    structural: set[str]


def _roles(pt: pd.DataFrame) -> _Roles:
    meas = pt[pt["op"] == "=~"]
    latent = list(dict.fromkeys(meas["lhs"].astype(str)))
    lat = set(latent)
    indicators: dict[str, list[str]] = {f: [] for f in latent}
    for f, y in zip(meas["lhs"].astype(str), meas["rhs"].astype(str), strict=True):
        indicators[f].append(y)
    names: list[str] = []
    for lhs, op, rhs in pt[["lhs", "op", "rhs"]].astype(str).itertuples(index=False):
        if op in ("=~", "~", "~~", "<~"):
            names += [lhs, rhs]
    observed = [n for n in dict.fromkeys(names) if n not in lat and n]
    dimensions = {y for f in latent for y in indicators[f] if y in lat}
    reg = pt[pt["op"].isin(["~", "<~"])]
    endogenous = set(meas["rhs"].astype(str)) | set(reg["lhs"].astype(str))
    structural = set(reg["lhs"].astype(str)) | set(reg["rhs"].astype(str))
    return _Roles(latent, observed, indicators, dimensions, endogenous, structural)


def _estimate_label(row: pd.Series, digits: int) -> str:
    """``0.42 [0.31, 0.53]`` from a summary row (``mean``, ``hdi_low``, ``hdi_high``)."""
    mean, low, high = (float(row[c]) for c in ("mean", "hdi_low", "hdi_high"))
    if not np.isfinite(mean):
        return ""
    if not (np.isfinite(low) and np.isfinite(high)) or low == high:
        return f"{mean:.{digits}f}"  # a fixed value has no interval
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _is_zero_fixed(row: pd.Series) -> bool:
    """A row fixed at zero (a phantom's residual variance, say): nothing to draw."""
    free = bool(row.get("free", True))
    value = row.get("value", np.nan)
    return (not free) and value is not None and np.isfinite(value) and float(value) == 0.0


def _hidden_note(name: str, roles: _Roles) -> str:
    inds = roles.indicators.get(name, [])
    dims = [y for y in inds if y in roles.dimensions]
    if dims:
        return f"{name}\n({len(dims)} dimension{'s' if len(dims) != 1 else ''})"
    return f"{name}\n({len(inds)} item{'s' if len(inds) != 1 else ''})" if inds else name


def diagram_from_table(
    partable: pd.DataFrame,
    estimates: pd.DataFrame,
    *,
    collapse: bool | None = None,
    title: str | None = None,
    caption: bool | str = True,
    hdi_prob: float = 0.9,
    digits: int = 2,
) -> graphviz.Digraph:
    """Draw the path diagram of a single-block parameter table with the given estimates.

    Parameters
    ----------
    partable : pandas.DataFrame
        Columns ``lhs, op, rhs`` (and ``free``, ``value`` to skip rows fixed at zero).
    estimates : pandas.DataFrame
        One row per table row, in the same order: ``mean, hdi_low, hdi_high`` (a standardized
        summary, :func:`bayes_rent.results.standardized.standardized_summary`).
    collapse : bool, optional
        Draw only the top-level constructs and the structural paths among them. Default:
        collapsed when some latent is an indicator of another latent (a second-order model).
    title : str, optional
        First line of the diagram's label.
    caption : bool or str
        ``True``: a line saying what the numbers are; a string replaces it; ``False`` none.
    hdi_prob : float
        The HDI mass the estimates were summarized with (for the caption).
    digits : int
        Decimals of the printed numbers.

    Returns
    -------
    graphviz.Digraph
        Displays as SVG in Jupyter when Graphviz's ``dot`` is installed; ``.source`` is DOT.

    Examples
    --------
    >>> pt = pd.DataFrame({"lhs": ["f", "f", "y1", "y2", "f"], "op": ["=~", "=~", "~~", "~~", "~~"],
    ...                    "rhs": ["y1", "y2", "y1", "y2", "f"]})
    >>> est = pd.DataFrame({"mean": [0.8, 0.7, 0.36, 0.51, 1.0],
    ...                     "hdi_low": [0.7, 0.6, 0.2, 0.4, 1.0],
    ...                     "hdi_high": [0.9, 0.8, 0.5, 0.6, 1.0]})
    >>> g = diagram_from_table(pt, est, caption=False)
    >>> print(g.source)  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    digraph "path diagram" {
    ...
        f [label=f class=latent ordering=in shape=ellipse]
        y1 [label=y1 class=observed shape=box]
        ...
        y1 -> f [label="0.80 [0.70, 0.90]" class=loading dir=back tooltip="f =~ y1"]
    ...
    """
    pt = partable.reset_index(drop=True)
    est = estimates.reset_index(drop=True)
    if len(est) != len(pt):
        raise ValueError(f"{len(est)} estimates for {len(pt)} table rows")
    roles = _roles(pt)
    if collapse is None:
        collapse = bool(roles.dimensions)
    g = graphviz.Digraph("path diagram", graph_attr=dict(_GRAPH_ATTR),
                         node_attr=dict(_NODE_ATTR), edge_attr=dict(_EDGE_ATTR))
    lines = [t for t in (title, _caption(caption, hdi_prob)) if t]
    if lines:
        g.attr(label="\n".join(lines), labelloc="t")

    if collapse:
        top = [f for f in roles.latent if f not in roles.dimensions]
        # observed variables of the structural model (covariates, say) stay in the picture
        observed = [v for v in roles.observed if v in roles.structural]
        shown = set(top) | set(observed)
    else:
        top = list(roles.latent)
        observed = list(roles.observed)
        shown = set(top) | set(observed)
    # an exogenous construct has its items on the left (written as reversed edges)
    exogenous = {f for f in top if f not in roles.endogenous}
    outer: dict[str, bool] = {}
    for f in roles.latent:
        for y in roles.indicators[f]:
            outer[y] = f in exogenous or outer.get(f, False)

    for f in top:
        label = _hidden_note(f, roles) if collapse else f
        # keep the items in the table's order: an outer construct's items arrive as in-edges
        order = {} if collapse else {"ordering": "in" if outer.get(
            roles.indicators[f][0] if roles.indicators[f] else "", False) else "out"}
        g.node(f, label=label, shape="ellipse", **order, **{"class": "latent"})
    for v in observed:
        g.node(v, label=v, shape="box", **{"class": "observed"})

    residual: dict[str, str] = {}
    counts = {"e": 0, "d": 0}
    for k, row in pt.iterrows():
        lhs, op, rhs = str(row["lhs"]), str(row["op"]), str(row["rhs"])
        if op != "~~" or lhs != rhs or lhs not in shown or lhs not in roles.endogenous:
            continue
        if _is_zero_fixed(row):
            continue
        prefix = "d" if lhs in roles.latent else "e"
        counts[prefix] += 1
        node = f"{prefix}{counts[prefix]}"
        while node in shown:  # a variable may be called e1 too
            node += "_"
        residual[lhs] = node
        g.node(node, label=node, **_RESIDUAL, **{"class": "residual"})
        attrs = {"label": _estimate_label(est.loc[k], digits), "class": "residual",
                 "tooltip": f"{lhs} ~~ {lhs}"}
        if lhs in roles.latent or (lhs in roles.structural and not outer.get(lhs, False)):
            # a disturbance sits next to its construct (same rank), not in the causal flow
            with g.subgraph() as s:
                s.attr(rank="same")
                s.node(lhs)
                s.node(node)
            g.edge(node, lhs, **attrs)
        elif outer.get(lhs, False):
            g.edge(node, lhs, **attrs)
        else:
            g.edge(lhs, node, dir="back", **attrs)

    for k, row in pt.iterrows():
        lhs, op, rhs = str(row["lhs"]), str(row["op"]), str(row["rhs"])
        if lhs not in shown or rhs not in shown:
            continue
        label = _estimate_label(est.loc[k], digits)
        tip = f"{lhs} {op} {rhs}"
        if op == "=~":
            if outer.get(rhs, False):
                g.edge(rhs, lhs, label=label, dir="back", tooltip=tip, **{"class": "loading"})
            else:
                g.edge(lhs, rhs, label=label, tooltip=tip, **{"class": "loading"})
        elif op in ("~", "<~"):
            kind = "regression" if op == "~" else "composite"
            g.edge(rhs, lhs, label=label, tooltip=tip, **{"class": kind})
        elif op == "~~" and lhs != rhs:
            a, b = residual.get(lhs, lhs), residual.get(rhs, rhs)
            g.edge(a, b, label=label, dir="both", constraint="false", tooltip=tip,
                   **{"class": "covariance"})
    return g


def _caption(caption: bool | str, hdi_prob: float) -> str:
    if caption is True:
        return (f"standardized estimates (std.all): posterior mean "
                f"[{100 * hdi_prob:g}% HDI]")
    return caption or ""


def path_diagram(
    fit: FittedModel,
    *,
    collapse: bool | None = None,
    hdi_prob: float = 0.9,
    title: str | None = None,
    caption: bool | str = True,
    digits: int = 2,
) -> graphviz.Digraph:
    """The path diagram of a fit, annotated with standardized posterior means and HDIs.

    Parameters
    ----------
    fit : FittedModel
        A single-block fit (one group, one level). For a multi-group or two-level fit, use
        ``fit.plot_diagram(block=...)``: each block has its own diagram.
    collapse : bool, optional
        ``None`` (default): collapse second-order models to their top-level constructs and
        structural paths, draw first-order models with their items. ``True`` / ``False``
        force either view.
    hdi_prob : float
        Mass of the highest-density intervals in the labels.
    title : str, optional
        A title above the diagram.
    caption : bool or str
        ``True`` states what the numbers are; a string replaces that line; ``False`` drops it.
    digits : int
        Decimals of the printed numbers.

    Returns
    -------
    graphviz.Digraph
        ``.source`` is the DOT text; in Jupyter it displays as SVG (needs Graphviz's ``dot``).
        :func:`write_diagram` saves it.

    Raises
    ------
    ValueError
        For a fit with several groups or levels.

    Examples
    --------
    >>> g = path_diagram(fit, title="Political democracy")  # doctest: +SKIP
    >>> write_diagram(g, "figures/political_democracy")  # doctest: +SKIP
    {'dot': PosixPath('figures/political_democracy.dot'), 'svg': ...}
    """
    pt = fit.partable
    _check_one_block(pt, "diagram")
    std = standardized_summary(fit.matrices, pt, fit.parameter_draws, kind="std_all",
                               hdi_prob=hdi_prob)
    return diagram_from_table(pt, std, collapse=collapse, title=title, caption=caption,
                              hdi_prob=hdi_prob, digits=digits)


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` executable is on the PATH (needed for SVG, not for DOT)."""
    return shutil.which("dot") is not None


def write_diagram(
    diagram: graphviz.Digraph, path_stem: str | Path, formats: Sequence[str] = ("svg",)
) -> dict[str, Path]:
    """Write a diagram's DOT source, and its renderings when Graphviz's ``dot`` is installed.

    Parameters
    ----------
    diagram : graphviz.Digraph
        From :func:`path_diagram`.
    path_stem : str or pathlib.Path
        Path without suffix: ``figures/model`` writes ``figures/model.dot``,
        ``figures/model.svg``. Missing folders are created.
    formats : sequence of str
        Graphviz output formats rendered besides the DOT source (``"svg"``, ``"png"``,
        ``"pdf"``); skipped without ``dot``.

    Returns
    -------
    dict
        ``{"dot": path, "svg": path, ...}``: the files written. Without ``dot`` only ``"dot"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> g = graphviz.Digraph()
    >>> g.edge("ind60", "dem60")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = write_diagram(g, pathlib.Path(folder) / "model")
    ...     print(out["dot"].name, out["dot"].read_text().splitlines()[1].strip())
    model.dot ind60 -> dem60
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # the suffix is appended, not substituted: a stem may hold dots ("model.v2")
    written = {"dot": stem.parent / f"{stem.name}.dot"}
    written["dot"].write_text(diagram.source, encoding="utf-8")
    if not dot_available():
        return written
    for fmt in _unique(formats):
        try:
            data = diagram.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            # found by which() but not runnable: the DOT source is still there
            break
        path = stem.parent / f"{stem.name}.{fmt}"
        path.write_bytes(data)
        written[fmt] = path
    return written


def _unique(items: Iterable[str]) -> list[str]:
    return [f for f in dict.fromkeys(items) if f != "dot"]
