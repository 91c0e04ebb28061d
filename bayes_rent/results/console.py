"""The console report of a fit: a header, then lavaan's ``summary()`` sections.

:func:`console_report` writes what ``bayes-rent fit`` prints and what ``fit.report()`` returns
in a notebook, so both read the same. It reads the fit only through its public face
(``summary()``, ``standardized()``, ``defined()``, ``fit_indices()``, ``convergence``,
``settings``, ``idata``, ``moments``...), so it serves :class:`~bayes_rent.Fit`,
``GroupFit`` (one block per group, its ``group`` column) and ``TwoLevelFit`` (one block per
level, its ``level`` column) alike without importing them.

The sections and their order are lavaan's: Latent Variables, Regressions, Covariances,
Intercepts, Thresholds, Variances, then Defined Parameters. Loadings, regressions and
covariances are bundled under their left-hand side (``ind60 =~`` then ``x1``, ``x2``...), and a
variable whose (co)variance or intercept is a residual one carries lavaan's leading dot.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from bayes_rent.results.diagnostics import ESS_MIN, RHAT_MAX

__all__ = ["SECTIONS", "console_report"]

#: lavaan's group-level sections, in lavaan's order, with the rows each one holds.
SECTIONS: tuple[tuple[str, Callable[[pd.DataFrame], pd.Series]], ...] = (
    ("Latent Variables", lambda t: t["op"] == "=~"),
    ("Regressions", lambda t: t["op"] == "~"),
    ("Covariances", lambda t: (t["op"] == "~~") & (t["lhs"] != t["rhs"])),
    ("Intercepts", lambda t: t["op"] == "~1"),
    ("Thresholds", lambda t: t["op"] == "|"),
    ("Variances", lambda t: (t["op"] == "~~") & (t["lhs"] == t["rhs"])),
)
# lavaan prints these under their left-hand side ("ind60 =~", then one indented row per rhs)
_BUNDLED = {"Latent Variables", "Regressions", "Covariances"}
_LEVEL_NAMES = {1: "within", 2: "between"}
_WIDTHS = {"mean": 9, "sd": 8, "hdi_low": 8, "hdi_high": 8, "r_hat": 7, "ess_bulk": 7,
           "std_all": 9}


def console_report(
    fit: Any,
    *,
    all_rows: bool = False,
    std: bool = False,
    hdi_prob: float = 0.9,
    fit_indices: bool | pd.DataFrame = False,
    title: str | None = None,
) -> str:
    """The fit as lavaan's ``summary()`` prints it: header, then one section per kind of row.

    Parameters
    ----------
    fit : Fit, GroupFit or TwoLevelFit
        Any object with the public methods of :class:`bayes_rent.Fit`.
    all_rows : bool
        Show the rows fixed at zero (latent intercepts, fixed covariances) too; rows fixed at
        another value (marker loadings) are always shown, as in lavaan.
    std : bool
        Add lavaan's ``Std.all`` column (posterior mean of the standardized solution).
    hdi_prob : float
        Mass of the highest-density intervals.
    fit_indices : bool or pandas.DataFrame
        ``True`` adds PPP and BRMSEA to the header by ``fit.fit_indices(incremental=False)``
        (replicated data for every draw, but no null model); a table from
        ``fit.fit_indices()`` is used as it is. ``False`` (default) leaves them out: they
        cost a replicate data set per draw, too slow for every print of a large model.
    title : str, optional
        First line, e.g. the model file and data set.

    Returns
    -------
    str

    Examples
    --------
    >>> import bayes_rent as br
    >>> fit = br.sem("f =~ x1 + x2 + x3", br.datasets.holzinger_swineford(),
    ...              draws=200, tune=200, chains=2, seed=1)  # doctest: +SKIP
    >>> print(console_report(fit, std=True))  # doctest: +SKIP
    """
    full = fit.summary(hdi_prob=hdi_prob)
    table = full
    notes: list[str] = []
    if std:
        table = _with_std(fit, table, hdi_prob, notes)
    if not all_rows:
        table = table.loc[~_fixed_zero(table)]
    defined = fit.defined(hdi_prob=hdi_prob)
    width = _name_width(table, defined)
    lines = _header(fit, full, hdi_prob, fit_indices, title)
    lines += [f"  {n}" for n in notes]
    block_col = next((c for c in ("group", "level") if c in table.columns), None)
    blocks = [(None, table)] if block_col is None else list(table.groupby(block_col, sort=False))
    for key, rows in blocks:
        if block_col is not None:
            lines += ["", "", _block_title(block_col, key, blocks)]
        lines += _block_lines(rows, width, hdi_prob, std)
    if len(defined):
        lines += ["", "Defined Parameters:", _column_header(width, hdi_prob, std)]
        for _, row in defined.iterrows():
            lines.append(_row_line(f"    {row['name']}", row, width, std))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- rows
def _with_std(fit: Any, table: pd.DataFrame, hdi_prob: float, notes: list[str]) -> pd.DataFrame:
    """The table with a ``std_all`` column: the posterior mean of the standardized row."""
    try:
        std = fit.standardized(kind="std_all", hdi_prob=hdi_prob)
    except NotImplementedError as err:
        # e.g. two-level fits: say so in the header instead of failing the whole report
        notes.append(f"Std.all not shown: {str(err).splitlines()[0]}")
        return table
    keys = [c for c in ("lhs", "op", "rhs", "group", "level") if c in table and c in std]
    std = std[keys + ["mean"]].drop_duplicates(keys).rename(columns={"mean": "std_all"})
    return table.merge(std, on=keys, how="left")


def _fixed_zero(table: pd.DataFrame) -> pd.Series:
    """Rows fixed at 0: lavaan's summary() does not print them."""
    fixed = ~table["free"].astype(bool)
    return fixed & (table["mean"].abs() < 1e-12) & (table["sd"].fillna(0) < 1e-12)


def _residuals(rows: pd.DataFrame) -> set[str]:
    """Variables with a residual (co)variance and intercept: indicators and dependents."""
    return set(rows.loc[rows["op"] == "=~", "rhs"]) | set(rows.loc[rows["op"] == "~", "lhs"])


def _labelled(name: str, label: Any, width: int) -> str:
    """The name, with lavaan's ``(label)`` at the right end of the name column."""
    label = "" if not isinstance(label, str) or not label else f" ({label})"
    return f"{name:<{width - len(label)}}{label}"


def _section_rows(title: str, rows: pd.DataFrame, resid: set[str], width: int,
                  std: bool) -> list[str]:
    """Printed lines of one section: bundled under the lhs, or one line per row."""
    def dot(v: str) -> str:
        return f".{v}" if v in resid else f" {v}"

    out: list[str] = []
    last = None
    for _, row in rows.iterrows():
        lhs, op, rhs = str(row["lhs"]), str(row["op"]), str(row["rhs"])
        if title in _BUNDLED:
            if (lhs, op) != last:
                head = dot(lhs) if title == "Covariances" else f" {lhs}"
                out.append(f" {head} {op}")
                last = (lhs, op)
            name = dot(rhs) if title == "Covariances" else f" {rhs}"
        elif title == "Thresholds":
            name = f" {lhs}|{rhs}"
        else:
            name = dot(lhs)
        out.append(_row_line("   " + _labelled(name, row.get("label"), width - 3), row, width,
                             std))
    return out


def _block_lines(rows: pd.DataFrame, width: int, hdi_prob: float, std: bool) -> list[str]:
    """All sections of one group or level."""
    resid = _residuals(rows)
    out: list[str] = []
    for title, select in SECTIONS:
        part = rows.loc[select(rows)]
        if len(part):
            out += ["", f"{title}:", _column_header(width, hdi_prob, std)]
            out += _section_rows(title, part, resid, width, std)
    return out


def _block_title(column: str, key: Any, blocks: list) -> str:
    """lavaan's ``Group 1 [name]:`` or ``Level 1 [within]:``."""
    number = [k for k, _ in blocks].index(key) + 1
    if column == "level":
        return f"Level {int(key)} [{_LEVEL_NAMES.get(int(key), key)}]:"
    return f"Group {number} [{key}]:"


# ---------------------------------------------------------------------- columns
def _name_width(table: pd.DataFrame, defined: pd.DataFrame) -> int:
    """Width of the name column: lavaan's 18, or more for long names with their labels."""
    bundled = table["op"].isin(["=~", "~"]) | ((table["op"] == "~~")
                                               & (table["lhs"] != table["rhs"]))
    names = table["rhs"].where(bundled, table["lhs"]).astype(str)
    names = names.where(table["op"] != "|", table["lhs"].astype(str) + "|" + table["rhs"])
    labels = table["label"].fillna("").astype(str)
    # four characters of indent and dot, and " (label)" right-aligned after the name
    longest = [4 + len(n) + (len(lab) + 3 if lab else 0) for n, lab in zip(names, labels,
                                                                          strict=True)]
    longest += [4 + len(str(n)) for n in defined.get("name", [])]
    return max([18] + [n + 2 for n in longest])


def _column_header(width: int, hdi_prob: float, std: bool) -> str:
    """The column titles printed under every section title."""
    hdi = f"{hdi_prob:.0%} HDI"
    parts = [" " * width, f"{'Estimate':>{_WIDTHS['mean']}}", f"{'SD':>{_WIDTHS['sd']}}",
             f"{hdi:^{_WIDTHS['hdi_low'] + _WIDTHS['hdi_high']}}",
             f"{'R-hat':>{_WIDTHS['r_hat']}}", f"{'ESS':>{_WIDTHS['ess_bulk']}}"]
    if std:
        parts.append(f"{'Std.all':>{_WIDTHS['std_all']}}")
    return "".join(parts).rstrip()


def _cell(column: str, value: Any) -> str:
    """One number right-aligned in its column; blank when missing."""
    w = _WIDTHS[column]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return " " * w
    if column == "ess_bulk":
        return f"{value:>{w}.0f}"
    return f"{value:>{w}.3f}"


def _row_line(name: str, row: pd.Series, width: int, std: bool) -> str:
    """One parameter: its name, then estimate, SD, HDI, R-hat, ESS (and Std.all)."""
    # a fixed row shows its value only, as lavaan leaves Std.Err blank for fixed parameters
    fixed = not bool(row.get("free", True)) or (row.get("sd", 0) or 0) < 1e-12
    cols = ["mean"] if fixed else ["mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"]
    cells = [_cell(c, row.get(c) if c in cols else None) for c in list(_WIDTHS)[:6]]
    if std:
        cells.append(_cell("std_all", row.get("std_all")))
    return (f"{name:<{width}}" + "".join(cells)).rstrip()


# ---------------------------------------------------------------------- header
def _pair(key: str, value: Any) -> str:
    """A header line: key on the left, value right-aligned, as in lavaan's header."""
    return f"  {key:<34}{value!s:>30}"


def _header(fit: Any, table: pd.DataFrame, hdi_prob: float,
            fit_indices: bool | pd.DataFrame, title: str | None) -> list[str]:
    """The header: data, sampling, convergence and (when asked) PPP / BRMSEA."""
    post = fit.idata.posterior
    settings = getattr(fit, "settings", {}) or {}
    version = _version()
    lines = [f"bayes-rent {version}" + (f": {title}" if title else ""), ""]
    lines.append(_pair("Estimator", "Bayesian (MCMC)"))
    lines.append(_pair("Free parameters", _n_free(table)))
    lines += _sample_lines(fit)
    draws = f"{post.sizes['chain']} × {post.sizes['draw']}"
    if settings.get("tune") is not None:
        draws += f" (warm-up {settings['tune']})"
    lines.append(_pair("Chains × draws", draws))
    lines.append(_pair("Sampler", settings.get("sampler", getattr(fit, "sampler", "?"))))
    if settings.get("seed") is not None:
        lines.append(_pair("Seed", settings["seed"]))
    if settings.get("elapsed") is not None:
        lines.append(_pair("Time (fit)", f"{float(settings['elapsed']):.1f} s"))
    lines += _convergence_lines(fit.convergence)
    lines += _fit_index_lines(fit, fit_indices, hdi_prob, settings.get("seed"))
    return lines


def _version() -> str:
    """The installed version of bayes-rent."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayes-rent")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "(source)"


def _n_free(table: pd.DataFrame) -> int:
    """Distinct free parameters: rows sharing a label are one parameter (constrained equal)."""
    free = table.loc[table["free"].astype(bool)]
    labels = free["label"].fillna("").astype(str)
    return int((labels == "").sum() + labels[labels != ""].nunique())


def _sample_lines(fit: Any) -> list[str]:
    """N, and the groups or clusters the respondents fall in."""
    stats = getattr(fit, "statistics", None) or getattr(fit, "moments", None)
    lines = []
    if getattr(stats, "n_total", None) is not None:
        lines.append(_pair("Number of observations", int(stats.n_total)))
    if getattr(stats, "n_clusters", None) is not None:
        lines.append(_pair("Number of clusters", int(stats.n_clusters)))
    names = getattr(fit, "group_names", None)
    sizes = getattr(fit, "group_moments", None)
    if names and sizes:
        for name, m in zip(names, sizes, strict=True):
            lines.append(_pair(f"  group {name}", int(m.n_total)))
    return lines


def _convergence_lines(report: Any) -> list[str]:
    """The verdict of ``fit.convergence`` and the numbers behind it."""
    verdict = "converged" if report.converged else "NOT CONVERGED"
    lines = [_pair("Convergence", verdict)]
    detail = (f"max R-hat {report.max_r_hat:.3f} (<= {RHAT_MAX}), min bulk ESS "
              f"{report.min_ess_bulk:.0f} (>= {ESS_MIN}), {report.divergences} divergent")
    lines.append(f"    {detail}")
    if report.stuck_chains:
        lines.append(f"    chains apart from the others: {sorted(report.stuck_chains)}")
    if not report.converged:
        lines.append("    do not report these estimates; what to try:")
        lines += [f"      - {remedy}" for remedy in report.remedies()]
    return lines


def _fit_index_lines(fit: Any, fit_indices: bool | pd.DataFrame, hdi_prob: float,
                     seed: int | None) -> list[str]:
    """PPP and BRMSEA, when asked for (they replicate the data once per draw)."""
    if fit_indices is False or fit_indices is None:
        return [_pair("PPP / BRMSEA", "not computed"),
                "    ask with fit.report(fit_indices=True) or bayes-rent fit --fit-indices"]
    table = fit_indices
    if not isinstance(table, pd.DataFrame):
        try:
            table = fit.fit_indices(seed=seed, incremental=False, hdi_prob=hdi_prob)
        except (NotImplementedError, ValueError) as err:
            return [_pair("PPP / BRMSEA", "not available"), f"    {str(err).splitlines()[0]}"]
    lines = []
    if "ppp" in table.index and pd.notna(table.loc["ppp", "mean"]):
        lines.append(_pair("PPP (χ² discrepancy)", f"{table.loc['ppp', 'mean']:.3f}"))
    if "brmsea" in table.index and pd.notna(table.loc["brmsea", "mean"]):
        row = table.loc["brmsea"]
        lines.append(_pair(f"BRMSEA ({hdi_prob:.0%} HDI)", f"{row['mean']:.3f} "
                           f"[{row['hdi_low']:.3f}, {row['hdi_high']:.3f}]"))
    elif "brmsea" in table.index:
        lines.append(_pair("BRMSEA", "not defined for this likelihood"))
    return lines
