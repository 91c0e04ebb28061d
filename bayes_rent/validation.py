"""Everything a fit request can get wrong, checked before anything is compiled.

:func:`validate_fit_request` is the first call of :meth:`bayes_rent.model.Model.fit`: compiling
a PyMC model takes minutes, so an argument, a data set or a model that cannot work is refused
first, with a message that names the argument, column, row or parameter and the remedy. Data
that can be used but look wrong (an undeclared missing-value code such as -99) give a
:class:`~bayes_rent.errors.DataWarning`; :func:`apply_missing_codes` turns declared codes into
missing values.

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

from bayes_rent.data.observed import check_data
from bayes_rent.errors import DataError, DataWarning, OptionError
from bayes_rent.spec.identification import check_identified
from bayes_rent.spec.partable import observed_variables

__all__ = [
    "SAMPLERS",
    "apply_missing_codes",
    "check_options",
    "suspicious_codes",
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
) -> None:
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
    validate_data(data, observed, group=group, cluster=cluster, ordered=ordered,
                  missing_codes=missing_codes, scale=scale)
    check_identified(partable)


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
        The respondents' data.
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

    Examples
    --------
    >>> import pandas as pd
    >>> apply_missing_codes(pd.DataFrame({"x": [1, -99, 3]}), [-99])["x"].tolist()
    [1.0, nan, 3.0]
    """
    codes = [float(c) for c in missing_codes]
    if not codes:
        return data
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
