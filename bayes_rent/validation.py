"""Everything a fit request can get wrong, checked before anything is compiled.

:func:`validate_fit_request` is the first call of :meth:`bayes_rent.model.Model.fit`: compiling
a PyMC model takes minutes, so an argument, a data set or a model that cannot work is refused
first, with a message that names the argument, column, row or parameter and the remedy. Data
that can be used but look wrong (an undeclared missing-value code such as -99) give a
:class:`~bayes_rent.errors.DataWarning`; :func:`apply_missing_codes` turns declared codes into
missing values.

A Dask DataFrame (data larger than memory) is checked on its cluster without loading it
(:func:`validate_dask_data`), in the same pass that computes the sufficient statistics of the
fit; :func:`validate_fit_request` then returns those statistics for the fit to go on with.

Examples
--------
>>> import pandas as pd
>>> from bayes_rent.spec.partable import build_partable
>>> pt = build_partable("f =~ x1 + x2 + x3")
>>> data = pd.DataFrame({"x1": [1, 2, 3, 4, 2], "x2": [2, 3, 4, 5, 3], "x3": [1, 3, 3, 5, 4]})
>>> validate_fit_request(pt, data, draws=-5)
Traceback (most recent call last):
...
bayes_rent.errors.OptionError: draws must be a whole number >= 1, got -5
"""

from __future__ import annotations

import difflib
import numbers
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_rent.data.distributed import MAX_PATTERNS, DaskData, dask_statistics, is_dask_frame
from bayes_rent.data.distributed import suspicious_codes as dask_suspicious_codes
from bayes_rent.data.observed import check_data
from bayes_rent.errors import DataError, DataWarning, OptionError
from bayes_rent.spec.identification import check_identified
from bayes_rent.spec.partable import observed_variables

__all__ = [
    "SAMPLERS",
    "apply_missing_codes",
    "check_options",
    "suspicious_codes",
    "validate_dask_data",
    "validate_data",
    "validate_fit_request",
]

#: The NUTS implementations :func:`bayes_rent.sampling.run_sampler` knows (kept in step with
#: ``bayes_rent.sampling.SAMPLERS``; not imported from there so validating needs no PyMC).
SAMPLERS: tuple[str, ...] = ("nutpie", "pymc", "numpyro")

# Survey programs write "no answer" as runs of 9s or 8s (9, 99, -99, 999, 98, -8 ...).
_CODE_LIKE = re.compile(r"^-?(9+|9*8)$")
_MAX_LISTED = 5


def validate_fit_request(
    partable: pd.DataFrame,
    data: Any,
    *,
    draws: Any = None,
    tune: Any = None,
    chains: Any = None,
    seed: Any = None,
    target_accept: Any = None,
    sampler: Any = "nutpie",
    group: Any = None,
    cluster: Any = None,
    ordered: Any = None,
    hdi_prob: Any = None,
    pooling: Any = None,
    missing_codes: Iterable[float] = (),
    scale: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
) -> DaskData | None:
    """Check a fit request (arguments, data, model) before anything is compiled.

    Parameters
    ----------
    partable : pandas.DataFrame
        The model's parameter table.
    data : pandas.DataFrame
        The respondents' data.
    draws, tune, chains, seed, target_accept, sampler, group, cluster, ordered, pooling
        As for :meth:`bayes_rent.model.Model.fit`; ``None`` means "the default".
    hdi_prob : float, optional
        Probability mass of the credible intervals that will be reported.
    missing_codes : iterable of float
        Codes that mean "no answer"; they are not reported as suspicious.
    scale : (low, high) or mapping of column to (low, high), optional
        The answer scale of integer items; answers outside it are errors.

    Returns
    -------
    DaskData or None
        For a Dask DataFrame: its statistics, computed on the cluster in the pass that
        checked it (:func:`validate_dask_data`); the fit goes on with them in place of the
        rows. None for a pandas DataFrame.

    Raises
    ------
    bayes_rent.errors.OptionError
        For an argument that cannot work.
    bayes_rent.errors.DataError
        For data that cannot be used.
    bayes_rent.errors.IdentificationError
        For a model that cannot be identified.

    Warns
    -----
    bayes_rent.errors.DataWarning
        For a column holding a few values that look like missing-value codes.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.spec.partable import build_partable
    >>> pt = build_partable("f =~ x1 + x2 + x3")
    >>> d = pd.DataFrame({"x1": [1, 2, 3, 4], "x2": [2, 3, 5, 4], "x3": [1, 3, 4, 5]})
    >>> validate_fit_request(pt, d, draws=500, chains=2, seed=1)
    """
    check_options(draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
                  sampler=sampler, hdi_prob=hdi_prob, pooling=pooling)
    observed = observed_variables(partable)
    if is_dask_frame(data) or isinstance(data, DaskData):
        # refusals and the model's own checks first: they cost nothing, a pass over the
        # cluster's partitions does
        _refuse_for_dask(partable, ordered=ordered, cluster=cluster)
        check_identified(partable)
        return validate_dask_data(data, observed, group=group, cluster=cluster,
                                  ordered=ordered, missing_codes=missing_codes, scale=scale)
    validate_data(data, observed, group=group, cluster=cluster, ordered=ordered,
                  missing_codes=missing_codes, scale=scale)
    check_identified(partable)
    return None


def check_options(
    *,
    draws: Any = None,
    tune: Any = None,
    chains: Any = None,
    seed: Any = None,
    target_accept: Any = None,
    sampler: Any = None,
    hdi_prob: Any = None,
    pooling: Any = None,
) -> None:
    """Check the sampling arguments; ``None`` (the default) always passes.

    Raises
    ------
    bayes_rent.errors.OptionError
        Naming the argument, the value given and what is allowed.

    Examples
    --------
    >>> check_options(draws=1000, tune=0, chains=4, target_accept=0.9)
    >>> check_options(hdi_prob=7)
    Traceback (most recent call last):
    ...
    bayes_rent.errors.OptionError: hdi_prob must lie strictly between 0 and 1 (e.g. 0.9), got 7
    """
    _whole(draws, "draws", 1)
    _whole(tune, "tune", 0)
    _whole(chains, "chains", 1)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise OptionError(f"seed must be a whole number or None, got {seed!r}")
    if seed is not None and seed < 0:
        raise OptionError(f"seed must be >= 0 (NumPy refuses negative seeds), got {seed}")
    _probability(target_accept, "target_accept", "0.8; raise it to 0.95 against divergences")
    _probability(hdi_prob, "hdi_prob", "0.9")
    if sampler is not None and sampler not in SAMPLERS:
        raise OptionError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if pooling is not None and pooling not in ("none", "partial"):
        raise OptionError(f"pooling must be 'none' or 'partial', got {pooling!r}")


def _whole(value: Any, name: str, least: int) -> None:
    if value is None:
        return
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < least:
        raise OptionError(f"{name} must be a whole number >= {least}, got {value!r}")


def _probability(value: Any, name: str, example: str) -> None:
    if value is None:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value < 1
    if not ok:
        raise OptionError(
            f"{name} must lie strictly between 0 and 1 (e.g. {example}), got {value!r}"
        )


def validate_data(
    data: Any,
    variables: Sequence[str],
    *,
    group: Any = None,
    cluster: Any = None,
    ordered: Any = None,
    missing_codes: Iterable[float] = (),
    scale: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    source: str | None = None,
) -> None:
    """Check the data of a fit: shape, names, numbers, codes and scales.

    Parameters
    ----------
    data : pandas.DataFrame
        The respondents' data. A Dask DataFrame is checked on its cluster by
        :func:`validate_dask_data`.
    variables : sequence of str
        The model's observed variables.
    group, cluster, ordered, missing_codes, scale
        As for :func:`validate_fit_request`.
    source : str, optional
        How messages name the data; by default ``data.attrs["source"]`` (the file name that
        :func:`bayes_rent.data.survey.read_table` records) or ``"data"``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": [1.0, np.inf, 3.0, 2.0], "y": [2.0, 1.0, 3.0, 1.0]})
    >>> validate_data(d, ["x", "y"])
    Traceback (most recent call last):
    ...
    bayes_rent.errors.DataError: data: column 'x' holds infinite values at row(s) [1]; \
replace them by numbers or by NaN (missing)
    """
    if is_dask_frame(data) or isinstance(data, DaskData):
        validate_dask_data(data, variables, group=group, cluster=cluster, ordered=ordered,
                           missing_codes=missing_codes, scale=scale, source=source)
        return
    if source is None:
        source = str(getattr(data, "attrs", {}).get("source", "data"))
    if isinstance(data, Mapping):
        data = pd.DataFrame(data)  # Model.fit accepts a mapping of columns too
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"{source} must be a pandas DataFrame (one row per respondent), got "
            f"{type(data).__name__}; read files with bayes_rent.read_survey or pandas"
        )
    duplicated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
    if duplicated:
        raise DataError(
            f"{source}: column name(s) {duplicated} occur more than once; rename or drop the "
            "copies so that every column name is unique"
        )
    _check_columns(data, variables, source)
    for name, value in (("group", group), ("cluster", cluster)):
        _check_id_column(data, name, value, source)
    _check_ordered(ordered, variables)
    codes = {float(c) for c in missing_codes}
    frame = apply_missing_codes(data[list(variables)], codes)
    for column in variables:
        _check_column_values(frame[column], column, source, codes, _scale_of(scale, column))
    check_data(frame, list(variables), source=source)


_PANDAS_REMEDY = ("fit a pandas DataFrame instead (all rows, or a sample: "
                  "ddf.sample(frac=0.01, random_state=1).compute())")


def _refuse_for_dask(partable: pd.DataFrame | None, *, ordered: Any, cluster: Any) -> None:
    """What a Dask DataFrame cannot be fitted with: each needs the rows, not statistics.

    Without the parameter table only the options are checked.
    """
    table = partable if partable is not None else pd.DataFrame({"op": [], "level": []})
    if "level" in table.columns and bool((table["level"] == 2).any()):
        raise DataError(
            "a two-level model (level: blocks) needs each cluster's rows, and a Dask DataFrame "
            "is fitted from its sufficient statistics only; " + _PANDAS_REMEDY
        )
    if cluster is not None:
        raise OptionError(
            "cluster= with a Dask DataFrame: random cluster effects need each firm's row and "
            "its cluster, and a Dask DataFrame is fitted from sufficient statistics only; "
            + _PANDAS_REMEDY
        )
    if ordered or bool((table["op"] == "|").any()):
        raise OptionError(
            "ordinal items (ordered= or thresholds in the syntax) with a Dask DataFrame: the "
            "ordered probit samples every respondent's latent scores, so it needs the rows; "
            "a Dask DataFrame is fitted from the sufficient statistics of continuous items "
            "only. Treat the items as continuous, or " + _PANDAS_REMEDY
        )


def validate_dask_data(
    data: Any,
    variables: Sequence[str],
    *,
    group: Any = None,
    cluster: Any = None,
    ordered: Any = None,
    missing_codes: Iterable[float] = (),
    scale: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    source: str | None = None,
) -> DaskData:
    """Check a Dask DataFrame without loading it, and compute the fit's statistics.

    Without computing anything: the column names (absent, duplicated), their dtypes (numeric
    or boolean; a text column cannot be converted cell by cell without reading it), the group
    column, and the options a Dask frame cannot be fitted with (``cluster=``, ``ordered=``).
    Then one pass over the partitions (:func:`bayes_rent.data.distributed.dask_statistics`)
    computes the statistics together with what the checks need: infinite values and answers
    outside a declared ``scale`` (with their first rows by index label), rows without a group,
    columns with no answers or one value only (per group too), fewer respondents than
    variables, and missingness scattered over too many patterns (which would need each row:
    data augmentation). Declared ``missing_codes`` become NaN first, lazily.

    Undeclared missing-value codes (9, -99, 998 ...) get the :class:`DataWarning` of
    :func:`suspicious_codes`, from counts made in the same pass: the "other answers" a code is
    compared with are then the answers that are not code-like at all. Non-numeric cells are
    refused by dtype instead of being listed by row.

    Parameters
    ----------
    data : dask.dataframe.DataFrame
        The respondents' data; left on the cluster.
    variables, group, cluster, ordered, missing_codes, scale, source
        As for :func:`validate_data`.

    Returns
    -------
    bayes_rent.data.distributed.DaskData
        The checked statistics (per group with ``group``).

    Warns
    -----
    bayes_rent.errors.DataWarning
        For a column holding a few values that look like missing-value codes.

    Examples
    --------
    >>> import dask.dataframe as dd, numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": [1.0, 2, 3, 4, 7], "y": [2.0, 1, 3, 1, 2]})
    >>> validate_dask_data(dd.from_pandas(d, npartitions=2), ["x", "y"], scale=(1, 5))
    Traceback (most recent call last):
    ...
    bayes_rent.errors.DataError: data: column 'x' has answers ['7'] outside its 1-5 scale at \
row(s) [4]; correct them, or declare them with missing_codes= if they mean 'no answer'
    """
    if isinstance(data, DaskData):
        data = data.frame
    source = source or "data"
    _refuse_for_dask(None, ordered=ordered, cluster=cluster)
    columns = pd.Index(data.columns)
    duplicated = sorted({str(c) for c in columns[columns.duplicated()]})
    if duplicated:
        raise DataError(
            f"{source}: column name(s) {duplicated} occur more than once; rename or drop the "
            "copies so that every column name is unique"
        )
    _check_columns(data, variables, source)
    if group is not None:
        if not isinstance(group, str):
            raise OptionError(
                f"group= with a Dask DataFrame must name a column of it, got "
                f"{type(group).__name__}; add the groups as a column"
            )
        if group not in columns:
            close = difflib.get_close_matches(group, [str(c) for c in columns], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise DataError(f"{source}: the group column '{group}' is not in the data{hint}")
    text = [f"'{v}' ({data.dtypes[v]})" for v in variables
            if not pd.api.types.is_numeric_dtype(data.dtypes[v])]
    if text:
        raise DataError(
            f"{source}: column(s) {', '.join(text)} are not numeric. A Dask DataFrame is "
            "checked by dtype, without reading it, so text cells cannot be listed by row; "
            "convert the columns first, e.g. ddf['x'] = dd.to_numeric(ddf['x'], "
            "errors='coerce') (unreadable cells become missing)"
        )
    codes = {float(c) for c in missing_codes}
    frame = apply_missing_codes(data, codes)
    scales = {v: _scale_of(scale, v) for v in variables}
    summary = dask_statistics(frame, list(variables), group=group,
                              scale={v: s for v, s in scales.items() if s is not None})
    problems = _dask_problems(summary, list(variables), scales, source)
    if problems:
        raise DataError("\n".join(problems))
    for j, column in enumerate(variables):
        for code, count, rows in dask_suspicious_codes(summary, j):
            warnings.warn(
                f"{source}: column '{column}' holds {code:g} at row(s) {_listed(rows, count)}, "
                f"far outside its other values; if it means 'no answer', pass "
                f"missing_codes=[{code:g}] (command line: --missing-codes {code:g}), otherwise "
                "it is fitted as a number",
                DataWarning,
                stacklevel=4,
            )
    return DaskData(frame, summary)


def _listed(labels: list, count: int) -> str:
    """The first rows of a problem, by index label, and how many more (as :func:`_rows`)."""
    shown = ", ".join(str(label) for label in labels[:_MAX_LISTED])
    more = f" and {count - _MAX_LISTED} more" if count > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def _dask_problems(summary: Any, variables: list[str], scales: Mapping[str, Any],
                   source: str) -> list[str]:
    """Every problem the pass over a Dask frame found, in the pandas route's words."""
    problems = []
    for j, v in enumerate(variables):
        if summary.infinite[j]:
            problems.append(
                f"{source}: column '{v}' holds infinite values at row(s) "
                f"{_listed(summary.infinite_at[j], int(summary.infinite[j]))}; replace them by "
                "numbers or by NaN (missing)"
            )
        if summary.outside[j]:
            low, high = scales[v]
            problems.append(
                f"{source}: column '{v}' has answers "
                f"{[f'{x:g}' for x in summary.outside_values[j]]} outside its {low:g}-{high:g} "
                f"scale at row(s) {_listed(summary.outside_at[j], int(summary.outside[j]))}; "
                "correct them, or declare them with missing_codes= if they mean 'no answer'"
            )
    if summary.no_group:
        problems.append(
            f"{source}: the group column '{summary.group}' has missing values in rows "
            f"{_listed(summary.no_group_at, summary.no_group)}: every respondent must belong "
            "to a group"
        )
    if problems:
        return problems
    if summary.too_many_patterns:
        return [
            f"{source}: the missing answers are scattered over more than {MAX_PATTERNS} "
            "missingness patterns; a fit from the sufficient statistics of a Dask DataFrame "
            "would be as costly as sampling every missing answer, which needs the rows (data "
            "augmentation). Fit the complete cases (ddf.dropna()), or " + _PANDAS_REMEDY
        ]
    grouped = summary.group is not None
    for g in summary.groups:
        where = f"group {g!r} of column '{summary.group}'" if grouped else source
        count, low, high = summary.count[g], summary.low[g], summary.high[g]
        for j, v in enumerate(variables):
            if count[j] == 0:
                problems.append(f"{where}: column '{v}' has no values")
            elif low[j] == high[j]:
                problems.append(
                    f"{where}: column '{v}' is constant ({low[j]:g}) and carries no "
                    "information; drop it from the model"
                )
        if problems:
            continue
        stats = summary.statistics[g]
        n = int(stats.n.sum())
        if n <= len(variables):
            problems.append(
                f"{where}: {n} respondents with answers but {len(variables)} observed "
                "variables; the covariance matrix cannot be estimated with fewer respondents "
                "than variables"
            )
        elif stats.observed_moments().scattered:
            problems.append(
                f"{where}: the missing answers are scattered over {len(stats.n)} missingness "
                f"patterns for {n} respondents; evaluating them pattern by pattern costs more "
                "than sampling every missing answer, which needs the rows (data augmentation) "
                "and is not done for a Dask DataFrame. Fit the complete cases (ddf.dropna()), "
                "or " + _PANDAS_REMEDY
            )
    return problems


def _check_columns(data: pd.DataFrame, variables: Sequence[str], source: str) -> None:
    present = {str(c) for c in data.columns}
    absent = [v for v in variables if v not in data.columns]
    if not absent:
        return
    hints = []
    for v in absent:
        close = difflib.get_close_matches(v, present, n=1)
        hints.append(f"'{v}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise DataError(
        f"{source}: the model names column(s) {', '.join(hints)} that the data do not have "
        f"(columns present: {sorted(present)[:20]}); rename the column or the model variable"
    )


def _check_id_column(data: pd.DataFrame, name: str, value: Any, source: str) -> None:
    if value is None:
        return
    if isinstance(value, pd.Series | np.ndarray | list):
        if len(value) != len(data):
            raise DataError(
                f"{name}: {len(value)} ids given for {len(data)} rows of {source}; give one "
                "id per row, or the name of a column"
            )
        if pd.isna(pd.Series(value)).any():
            raise DataError(f"{name}: some rows have no id; every row needs one")
        return
    if not isinstance(value, str):
        raise OptionError(f"{name} must be a column name, got {value!r}")
    if value not in data.columns:
        close = difflib.get_close_matches(value, [str(c) for c in data.columns], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(
            f"{source}: the {name} column '{value}' is not in the data{hint}; columns present: "
            f"{[str(c) for c in data.columns][:20]}"
        )
    missing = data[value].isna().to_numpy()
    # group gaps are reported by bayes_rent.spec.groups.group_labels, before anything compiles
    if missing.any() and name != "group":
        raise DataError(
            f"{source}: the {name} column '{value}' has missing values in rows "
            f"{_rows(data.index, missing)}; every row needs a {name}"
        )


def _check_ordered(ordered: Any, variables: Sequence[str]) -> None:
    if ordered is None or isinstance(ordered, bool):
        return
    if isinstance(ordered, str):
        raise OptionError(f"ordered must be True or a list of item names, got {ordered!r}")
    unknown = [v for v in ordered if v not in variables]
    if unknown:
        raise OptionError(
            f"ordered names {unknown}, which are not observed variables of the model "
            f"(observed: {list(variables)})"
        )


def _check_column_values(
    column: pd.Series, name: str, source: str, codes: set[float],
    scale: tuple[float, float] | None,
) -> None:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(
            f"{source}: column '{name}' holds infinite values at row(s) "
            f"{_rows(column.index, infinite)}; replace them by numbers or by NaN (missing)"
        )
    if scale is not None:
        low, high = scale
        outside = np.isfinite(values) & ((values < low) | (values > high))
        if outside.any():
            shown = sorted(set(values[outside].tolist()))[:_MAX_LISTED]
            raise DataError(
                f"{source}: column '{name}' has answers {[f'{v:g}' for v in shown]} outside "
                f"its {low:g}-{high:g} scale at row(s) {_rows(column.index, outside)}; correct "
                "them, or declare them with missing_codes= if they mean 'no answer'"
            )
    for code, rows in suspicious_codes(values, codes):
        warnings.warn(
            f"{source}: column '{name}' holds {code:g} at row(s) "
            f"{_rows(column.index, rows)}, far outside its other values; if it means 'no "
            f"answer', pass missing_codes=[{code:g}] (command line: --missing-codes {code:g}), "
            "otherwise it is fitted as a number",
            DataWarning,
            stacklevel=4,
        )


def suspicious_codes(
    values: np.ndarray, declared: Iterable[float] = ()
) -> list[tuple[float, np.ndarray]]:
    """Values of a column that look like undeclared missing-value codes, with their rows.

    A value is suspicious when it is written like a survey program's "no answer" code (a run
    of 9s or 8s, possibly negative: 9, 99, -99, 999, 98), is not declared, is held by at
    most a fifth of the answers, and lies outside the range of the other answers -- beyond
    the top or bottom answer of an integer item with few categories, or further from them
    than their own range for other columns.

    Examples
    --------
    >>> import numpy as np
    >>> [code for code, _ in suspicious_codes(np.array([1, 2, 5, 4, 3, 2, -99, 4.0]))]
    [-99.0]
    >>> suspicious_codes(np.array([1, 2, 5, 4, 3, 2, -99, 4.0]), declared=[-99])
    []
    """
    declared = {float(c) for c in declared}
    finite = values[np.isfinite(values)]
    found = []
    for code in np.unique(finite):
        if code in declared or not _CODE_LIKE.match(f"{code:g}"):
            continue
        rows = values == code
        rest = finite[finite != code]
        if rest.size < 2 or rows.sum() > 0.2 * finite.size:
            continue
        low, high = rest.min(), rest.max()
        likert = np.all(rest == np.round(rest)) and np.unique(rest).size <= 11
        gap = max(low - code, code - high)
        if gap > 0 and (likert or gap >= max(high - low, 1.0)):
            found.append((float(code), rows))
    return found


def apply_missing_codes(data: pd.DataFrame, missing_codes: Iterable[float]) -> pd.DataFrame:
    """The data with every declared missing-value code replaced by NaN (a copy).

    Only numeric columns are changed; text columns (ids, group names) are kept as they are.
    A Dask DataFrame gets the same replacement lazily (nothing is computed).

    Examples
    --------
    >>> import pandas as pd
    >>> apply_missing_codes(pd.DataFrame({"x": [1, -99, 3]}), [-99])["x"].tolist()
    [1.0, nan, 3.0]
    """
    codes = [float(c) for c in missing_codes]
    if not codes or isinstance(data, DaskData):  # a DaskData has its codes applied already
        return data
    if is_dask_frame(data):
        # lazily, partition by partition, exactly as below
        numeric = [c for c, t in data.dtypes.items()
                   if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)]
        return data.assign(**{str(c): data[c].astype(float).where(~data[c].isin(codes))
                              for c in numeric})
    out = data.copy()
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            out.isetitem(j, column.astype(float).where(~column.isin(codes)))
    return out


def _scale_of(
    scale: tuple[float, float] | Mapping[str, tuple[float, float]] | None, column: str
) -> tuple[float, float] | None:
    if scale is None:
        return None
    if isinstance(scale, Mapping):
        return scale.get(column)
    return scale


def _rows(index: pd.Index, mask: np.ndarray) -> str:
    """The first rows of ``mask`` by index label (file row numbers when read from a file)."""
    labels = [index[i] for i in np.flatnonzero(mask)]
    shown = ", ".join(str(label) for label in labels[:_MAX_LISTED])
    more = f" and {len(labels) - _MAX_LISTED} more" if len(labels) > _MAX_LISTED else ""
    return f"[{shown}{more}]"
