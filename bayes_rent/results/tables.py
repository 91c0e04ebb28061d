"""APA-style export of result tables: formatted frames, Markdown, LaTeX and CSV.

Every result table of bayes-rent (parameter summaries, the standardized solution, effects, R²,
reliability, validity) is a plain pandas DataFrame whose ``attrs`` say what it is (``kind``,
``hdi_prob``, thresholds). :func:`to_apa` turns such a table into strings the way APA style
(7th ed.) asks for:

* numbers rounded to ``digits`` decimals, probabilities to ``p_digits`` (a probability that
  is not exactly 0 or 1 is never shown as one: ``< .001``, ``> .999``);
* no leading zero for values that cannot exceed 1 in absolute value (correlations,
  standardized loadings and paths, R², reliabilities, AVE, probabilities): ``.87``, ``-.12``;
  a column keeps its leading zeros whenever one of its values does exceed 1 (a standardized
  path can), since the rule then no longer applies;
* each pair ``*hdi_low`` / ``*hdi_high`` becomes one column ``"90% HDI [LL, UL]"`` with cells
  ``[.12, .45]``;
* readable column headers (``Estimate``, ``SD``, ``pd``, ``CR``, ``AVE``, ``P(CR ≥ .70)``, ...);
* missing values as an em dash.

The writers need no extra dependency: pandas' own ``to_markdown`` needs *tabulate* and its
``Styler.to_latex`` needs *jinja2*, neither of which bayes-rent requires, so the Markdown pipe
table and the booktabs LaTeX table are written here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["to_apa", "to_csv", "to_latex", "to_markdown"]

KINDS = ("parameters", "standardized", "effects", "r2", "defined", "reliability", "validity")

MISSING = "\u2014"  # em dash

# Columns whose values are bounded by 1 in absolute value, by kind of table.
_BOUNDED_BY_KIND: dict[str, tuple[str, ...]] = {
    "standardized": ("mean", "est", "std_all", "std_lv", "std.all", "std.lv"),
    "r2": ("mean", "r2"),
    "reliability": ("alpha", "composite_reliability", "ave"),
    "validity": ("correlation",),
}

_LABELS = {
    "mean": "Estimate",
    "est": "Estimate",
    "sd": "SD",
    "r_hat": "R-hat",
    "ess_bulk": "ESS",
    "p_direction": "pd",
    "p_rope": "P(ROPE)",
    "from": "From",
    "to": "To",
    "kind": "Effect",
    "via": "Via",
    "construct": "Construct",
    "level": "Level",
    "n_indicators": "k",
    "alpha": "\u03b1",
    "composite_reliability": "CR",
    "ave": "AVE",
    "construct_1": "Construct 1",
    "construct_2": "Construct 2",
    "correlation": "r",
    "htmt": "HTMT",
    "htmt_classical": "HTMT (data)",
    "p_fornell_larcker": "P(F\u2013L holds)",
    "variable": "Variable",
    "r2": "R\u00b2",
    "defined": "Parameter",
}

_INTEGER_COLUMNS = ("n_indicators", "ess_bulk", "ess_tail", "n", "id", "group")


def _is_p_column(name: str) -> bool:
    return name in ("p", "pvalue", "p_value") or name.startswith("p_")


def _apa_number(value: float, digits: int, drop_zero: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # no "-0.00"
    if drop_zero:
        text = re.sub(r"^(-?)0\.", r"\1.", text)
    return text


def _apa_probability(value: float, digits: int) -> str:
    """A probability without leading zero; never rounded onto 0 or 1 when it is not."""
    step = 10.0**-digits
    if 0 < value < step / 2:
        return "< " + _apa_number(step, digits, True)
    if 1 - step / 2 <= value < 1:
        return "> " + _apa_number(1 - step, digits, True)
    return _apa_number(value, digits, True)


def _threshold_label(value: float) -> str:
    return _apa_number(float(value), 2, drop_zero=abs(float(value)) <= 1)


def _pct(hdi_prob: float) -> str:
    return f"{100 * hdi_prob:g}"


def _fits_bound(values: Iterable[pd.Series]) -> bool:
    for v in values:
        x = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if x.size and np.abs(x).max() > 1:
            return False
    return True


def _column_label(name: str, attrs: dict) -> str:
    if name == "p_cr":
        return f"P(CR \u2265 {_threshold_label(attrs.get('cr_threshold', 0.7))})"
    if name == "p_ave":
        return f"P(AVE \u2265 {_threshold_label(attrs.get('ave_threshold', 0.5))})"
    if name == "p_htmt":
        return f"P(HTMT < {_threshold_label(attrs.get('htmt_threshold', 0.85))})"
    return _LABELS.get(name, name)


def to_apa(
    df: pd.DataFrame,
    kind: str | None = None,
    digits: int = 2,
    *,
    p_digits: int = 3,
    hdi_prob: float | None = None,
    bounded: Iterable[str] = (),
    rename: bool = True,
) -> pd.DataFrame:
    """Format a result table in APA style (all cells become strings).

    Parameters
    ----------
    df : pandas.DataFrame
        Any result table of bayes-rent (or any frame with similar columns).
    kind : str, optional
        One of ``parameters, standardized, effects, r2, defined, reliability, validity``; read
        from ``df.attrs["kind"]`` when omitted. It decides which columns are bounded by 1.
    digits : int
        Decimals for estimates and intervals.
    p_digits : int
        Decimals for probabilities (columns ``p_*``).
    hdi_prob : float, optional
        Interval mass for the header; default ``df.attrs["hdi_prob"]`` or 0.9.
    bounded : iterable of str
        More columns to treat as bounded by 1 (no leading zero).
    rename : bool
        Replace column names by readable headers.

    Returns
    -------
    pandas.DataFrame
        Formatted strings; ``attrs`` keep the input's and add ``apa=True``.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"from": ["X"], "to": ["Y"], "kind": ["indirect"], "via": ["M"],
    ...                     "mean": [0.2012], "sd": [0.05], "hdi_low": [0.118],
    ...                     "hdi_high": [0.29], "p_direction": [0.9995]})
    >>> tab.attrs["kind"] = "effects"
    >>> to_apa(tab).iloc[0].tolist()
    ['X', 'Y', 'indirect', 'M', '0.20', '0.05', '[0.12, 0.29]', '> .999']
    >>> list(to_apa(tab).columns)[-2:]
    ['90% HDI [LL, UL]', 'pd']
    """
    attrs = dict(df.attrs)
    kind = kind if kind is not None else attrs.get("kind")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    prob = hdi_prob if hdi_prob is not None else attrs.get("hdi_prob", 0.9)
    bounded_bases = set(_BOUNDED_BY_KIND.get(kind or "", ())) | set(bounded)
    if kind == "effects" and attrs.get("standardized"):
        bounded_bases.add("mean")
    if "mean" in bounded_bases:
        bounded_bases.add("sd")  # the SD of a quantity bounded by 1 is bounded by 1

    # interval pairs: prefix -> (low column, high column)
    pairs: dict[str, tuple[str, str]] = {}
    for col in df.columns:
        if isinstance(col, str) and col.endswith("hdi_low"):
            prefix = col[: -len("hdi_low")]
            if prefix + "hdi_high" in df.columns:
                pairs[prefix] = (col, prefix + "hdi_high")

    def base_of(col: str) -> str:
        for suffix in ("_hdi_low", "_hdi_high", "hdi_low", "hdi_high", "_sd"):
            if col.endswith(suffix):
                return col[: -len(suffix)] or "mean"
        return col

    out = pd.DataFrame(index=df.index)
    labels: dict[str, str] = {}
    skip = {hi for _, hi in pairs.values()}
    for col in df.columns:
        if col in skip:
            continue
        series = df[col]
        if isinstance(col, str) and col.endswith("hdi_low") and col[: -len("hdi_low")] in pairs:
            prefix = col[: -len("hdi_low")]
            lo, hi = pairs[prefix]
            base = base_of(lo)
            group = [df[lo], df[hi]] + ([df[base]] if base in df.columns else [])
            drop = (base in bounded_bases) and _fits_bound(group)
            cells = [
                MISSING
                if math.isnan(a) or math.isnan(b)
                else f"[{_apa_number(a, digits, drop)}, {_apa_number(b, digits, drop)}]"
                for a, b in zip(df[lo].astype(float), df[hi].astype(float), strict=True)
            ]
            name = f"{prefix}hdi"
            out[name] = cells
            head = f"{_pct(prob)}% HDI [LL, UL]"
            stem = prefix.rstrip("_")
            labels[name] = f"{_column_label(stem, attrs)} {head}" if stem else head
            continue
        name = str(col)
        labels[name] = _column_label(name, attrs)
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            out[name] = series.astype(object).where(series.notna(), MISSING).astype(str)
            continue
        values = series.astype(float)
        if name in _INTEGER_COLUMNS:
            out[name] = [MISSING if math.isnan(v) else f"{v:.0f}" for v in values]
        elif _is_p_column(name):
            out[name] = [_apa_probability(v, p_digits) for v in values]
        else:
            base = base_of(name)
            lo_hi = [df[c] for c in pairs.get("" if base == "mean" else f"{base}_", ())]
            drop = base in bounded_bases and _fits_bound([series, *lo_hi])
            out[name] = [_apa_number(v, digits, drop) for v in values]
    if rename:
        out = out.rename(columns=labels)
    out.attrs.update(attrs)
    out.attrs["apa"] = True
    return out


def _prepare(df: pd.DataFrame, apa: bool, apa_kwargs: dict) -> pd.DataFrame:
    if apa and not df.attrs.get("apa"):
        return to_apa(df, **apa_kwargs)
    return df


def _write(text: str, path: str | Path | None) -> str:
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _looks_numeric(cells: list[str]) -> bool:
    pattern = re.compile(r"^(\u2014|-?\d*\.?\d+|\[.*\])$")
    return bool(cells) and all(pattern.match(c) for c in cells)


def to_markdown(
    df: pd.DataFrame, path: str | Path | None = None, *, apa: bool = True, **apa_kwargs
) -> str:
    """A Markdown (pipe) table of a result table.

    Parameters
    ----------
    df : pandas.DataFrame
        A result table (formatted with :func:`to_apa` first unless ``apa=False`` or it already
        is).
    path : str or pathlib.Path, optional
        Also write the text there (UTF-8).
    apa : bool
        Apply :func:`to_apa`.
    **apa_kwargs
        Passed to :func:`to_apa` (``kind``, ``digits``, ...).

    Returns
    -------
    str
        The table; numeric columns are right-aligned.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"variable": ["y"], "mean": [0.25], "hdi_low": [0.1],
    ...                     "hdi_high": [0.4]})
    >>> tab.attrs["kind"] = "r2"
    >>> print(to_markdown(tab))
    | Variable | Estimate | 90% HDI [LL, UL] |
    |:--|--:|--:|
    | y | .25 | [.10, .40] |
    """
    tab = _prepare(df, apa, apa_kwargs)
    cells = tab.astype(str).map(lambda s: s.replace("|", "\\|"))
    header = [str(c).replace("|", "\\|") for c in tab.columns]
    align = ["--:" if _looks_numeric(cells[c].tolist()) else ":--" for c in cells.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return _write("\n".join(lines), path)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
    "\u03b1": r"$\alpha$",
    "\u03c9": r"$\omega$",
    "\u2265": r"$\geq$",
    "\u2264": r"$\leq$",
    "\u2014": "---",
    "\u2013": "--",
    "\u2212": "$-$",
    "\u00b2": r"\textsuperscript{2}",
}


def _latex_escape(text: str) -> str:
    text = text.replace("->", "\u2192")
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("\u2192", r"$\rightarrow$")


def to_latex(
    df: pd.DataFrame, path: str | Path | None = None, *, apa: bool = True,
    caption: str | None = None, label: str | None = None, note: str | None = None,
    **apa_kwargs,
) -> str:
    """A booktabs LaTeX table of a result table.

    Parameters
    ----------
    df, path, apa, **apa_kwargs
        As for :func:`to_markdown`.
    caption, label : str, optional
        With either, the tabular is wrapped in a ``table`` float with ``\\caption`` and
        ``\\label``.
    note : str, optional
        An APA table note under the table (``\\textit{Note.} ...``), escaped like the cells.

    Returns
    -------
    str
        LaTeX source; needs ``\\usepackage{booktabs}``. Special characters are escaped and
        the Greek letters and relations of the headers are typeset in math mode.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"construct": ["KR"], "alpha": [0.81], "composite_reliability":
    ...                     [0.84], "ave": [0.57]})
    >>> tab.attrs["kind"] = "reliability"
    >>> print(to_latex(tab))
    \\begin{tabular}{lrrr}
    \\toprule
    Construct & $\\alpha$ & CR & AVE \\\\
    \\midrule
    KR & .81 & .84 & .57 \\\\
    \\bottomrule
    \\end{tabular}
    """
    tab = _prepare(df, apa, apa_kwargs)
    cells = tab.astype(str)
    spec = "".join("r" if _looks_numeric(cells[c].tolist()) else "l" for c in cells.columns)
    body = [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in tab.columns) + r" \\",
        r"\midrule",
    ]
    body += [
        " & ".join(_latex_escape(v) for v in row) + r" \\"
        for row in cells.itertuples(index=False)
    ]
    body += [r"\bottomrule", r"\end{tabular}"]
    if note:
        body.append(r"\par\smallskip{\footnotesize\textit{Note.} " + _latex_escape(note) + "}")
    if caption is not None or label is not None:
        head = [r"\begin{table}[htbp]", r"\centering"]
        if caption is not None:
            head.append(rf"\caption{{{_latex_escape(caption)}}}")
        if label is not None:
            head.append(rf"\label{{{label}}}")
        body = head + body + [r"\end{table}"]
    return _write("\n".join(body), path)


def to_csv(
    df: pd.DataFrame, path: str | Path | None = None, *, apa: bool = True, **apa_kwargs
) -> str:
    """CSV text of a result table (APA-formatted strings, or raw numbers with ``apa=False``).

    Parameters
    ----------
    df, path, **apa_kwargs
        As for :func:`to_markdown`.
    apa : bool
        Apply :func:`to_apa` first; ``False`` writes the numbers at full precision.

    Returns
    -------
    str
        The CSV text (no index).

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"variable": ["y"], "mean": [0.25]})
    >>> tab.attrs["kind"] = "r2"
    >>> print(to_csv(tab), end="")
    Variable,Estimate
    y,.25
    """
    tab = _prepare(df, apa, apa_kwargs)
    return _write(tab.to_csv(index=False, lineterminator="\n"), path)
