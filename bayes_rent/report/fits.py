"""Report sections built from fits: tables, forest and trace plots, path diagrams.

The plots and diagrams come from :mod:`bayes_rent.results.plots` and
:mod:`bayes_rent.results.diagram`; this module only places them in a report.

Examples
--------
>>> import pandas as pd
>>> construct_names(pd.DataFrame({"lhs": ["F", "G", "G"], "op": ["=~", "=~", "~"],
...                               "rhs": ["x1", "y1", "F"]}))
['F', 'G']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from bayes_rent.report.document import Figure, Note, Section, Table, slug

__all__ = [
    "construct_names",
    "convergence_table",
    "diagram_figure",
    "fit_section",
    "forest_figure",
    "svg_inline",
    "trace_figure",
]

_XML_HEAD = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def construct_names(partable: pd.DataFrame) -> list[str]:
    """Latent variables of a model that are not only first-order factors of another construct.

    These are the constructs the structural model (and its effects) speak of: in the book's
    models ``RE``, ``KR``, ``IG``..., not their dimensions ``re_trust``...
    """
    latent = list(dict.fromkeys(partable.loc[partable["op"] == "=~", "lhs"]))
    nested = set(partable.loc[(partable["op"] == "=~") & partable["rhs"].isin(latent), "rhs"])
    return [name for name in latent if name not in nested]


def svg_inline(svg: str) -> str:
    """SVG text ready to sit inside HTML: XML declaration, DOCTYPE and comments dropped.

    Examples
    --------
    >>> svg_inline('<?xml version="1.0"?>\\n<!DOCTYPE svg PUBLIC "x" "y">\\n<svg></svg>')
    '<svg></svg>'
    """
    return _COMMENT.sub("", _XML_HEAD.sub("", svg, count=1)).strip()


def _placeholder(title: str, what: str) -> Note:
    return Note(f"{title}: not drawn — {what}", kind="warning")


def diagram_figure(name: str, fit: Any, *, title: str | None = None,
                   hdi_prob: float = 0.9) -> tuple[Figure | Note, Any]:
    """The path diagram of a fit as inline SVG, and the ``graphviz.Digraph`` behind it.

    Returns a :class:`Note` instead of a figure (and ``None``) when the diagram cannot be
    drawn: the SVG needs Graphviz's ``dot`` program.
    """
    try:
        from bayes_rent.results.diagram import path_diagram
    except ImportError:
        return _placeholder("Path diagram", "bayes_rent.results.diagram is not available"), None
    diagram = path_diagram(fit, hdi_prob=hdi_prob, title=title or name)
    try:
        svg = diagram.pipe(format="svg", encoding="utf-8")
    except Exception as err:  # graphviz.ExecutableNotFound, or dot failing on the graph
        note = _placeholder("Path diagram", f"Graphviz could not render it ({err}); the DOT "
                            f"source is in diagrams/{slug(name)}.dot")
        return note, diagram
    figure = Figure(f"diagram-{slug(name)}", f"Path diagram: {title or name}",
                    svg=svg_inline(svg), css_class="diagram",
                    note=f"Posterior means with {hdi_prob:.0%} HDIs.")
    return figure, diagram


def forest_figure(fit: Any, kind: str, title: str, *, hdi_prob: float = 0.9) -> Figure | Note:
    """A forest plot (``kind`` ``"paths"``, ``"effects"`` or ``"loadings"``) as a PNG figure."""
    try:
        from bayes_rent.results.plots import plot_forest
    except ImportError:
        return _placeholder(title, "bayes_rent.results.plots is not available")
    try:
        fig = plot_forest(fit, kind=kind, hdi_prob=hdi_prob)
    except ValueError as err:  # nothing of this kind in the model (no := in a CFA, say)
        return Note(f"{title}: {err}")
    return Figure.from_matplotlib(f"forest-{kind}", title, fig,
                                  note=f"Posterior means and {hdi_prob:.0%} HDIs.")


def trace_figure(fit: Any, *, worst: int = 4, kind: str = "rank") -> Figure | Note:
    """Rank (or trace) plots of the ``worst`` parameters by R-hat and ESS, as a PNG figure."""
    title = f"{'Rank' if kind == 'rank' else 'Trace'} plots of the {worst} worst parameters"
    try:
        from bayes_rent.results.plots import plot_trace
    except ImportError:
        return _placeholder(title, "bayes_rent.results.plots is not available")
    fig = plot_trace(fit, worst=worst, kind=kind)
    return Figure.from_matplotlib(f"{kind}-worst", title, fig,
                                  note="Chains that mix well give flat, overlapping rank "
                                       "histograms.")


def convergence_table(fits: dict[str, Any]) -> pd.DataFrame:
    """One row per fit: chains × draws, max R-hat, min bulk ESS, divergences, verdict.

    Examples
    --------
    >>> convergence_table({}).columns.tolist()[:3]
    ['model', 'chains', 'draws']
    """
    rows = []
    for name, fit in fits.items():
        report = fit.convergence
        posterior = fit.idata.posterior
        rows.append({
            "model": name, "chains": posterior.sizes["chain"], "draws": posterior.sizes["draw"],
            "max_r_hat": report.max_r_hat, "min_ess_bulk": report.min_ess_bulk,
            "divergences": report.divergences,
            "converged": "yes" if report.converged else "NO",
        })
    columns = ["model", "chains", "draws", "max_r_hat", "min_ess_bulk", "divergences",
               "converged"]
    return pd.DataFrame(rows, columns=columns)


def _between_constructs(effects: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    keep = effects["from"].isin(names) & effects["to"].isin(names)
    return effects.loc[keep].reset_index(drop=True)


def fit_section(name: str, fit: Any, *, section_id: str | None = None, title: str | None = None,
                intro: str = "", hdi_prob: float = 0.9,
                full_table: bool = True) -> tuple[Section, Any]:
    """A section for one fit, and its path diagram (``graphviz.Digraph``, or ``None``).

    The section holds the convergence verdict, the structural paths, the defined parameters,
    the direct, indirect and total effects between constructs, the path diagram, forest plots
    of paths and effects (of loadings for a model without paths), rank plots of the worst
    parameters and, folded, the whole parameter table.
    """
    summary = fit.summary(hdi_prob=hdi_prob)
    section = Section(section_id or slug(name), title or name, intro=intro)
    if not fit.convergence.converged:
        section.warnings.append(f"{name} did not converge. {fit.convergence.message()}")
    block = section.blocks
    block.append(Table("convergence", "Convergence", convergence_table({name: fit})))
    paths = summary.loc[summary["op"] == "~"].drop(columns=["free"], errors="ignore")
    if len(paths):
        block.append(Table("paths", "Structural paths (unstandardized)", paths))
        std = fit.standardized(hdi_prob=hdi_prob)
        std_paths = std.loc[std["op"] == "~"]
        block.append(Table("paths_std", "Structural paths (standardized, std.all)", std_paths))
        effects = _between_constructs(fit.effects(hdi_prob=hdi_prob),
                                      construct_names(summary))
        block.append(Table("effects", "Direct, indirect and total effects between constructs",
                           effects, note="p_direction: posterior probability that the effect "
                                         "has the sign of its posterior mean."))
    defined = fit.defined(hdi_prob=hdi_prob)
    if len(defined):
        block.append(Table("defined", "Defined parameters (:=)", defined))
    figure, diagram = diagram_figure(name, fit, title=title or name, hdi_prob=hdi_prob)
    block.append(figure)
    if len(paths):
        block.append(forest_figure(fit, "paths", "Forest plot: structural paths",
                                   hdi_prob=hdi_prob))
        block.append(forest_figure(fit, "effects", "Forest plot: effects",
                                   hdi_prob=hdi_prob))
    else:
        block.append(forest_figure(fit, "loadings", "Forest plot: loadings",
                                   hdi_prob=hdi_prob))
    block.append(trace_figure(fit))
    if full_table:
        block.append(Table("parameters", "All parameters", summary, collapsed=True))
    return section, diagram
