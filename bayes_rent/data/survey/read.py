"""Read a survey file (CSV, Excel, SPSS) and check every cell against the questionnaire map.

Nothing is coerced silently. A file is either read whole, with a :class:`Survey` that can say
exactly what was read (:meth:`Survey.report`), or refused with one :class:`SurveyError` that lists
every problem found, each naming the file, the row as the spreadsheet shows it (the header is
row 1; SPSS files have no header row and are counted by case) and the column.

What the checked data look like
-------------------------------
* item columns: ``float64``, answers ``1..k`` and NaN for missing answers;
* the respondent id and cluster columns: text (an id stored as the number ``17.0``, or
  written as the text ``"17.0"``, reads as ``"17"``, so the same data read the same from CSV,
  Excel and SPSS; ``"007"`` keeps its zeros);
* numeric and ordinal covariates: ``float64``; categorical covariates: text;
* any other column: ``float64`` when every filled cell is a number, text otherwise.

Missing answers are blank cells, the text markers in ``na_values`` (``NA``, ``N/A``, ``NaN``,
``.``), values an SPSS file declares user-missing, and the ``missing_codes`` the caller names;
each kind is counted separately in the report.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_rent.data.survey.schema import SurveySchema
from bayes_rent.errors import BayesRentError

__all__ = ["Problem", "Survey", "SurveyError", "SurveyReport", "read_survey", "read_table"]

#: Text cells read as a missing answer (compared after stripping, case-insensitively).
DEFAULT_NA_VALUES = ("", "NA", "N/A", "NaN", ".")

#: How many problems the error message spells out; ``SurveyError.problems`` has them all.
MAX_LISTED = 200

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_SPSS_SUFFIXES = {".sav", ".zsav"}
_INTEGER_TOLERANCE = 1e-9
_WHOLE_NUMBER_TEXT = re.compile(r"^-?\d+\.0+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a survey file.

    Attributes
    ----------
    file : str
        File name (``"<DataFrame>"`` for an in-memory frame).
    row : int or None
        Row as the spreadsheet shows it (header = row 1), the case number of an SPSS file, or
        the index label of a DataFrame; None for a problem with a whole column.
    column : str or None
        Column name; None for a problem with a whole row or file.
    kind : str
        Short machine-readable kind: ``missing_column``, ``unknown_column``,
        ``duplicate_column``, ``unnamed_column``, ``out_of_range``, ``not_integer``,
        ``not_numeric``, ``unknown_level``, ``missing_id``, ``duplicate_id``,
        ``missing_cluster``, ``single_firm_cluster``, ``unreadable``.
    message : str
    row_label : str
        What ``row`` counts: ``"row"``, ``"case"`` or ``"index"``.
    """

    file: str
    row: Hashable | None
    column: str | None
    kind: str
    message: str
    row_label: str = "row"

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"{self.row_label} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


class SurveyError(BayesRentError, ValueError):
    """A survey file that does not match its questionnaire map, with every problem found.

    Attributes
    ----------
    problems : list of Problem
        All problems, in file order within each kind of check.
    file : str
    """

    def __init__(self, problems: Sequence[Problem], file: str):
        self.problems = list(problems)
        self.file = file
        lines = [str(p) for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(
                f"... and {len(self.problems) - MAX_LISTED} more (all are in "
                "SurveyError.problems; SurveyError.to_frame() tabulates them)"
            )
        kinds = pd.Series([p.kind for p in self.problems]).value_counts()
        tally = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        head = f"{len(self.problems)} problem(s) in {file} ({tally}):"
        super().__init__("\n  - ".join([head, *lines]))

    def to_frame(self) -> pd.DataFrame:
        """The problems as a table: file, row_label, row, column, kind, message.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayes_rent.data.survey import SurveySchema
        >>> schema = SurveySchema.from_dict({"respondent_id": "id",
        ...                                  "constructs": [{"id": "F", "items": ["x1", "x2"]}]})
        >>> try:
        ...     read_survey(pd.DataFrame({"id": [1, 1], "x1": [3, 8]}), schema)
        ... except SurveyError as err:
        ...     print(err.to_frame()[["row", "column", "kind"]])
            row column            kind
        0  None     x2  missing_column
        1     0     id    duplicate_id
        2     1     id    duplicate_id
        3     1     x1    out_of_range
        """
        frame = pd.DataFrame(
            [
                {
                    "file": p.file,
                    "row_label": p.row_label,
                    "row": p.row,
                    "column": p.column,
                    "kind": p.kind,
                    "message": p.message,
                }
                for p in self.problems
            ],
            columns=["file", "row_label", "row", "column", "kind", "message"],
        )
        # Rows stay as written (whole numbers, index labels, None), not floats with NaN.
        frame["row"] = pd.Series([p.row for p in self.problems], dtype=object)
        return frame


@dataclass
class SurveyReport:
    """What :func:`read_survey` read, and what it turned into missing values.

    Attributes
    ----------
    file, file_format : str
    sheet : str or None
        The Excel sheet read.
    encoding : str or None
        The text encoding a CSV file was read with.
    n_rows : int
        Respondents read.
    blank_rows : int
        Entirely empty rows skipped.
    cluster_sizes : pandas.Series
        Firms per cluster (empty when the schema has no cluster column).
    items : pandas.DataFrame
        One row per item: ``construct``, ``dimension``, ``answered``, ``missing`` (all
        missing), ``blank`` (empty cells and ``na_values``), ``from_codes`` (``missing_codes``
        turned missing), ``declared_missing`` (SPSS user-missing values), ``out_of_range``,
        ``reversed``.
    codes_turned_missing : dict
        For each of the caller's missing codes, how many answers it turned into NaN.
    covariate_missing : dict
        Missing cells per covariate.
    other_columns : list of str
        Columns outside the map, passed through unchecked.
    """

    file: str
    file_format: str
    sheet: str | None
    encoding: str | None
    n_rows: int
    blank_rows: int
    cluster_sizes: pd.Series
    items: pd.DataFrame
    codes_turned_missing: dict
    covariate_missing: dict
    other_columns: list[str]

    def __str__(self) -> str:
        items = self.items
        total = len(items) * self.n_rows
        lines = [f"Survey read from {self.file} ({self.file_format}"]
        if self.sheet is not None:
            lines[0] += f", sheet {self.sheet!r}"
        if self.encoding is not None:
            lines[0] += f", encoding {self.encoding}"
        lines[0] += ")"
        lines.append(f"  respondents: {self.n_rows}   blank rows skipped: {self.blank_rows}")
        if len(self.cluster_sizes):
            sizes = ", ".join(f"{k} {v}" for k, v in self.cluster_sizes.items())
            lines.append(f"  clusters: {len(self.cluster_sizes)} ({sizes})")
        missing = int(items["missing"].sum())
        share = missing / total if total else 0.0
        lines.append(f"  items: {len(items)}   missing answers: {missing} of {total} ({share:.1%})")
        lines.append(
            f"    blank: {int(items['blank'].sum())}   from missing codes: "
            f"{int(items['from_codes'].sum())}   declared missing in the file: "
            f"{int(items['declared_missing'].sum())}   out of range: "
            f"{int(items['out_of_range'].sum())}"
        )
        for code, n in self.codes_turned_missing.items():
            lines.append(f"    code {code!r} turned missing: {n}")
        reversed_items = items.index[items["reversed"]].tolist()
        if reversed_items:
            lines.append(f"  reverse-keyed items recoded (k+1-x): {', '.join(reversed_items)}")
        with_missing = items.loc[items["missing"] > 0, "missing"]
        if len(with_missing):
            lines.append(
                "  missing per item: " + ", ".join(f"{k} {v}" for k, v in with_missing.items())
            )
        cov = {k: v for k, v in self.covariate_missing.items() if v}
        if cov:
            lines.append("  missing covariates: " + ", ".join(f"{k} {v}" for k, v in cov.items()))
        if self.other_columns:
            lines.append(f"  other columns (not checked): {', '.join(self.other_columns)}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the text form
        printer.text(str(self))


@dataclass
class Survey:
    """A survey file that passed every check against its questionnaire map.

    Attributes
    ----------
    data : pandas.DataFrame
        The checked data (see the module docstring for the column types).
    schema : SurveySchema
    file : str
    value_labels : dict of str to dict
        SPSS value labels per column, as stored in the file (before any reverse recoding).
    reversed : bool
        Whether reverse-keyed items were recoded.
    file_rows : numpy.ndarray
        For each row of ``data``, its row (or case) number in the file.
    """

    data: pd.DataFrame
    schema: SurveySchema
    file: str
    value_labels: dict[str, dict] = field(default_factory=dict)
    reversed: bool = False
    file_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    _report: SurveyReport | None = field(default=None, repr=False)

    def report(self) -> SurveyReport:
        """What was read: rows, clusters, missing answers per item and where they came from.

        Returns
        -------
        SurveyReport
            Prints as a short text summary; its attributes hold the tables.

        Examples
        --------
        >>> import io, pandas as pd
        >>> from bayes_rent.data.survey import SurveySchema, read_survey
        >>> schema = SurveySchema.from_dict({"respondent_id": "id", "constructs": [
        ...     {"id": "F", "items": ["x1", "x2", "x3"]}]})
        >>> frame = pd.DataFrame({"id": [1, 2, 3], "x1": [1, 5, 9], "x2": [2, 3, 4],
        ...                       "x3": [5, None, 1]})
        >>> survey = read_survey(frame, schema, missing_codes=[9])
        >>> survey.report().items[["missing", "blank", "from_codes"]].loc["x1"].tolist()
        [1, 0, 1]
        """
        assert self._report is not None
        return self._report

    @property
    def items(self) -> pd.DataFrame:
        """The item columns, in questionnaire order."""
        return self.data[self.schema.item_ids]

    def __repr__(self) -> str:
        return (
            f"Survey({self.file!r}: {len(self.data)} respondents, "
            f"{len(self.schema.items)} items, reversed={self.reversed})"
        )


# ---------------------------------------------------------------------- reading the file
@dataclass
class _Raw:
    """A file's cells before any checking, with how to name its rows."""

    cells: pd.DataFrame  # columns as in the file; object or numeric dtypes
    rows: np.ndarray  # file row (or case) number of each row of ``cells``
    file: str
    file_format: str
    row_label: str = "row"
    header_row: int | None = 1
    sheet: str | None = None
    encoding: str | None = None
    value_labels: dict = field(default_factory=dict)
    user_missing: dict = field(default_factory=dict)  # column -> list of (lo, hi)
    problems: list[Problem] = field(default_factory=list)
    blank_rows: int = 0


def _read_raw(
    source: str | os.PathLike | pd.DataFrame,
    sheet: str | int | None,
    encoding: str | None,
) -> _Raw:
    if isinstance(source, pd.DataFrame):
        if sheet is not None:
            raise SurveyError(
                [Problem("<DataFrame>", None, None, "unreadable", "sheet= applies to Excel only")],
                "<DataFrame>",
            )
        frame = source.copy()
        frame.columns = [str(c) for c in frame.columns]
        raw = _Raw(
            frame.reset_index(drop=True),
            np.asarray(source.index),
            "<DataFrame>",
            "DataFrame",
            row_label="index",
            header_row=None,
        )
        return _drop_blank_rows(raw)

    path = Path(source)
    name = path.name
    suffix = path.suffix.lower()

    def fail(message: str) -> SurveyError:
        return SurveyError([Problem(name, None, None, "unreadable", message)], name)

    if not path.is_file():
        raise fail(f"no such file: {path}")
    if sheet is not None and suffix not in _EXCEL_SUFFIXES:
        raise fail(f"sheet={sheet!r} applies to Excel files only")
    if suffix in _CSV_SUFFIXES:
        raw = _read_text(path, _CSV_SUFFIXES[suffix], encoding, fail)
    elif suffix in _EXCEL_SUFFIXES:
        raw = _read_excel(path, sheet, fail)
    elif suffix in _SPSS_SUFFIXES:
        raw = _read_spss(path, fail)
    elif suffix == ".xls":
        raise fail("old .xls workbooks are not read; save the sheet as .xlsx (or CSV)")
    else:
        raise fail(
            f"unknown file type {suffix!r}; read are .csv, .tsv, .txt, .xlsx, .xlsm, .sav, .zsav"
        )
    return _drop_blank_rows(raw)


_SEPARATORS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def _sniff_separator(path: Path, encodings: list[str], declared: str | None) -> str | None:
    """The separator of a delimited file, from its first lines.

    A ``.csv`` written by a European or Chinese Excel is separated by semicolons (the comma is
    the decimal mark there), so the suffix alone does not tell; the separator that splits the
    first lines into the same, largest number of fields wins. ``None`` when no separator
    occurs at all (a one-column file), which pandas' own sniffer then handles.
    """
    head = b""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    text = None
    for enc in encodings:
        try:
            text = head.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        return declared
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) > 1 and len(head) == 64 * 1024:
        lines = lines[:-1]  # the last line may be cut in the middle
    best, best_fields = declared, 1
    for sep in _SEPARATORS:
        counts = {line.count(sep) for line in lines}
        fields = min(counts) + 1 if counts else 1
        # a consistent count on every line beats a larger but ragged one
        if len(counts) == 1 and fields > best_fields:
            best, best_fields = sep, fields
    return best


def _decimal_commas(table: pd.DataFrame, sep: str | None) -> pd.DataFrame:
    """Cells such as ``3,5`` in a file not separated by commas: decimal commas, read as 3.5."""
    if sep == ",":
        return table
    for j in range(table.shape[1]):
        column = table.iloc[:, j]
        hits = column.str.match(_DECIMAL_COMMA.pattern, na=False)
        if hits.any():
            table.iloc[:, j] = column.where(~hits, column.str.replace(",", ".", regex=False))
    return table


def _read_text(path: Path, sep: str | None, encoding: str | None, fail) -> _Raw:
    # Chinese survey exports are UTF-8 (often with a BOM) or GB18030 (Excel's "CSV" on a
    # Chinese Windows); anything else must be named by the caller.
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    if sep != "\t":
        sep = _sniff_separator(path, encodings, sep)
    last_error: Exception | None = None
    for enc in encodings:
        try:
            table = pd.read_csv(
                path,
                sep=sep,
                engine="python" if sep is None else "c",
                header=None,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                encoding=enc,
            )
            break
        except UnicodeDecodeError as err:
            last_error = err
        except pd.errors.EmptyDataError as err:
            raise fail("the file is empty") from err
        except (pd.errors.ParserError, ValueError) as err:
            raise fail(f"cannot parse the file as delimited text: {err}") from err
    else:
        raise fail(f"cannot decode the text (tried {', '.join(encodings)}): {last_error}")
    table = _decimal_commas(table, sep)
    return _with_header(
        table, path.name, "CSV" if sep == "," else "delimited text", fail, encoding=enc
    )


def _read_excel(path: Path, sheet: str | int | None, fail) -> _Raw:
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            names = book.sheet_names
            chosen = names[0] if sheet is None else sheet
            if isinstance(chosen, int):
                if not 0 <= chosen < len(names):
                    raise fail(f"no sheet number {chosen}; the workbook has {names}")
                chosen = names[chosen]
            if chosen not in names:
                raise fail(f"no sheet {chosen!r}; the workbook has {names}")
            table = pd.read_excel(book, sheet_name=chosen, header=None, dtype=object)
    except SurveyError:
        raise
    except Exception as err:  # openpyxl raises many types for a damaged workbook
        raise fail(f"cannot read the workbook: {err}") from err
    return _with_header(table, path.name, "Excel", fail, sheet=str(chosen))


def _with_header(table: pd.DataFrame, name: str, file_format: str, fail, **extra) -> _Raw:
    """Take the first non-blank row as the header, keeping spreadsheet row numbers."""
    filled = _filled_rows(table)
    if not filled.any():
        raise fail("the file is empty")
    header_at = int(np.argmax(filled))
    header = table.iloc[header_at]
    body = table.iloc[header_at + 1 :].reset_index(drop=True)
    rows = np.arange(header_at + 2, header_at + 2 + len(body))
    problems: list[Problem] = []
    columns: list[str] = []
    keep: list[int] = []
    for j, label in enumerate(header):
        column_letter = _column_letter(j)
        if not _is_filled(label):
            if _filled_cells(body.iloc[:, j]).any():
                problems.append(
                    Problem(
                        name,
                        header_at + 1,
                        f"<{column_letter}>",
                        "unnamed_column",
                        f"column {column_letter} has answers but no header",
                    )
                )
            # Trailing empty columns (a stray comma or a formatted cell) carry nothing.
            continue
        columns.append(str(label).strip() if isinstance(label, str) else _as_text(label))
        keep.append(j)
    cells = body.iloc[:, keep].copy()
    cells.columns = columns
    raw = _Raw(cells, rows, name, file_format, header_row=header_at + 1, **extra)
    raw.problems.extend(problems)
    return raw


def _read_spss(path: Path, fail) -> _Raw:
    import pyreadstat

    reader = pyreadstat.read_sav
    try:
        # user_missing=True keeps declared missing codes as values so that turning them into
        # NaN is counted here instead of happening unseen inside the reader.
        frame, meta = reader(str(path), user_missing=True, apply_value_formats=False)
    except Exception as err:  # pyreadstat.ReadstatError and OSError
        raise fail(f"cannot read the SPSS file: {err}") from err
    ranges = {
        column: [(r["lo"], r["hi"]) for r in spec]
        for column, spec in (meta.missing_ranges or {}).items()
    }
    for column, values in (getattr(meta, "missing_user_values", None) or {}).items():
        ranges.setdefault(column, []).extend((v, v) for v in values)
    return _Raw(
        frame,
        np.arange(1, len(frame) + 1),
        path.name,
        "SPSS",
        row_label="case",
        header_row=None,
        value_labels={k: dict(v) for k, v in (meta.variable_value_labels or {}).items()},
        user_missing=ranges,
    )


def _drop_blank_rows(raw: _Raw) -> _Raw:
    if raw.cells.shape[1] == 0:
        return raw
    filled = _filled_rows(raw.cells)
    raw.blank_rows = int((~filled).sum())
    if raw.blank_rows:
        raw.cells = raw.cells.loc[filled].reset_index(drop=True)
        raw.rows = raw.rows[filled]
    return raw


def _filled_cells(column: pd.Series) -> np.ndarray:
    """Which cells of a column hold something (not NaN, not empty or blank text)."""
    if _is_numeric(column):
        return column.notna().to_numpy()
    if pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
        return (column.notna() & column.str.strip().ne("")).to_numpy(dtype=bool)
    return column.map(_is_filled).to_numpy(dtype=bool)


def _filled_rows(table: pd.DataFrame) -> np.ndarray:
    filled = np.zeros(len(table), dtype=bool)
    for j in range(table.shape[1]):
        filled |= _filled_cells(table.iloc[:, j])
    return filled


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )


def _is_filled(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and np.isnan(value):
        return False
    if isinstance(value, str) and not value.strip():
        return False
    return not (value is pd.NA or value is pd.NaT)


def _column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _as_text(value: object) -> str:
    """A cell as text; whole numbers lose their ``.0`` so ids read alike from every format."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        # "17.0" is how a program wrote the number 17; "007" keeps its zeros.
        return text[: text.index(".")] if _WHOLE_NUMBER_TEXT.match(text) else text
    return str(value)


def read_table(
    path: str | os.PathLike,
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    na_values: Iterable[str] = DEFAULT_NA_VALUES,
) -> pd.DataFrame:
    """Read a data file without a questionnaire map, keeping the file's row numbers.

    The same reader as :func:`read_survey` (CSV with its separator and decimal mark sniffed,
    Excel, SPSS): the result's index holds the file's row numbers (the spreadsheet row, or the
    SPSS case number), so that later messages about a row point into the file. Columns whose
    filled cells are all numbers become float; the others stay text.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` / ``.tsv`` / ``.txt``, ``.xlsx`` / ``.xlsm`` or ``.sav`` / ``.zsav`` file.
    sheet, encoding, na_values
        As for :func:`read_survey`.

    Returns
    -------
    pandas.DataFrame
        With ``attrs["source"]`` set to the file name.

    Raises
    ------
    SurveyError
        When the file cannot be read (missing, damaged, unknown type, empty) or has a column
        with answers but no header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "answers.csv"
    >>> _ = path.write_text("x1;x2\\n1,5;2\\n3;4\\n")
    >>> frame = read_table(path)
    >>> frame["x1"].tolist(), frame.index.tolist()
    ([1.5, 3.0], [2, 3])
    """
    raw = _read_raw(path, sheet, encoding)
    if raw.problems:
        raise SurveyError(raw.problems, raw.file)
    missing = {str(v).strip().lower() for v in na_values}
    columns = {}
    for j in range(raw.cells.shape[1]):
        column = raw.cells.iloc[:, j]
        if not _is_numeric(column):
            text = column.astype(object).map(
                lambda c: np.nan if not _is_filled(c) or str(c).strip().lower() in missing
                else c
            )
            numbers = pd.to_numeric(text, errors="coerce")
            column = numbers if (numbers.notna() == text.notna()).all() else text
        columns[j] = column.to_numpy()
    frame = pd.DataFrame(columns, index=pd.Index(raw.rows, name=raw.row_label))
    frame.columns = list(raw.cells.columns)
    frame.attrs["source"] = raw.file
    return frame


# ---------------------------------------------------------------------- checking
def read_survey(
    path: str | os.PathLike | pd.DataFrame,
    schema: SurveySchema,
    *,
    missing_codes: Iterable[float | str] = (),
    reverse: bool = False,
    sheet: str | int | None = None,
    na_values: Iterable[str] = DEFAULT_NA_VALUES,
    encoding: str | None = None,
) -> Survey:
    """Read a survey file and check it against a questionnaire map.

    Parameters
    ----------
    path : str, path-like or pandas.DataFrame
        A ``.csv`` / ``.tsv`` / ``.txt`` file, an Excel ``.xlsx`` / ``.xlsm`` workbook, an SPSS
        ``.sav`` / ``.zsav`` file, or a DataFrame already in memory (its rows are then named by
        index label).
    schema : SurveySchema
        The questionnaire map (for the book's study, :func:`bayes_rent.data.survey.book_schema`).
    missing_codes : iterable of number or str
        Answers that mean "no answer" (for example ``9`` or ``99``, or a text such as
        ``"refused"``). They become NaN in item columns and are counted. A numeric code that is a
        valid scale point of some item is refused, because it would delete real answers.
    reverse : bool
        Recode reverse-keyed items as ``k + 1 - x`` after checking.
    sheet : str or int, optional
        Excel sheet name or 0-based number (default: the first sheet).
    na_values : iterable of str
        Text cells read as missing (compared after stripping, case-insensitively).
    encoding : str, optional
        Text encoding of a CSV file (default: try UTF-8, then GB18030).

    Returns
    -------
    Survey
        The checked data, the schema, SPSS value labels, and a :meth:`Survey.report`.

    Raises
    ------
    SurveyError
        Listing every problem: missing item, respondent-id, cluster or covariate columns;
        unknown columns that look like items;
        duplicated or unnamed columns; answers that are not numbers, not whole numbers or
        outside the scale; missing or duplicated respondent ids; missing cluster names; a
        cluster with only one firm; covariates outside their range or levels.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.data.survey import SurveySchema, read_survey
    >>> schema = SurveySchema.from_dict({"respondent_id": "firm", "cluster": "cluster",
    ...     "constructs": [{"id": "F", "items": ["x1", "x2", {"id": "x3", "reverse": True}]}]})
    >>> frame = pd.DataFrame({"firm": ["a", "b", "c"], "cluster": ["k", "k", "k"],
    ...                       "x1": [1, 2, 3], "x2": [4, 5, 4], "x3": [5, 4, 1]})
    >>> read_survey(frame, schema, reverse=True).data["x3"].tolist()
    [1.0, 2.0, 5.0]
    >>> frame.loc[1, "x2"] = 6
    >>> read_survey(frame, schema)
    Traceback (most recent call last):
    ...
    bayes_rent.data.survey.read.SurveyError: 1 problem(s) in <DataFrame> (1 out_of_range):
      - <DataFrame>, index 1, column 'x2': answer 6 is outside the 1-5 scale
    """
    raw = _read_raw(path, sheet, encoding)
    return _Checker(raw, schema, missing_codes, na_values).run(reverse)


class _Checker:
    def __init__(
        self,
        raw: _Raw,
        schema: SurveySchema,
        missing_codes: Iterable[float | str],
        na_values: Iterable[str],
    ):
        self.raw = raw
        self.schema = schema
        self.problems: list[Problem] = list(raw.problems)
        duplicated = raw.cells.columns.duplicated()
        if duplicated.any():
            for column in dict.fromkeys(raw.cells.columns[duplicated]):
                count = int((raw.cells.columns == column).sum())
                self.header_problem(column, "duplicate_column", f"the column appears {count} times")
            # Check the first of each so the other problems are still all found.
            raw.cells = raw.cells.loc[:, ~duplicated]
        self.na_values = {str(v).strip().lower() for v in na_values}
        codes = list(missing_codes)
        self.numeric_codes = [
            float(c)
            for c in codes
            if isinstance(c, int | float | np.number) and not isinstance(c, bool)
        ]
        self.text_codes = [c.strip() for c in codes if isinstance(c, str)]
        odd = [
            c
            for c in codes
            if not isinstance(c, int | float | np.number | str) or isinstance(c, bool)
        ]
        if odd:
            raise ValueError(f"missing codes must be numbers or text, got {odd!r}")
        clash = sorted(
            {
                (c, i.scale_points)
                for c in self.numeric_codes
                for i in schema.items
                if float(c).is_integer() and 1 <= c <= i.scale_points
            }
        )
        if clash:
            code, k = clash[0]
            raise ValueError(
                f"missing code {code:g} is a valid answer on the {k}-point scale; it would turn "
                "real answers into missing values"
            )
        self.code_counts: dict[float | str, int] = {
            (c.strip() if isinstance(c, str) else c): 0 for c in codes
        }

    # -- helpers
    def add(self, row: Hashable | None, column: str | None, kind: str, message: str) -> None:
        self.problems.append(
            Problem(self.raw.file, row, column, kind, message, row_label=self.raw.row_label)
        )

    def header_problem(self, column: str, kind: str, message: str) -> None:
        self.problems.append(Problem(self.raw.file, self.raw.header_row, column, kind, message))

    def declared_missing(self, column: str, values: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(values), dtype=bool)
        for lo, hi in self.raw.user_missing.get(column, []):
            if isinstance(lo, str) or isinstance(hi, str):
                continue
            with np.errstate(invalid="ignore"):
                mask |= (values >= lo) & (values <= hi)
        return mask

    def parse_numbers(
        self, column: str, codes: bool = True
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Numbers of a column with masks: blank, from text codes, and not a number."""
        cells = self.raw.cells[column]
        n = len(cells)
        if _is_numeric(cells):
            values = cells.to_numpy(dtype=float, na_value=np.nan)
            blank = np.isnan(values)
            return values, {
                "blank": blank,
                "text_code": np.zeros(n, bool),
                "not_numeric": np.zeros(n, bool),
            }
        if pd.api.types.is_string_dtype(cells.dtype) and cells.dtype != object:
            return self.parse_text_numbers(cells, codes)
        objects = cells.to_numpy(dtype=object)
        values = np.full(n, np.nan)
        blank = np.zeros(n, bool)
        text_code = np.zeros(n, bool)
        not_numeric = np.zeros(n, bool)
        for i, cell in enumerate(objects):
            if not _is_filled(cell):
                blank[i] = True
            elif isinstance(cell, bool | np.bool_):
                not_numeric[i] = True
            elif isinstance(cell, int | float | np.integer | np.floating):
                values[i] = float(cell)
            elif isinstance(cell, str):
                text = cell.strip()
                if text.lower() in self.na_values:
                    blank[i] = True
                elif codes and text in self.text_codes:
                    text_code[i] = True
                    self.code_counts[text] += 1
                else:
                    try:
                        values[i] = float(text)
                    except ValueError:
                        not_numeric[i] = True
                    else:
                        if np.isnan(values[i]):  # "nan" spelled another way
                            not_numeric[i] = True
            else:  # dates, times, formulas' error objects
                not_numeric[i] = True
        return values, {"blank": blank, "text_code": text_code, "not_numeric": not_numeric}

    def parse_text_numbers(
        self, cells: pd.Series, codes: bool
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The vectorized :meth:`parse_numbers` for a column of text (every CSV column)."""
        text = cells.str.strip()
        blank = (text.isna() | text.str.lower().isin(self.na_values)).to_numpy(dtype=bool)
        text_code = np.zeros(len(text), dtype=bool)
        if codes and self.text_codes:
            text_code = text.isin(self.text_codes).to_numpy(dtype=bool) & ~blank
            for code, count in text[text_code].value_counts().items():
                self.code_counts[code] += int(count)
        rest = ~blank & ~text_code
        numbers = pd.to_numeric(text.where(rest), errors="coerce")
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
        not_numeric = rest & np.isnan(values)
        return values, {"blank": blank, "text_code": text_code, "not_numeric": not_numeric}

    # -- the checks
    def run(self, reverse: bool) -> Survey:
        schema, raw = self.schema, self.raw
        columns = list(raw.cells.columns)
        self.check_columns(columns)
        present = set(columns)

        data: dict[str, pd.Series] = {}
        item_stats = {}
        for item in schema.items:
            if item.id in present:
                data[item.id], item_stats[item.id] = self.check_item(item.id, item.scale_points)

        ids = self.check_ids() if schema.respondent_id in present else None
        clusters = self.check_clusters() if schema.cluster and schema.cluster in present else None
        covariate_missing = {}
        for cov in schema.covariates:
            if cov.id in present:
                data[cov.id] = self.check_covariate(cov)
                covariate_missing[cov.id] = int(data[cov.id].isna().sum())

        if self.problems:
            raise SurveyError(self.sorted_problems(columns), raw.file)

        known = set(schema.columns)
        other = [c for c in columns if c not in known]
        for column in other:
            data[column] = self.pass_through(column)
        if ids is not None:
            data[schema.respondent_id] = ids
        if clusters is not None:
            data[schema.cluster] = clusters

        frame = pd.DataFrame({c: data[c] for c in columns})
        if reverse:
            for item in schema.items:
                if item.reverse:
                    frame[item.id] = item.scale_points + 1 - frame[item.id]

        report = self.make_report(frame, item_stats, covariate_missing, other, reverse)
        labels = {k: v for k, v in raw.value_labels.items() if k in frame.columns}
        return Survey(frame, schema, raw.file, labels, reverse, raw.rows.copy(), report)

    def sorted_problems(self, columns: list[str]) -> list[Problem]:
        """Whole-column problems first, then cell problems in reading order (row, column)."""
        position = {row: i for i, row in enumerate(self.raw.rows.tolist())}
        order = {column: j for j, column in enumerate(columns)}

        def key(problem: Problem) -> tuple:
            at_header = problem.row is None or (
                problem.row == self.raw.header_row and problem.kind.endswith("_column")
            )
            row = -1 if at_header else position.get(problem.row, -1)
            return (not at_header, row, order.get(problem.column, len(order)))

        return sorted(self.problems, key=key)

    def check_columns(self, columns: list[str]) -> None:
        schema = self.schema
        present = set(columns)
        known = set(schema.columns)
        item_ids = schema.item_ids
        stems = {re.sub(r"\d+$", "", i) for i in item_ids}
        unknown_like: dict[str, str] = {}  # column -> the missing item it may be
        for column in columns:
            if column in known:
                continue
            why, like = _looks_like_item(column, item_ids, stems)
            if why:
                if like:
                    unknown_like[column] = like
                self.header_problem(
                    column,
                    "unknown_column",
                    f"not in the questionnaire map, but looks like an item ({why})",
                )
        for item_id in item_ids:
            if item_id not in present:
                near = [c for c, like in unknown_like.items() if like == item_id]
                hint = f" (is it column {near[0]!r}?)" if near else ""
                self.problems.append(
                    Problem(
                        self.raw.file,
                        None,
                        item_id,
                        "missing_column",
                        f"item column missing from the file{hint}",
                    )
                )
        required = [(schema.respondent_id, "respondent id")]
        if schema.cluster:
            required.append((schema.cluster, "cluster"))
        required += [(cov.id, "covariate") for cov in schema.covariates]
        for column, what in required:
            if column not in present:
                self.problems.append(
                    Problem(
                        self.raw.file,
                        None,
                        column,
                        "missing_column",
                        f"{what} column missing from the file",
                    )
                )

    def check_item(self, column: str, points: int) -> tuple[pd.Series, dict[str, int]]:
        values, masks = self.parse_numbers(column)
        rows = self.raw.rows
        declared = self.declared_missing(column, values)
        from_codes = masks["text_code"].copy()
        for code in self.numeric_codes:
            hit = values == code
            self.code_counts[_code_key(code, self.code_counts)] += int(hit.sum())
            from_codes |= hit
        for i in np.flatnonzero(masks["not_numeric"]):
            cell = self.raw.cells[column].iloc[i]
            self.add(
                rows[i],
                column,
                "not_numeric",
                f"answer {cell!r} is not a number" + self.anchor_hint(cell),
            )
        check = ~(masks["blank"] | masks["not_numeric"] | from_codes | declared)
        with np.errstate(invalid="ignore"):
            fractional = check & (np.abs(values - np.round(values)) > _INTEGER_TOLERANCE)
            outside = check & ~fractional & ((values < 1) | (values > points))
        for i in np.flatnonzero(fractional):
            self.add(
                rows[i],
                column,
                "not_integer",
                f"answer {values[i]:g} is not a whole scale point (1-{points})",
            )
        for i in np.flatnonzero(outside):
            self.add(
                rows[i],
                column,
                "out_of_range",
                f"answer {values[i]:g} is outside the 1-{points} scale",
            )
        missing = ~check
        clean = np.where(missing, np.nan, np.round(values))
        stats = {
            "blank": int(masks["blank"].sum()),
            "from_codes": int(from_codes.sum()),
            "declared_missing": int(declared.sum()),
            "out_of_range": int(outside.sum()),
        }
        return pd.Series(clean, dtype="float64"), stats

    def anchor_hint(self, cell: object) -> str:
        if not isinstance(cell, str):
            return ""
        for labels in self.schema.anchors.values():
            if cell.strip() in labels:
                point = labels.index(cell.strip()) + 1
                return f" (it is the label of scale point {point}; enter the number)"
        return ""

    def text_column(self, column: str) -> tuple[pd.Series, np.ndarray]:
        cells = self.raw.cells[column].to_numpy(dtype=object)
        texts = [_as_text(c) if _is_filled(c) else None for c in cells]
        series = pd.Series(texts, dtype="str")
        return series, series.isna().to_numpy()

    def check_ids(self) -> pd.Series:
        column = self.schema.respondent_id
        ids, missing = self.text_column(column)
        rows = self.raw.rows
        for i in np.flatnonzero(missing):
            self.add(rows[i], column, "missing_id", "respondent id is empty")
        duplicated = ids.duplicated(keep=False).to_numpy() & ~missing
        if duplicated.any():
            groups = pd.Series(np.flatnonzero(duplicated)).groupby(
                ids[duplicated].to_numpy(), sort=False
            )
            for value, positions in groups:
                where = [rows[i] for i in positions]
                for i in positions:
                    others = ", ".join(str(r) for r in where if r != rows[i])
                    self.add(
                        rows[i],
                        column,
                        "duplicate_id",
                        f"respondent id {value!r} is also on {self.raw.row_label} {others}",
                    )
        return ids

    def check_clusters(self) -> pd.Series:
        column = self.schema.cluster
        assert column is not None
        clusters, missing = self.text_column(column)
        rows = self.raw.rows
        for i in np.flatnonzero(missing):
            self.add(rows[i], column, "missing_cluster", "cluster is empty")
        sizes = clusters[~missing].value_counts(sort=False)
        for name in sizes.index[sizes.to_numpy() == 1]:
            i = int(np.flatnonzero((clusters == name).to_numpy())[0])
            self.add(
                rows[i],
                column,
                "single_firm_cluster",
                f"cluster {name!r} has only this one firm; a cluster needs at least two "
                "(merge it with another or drop the cluster column)",
            )
        return clusters

    def check_covariate(self, cov) -> pd.Series:
        rows = self.raw.rows
        if cov.type == "categorical":
            series, missing = self.text_column(cov.id)
            if cov.levels:
                for i in np.flatnonzero(~missing & ~series.isin(cov.levels).to_numpy()):
                    self.add(
                        rows[i],
                        cov.id,
                        "unknown_level",
                        f"{series.iloc[i]!r} is not one of {', '.join(cov.levels)}",
                    )
            return series
        values, masks = self.parse_numbers(cov.id, codes=False)
        declared = self.declared_missing(cov.id, values)
        for i in np.flatnonzero(masks["not_numeric"]):
            self.add(
                rows[i],
                cov.id,
                "not_numeric",
                f"{self.raw.cells[cov.id].iloc[i]!r} is not a number",
            )
        check = ~(masks["blank"] | masks["not_numeric"] | declared | masks["text_code"])
        if cov.type == "ordinal":
            for i in np.flatnonzero(check & ~np.isin(values, list(cov.labels))):
                codes = ", ".join(f"{k} ({v})" for k, v in cov.labels.items())
                self.add(
                    rows[i],
                    cov.id,
                    "out_of_range",
                    f"{values[i]:g} is not one of the codes {codes}",
                )
        else:
            low = -np.inf if cov.min is None else cov.min
            high = np.inf if cov.max is None else cov.max
            with np.errstate(invalid="ignore"):
                outside = check & ((values < low) | (values > high))
            for i in np.flatnonzero(outside):
                self.add(
                    rows[i], cov.id, "out_of_range", f"{values[i]:g} is outside {low:g}-{high:g}"
                )
        return pd.Series(np.where(check, values, np.nan), dtype="float64")

    def pass_through(self, column: str) -> pd.Series:
        cells = self.raw.cells[column]
        if _is_numeric(cells):
            return cells.astype("float64").reset_index(drop=True)
        objects = cells.to_numpy(dtype=object)
        numbers = []
        for cell in objects:
            if not _is_filled(cell) or (
                isinstance(cell, str) and cell.strip().lower() in self.na_values
            ):
                numbers.append(np.nan)
                continue
            if isinstance(cell, bool | np.bool_):
                break
            try:
                numbers.append(float(cell))
            except (TypeError, ValueError):
                break
        else:
            return pd.Series(numbers, dtype="float64")
        return self.text_column(column)[0]

    def make_report(
        self,
        frame: pd.DataFrame,
        item_stats: dict[str, dict[str, int]],
        covariate_missing: dict[str, int],
        other: list[str],
        reverse: bool,
    ) -> SurveyReport:
        schema = self.schema
        rows = []
        for item in schema.items:
            construct, dimension = schema.locate(item.id)
            missing = int(frame[item.id].isna().sum())
            rows.append(
                {
                    "item": item.id,
                    "construct": construct,
                    "dimension": dimension,
                    "answered": len(frame) - missing,
                    "missing": missing,
                    **item_stats[item.id],
                    "reversed": bool(reverse and item.reverse),
                }
            )
        items = pd.DataFrame(rows).set_index("item")
        if schema.cluster:
            sizes = frame[schema.cluster].value_counts(sort=False)
            sizes.name = "firms"
        else:
            sizes = pd.Series(dtype="int64", name="firms")
        return SurveyReport(
            file=self.raw.file,
            file_format=self.raw.file_format,
            sheet=self.raw.sheet,
            encoding=self.raw.encoding,
            n_rows=len(frame),
            blank_rows=self.raw.blank_rows,
            cluster_sizes=sizes,
            items=items,
            codes_turned_missing=dict(self.code_counts),
            covariate_missing=covariate_missing,
            other_columns=other,
        )


def _code_key(code: float, counts: dict) -> float | str:
    """The caller's spelling of a numeric code (9, not 9.0) to count it under."""
    for key in counts:
        if not isinstance(key, str) and float(key) == code:
            return key
    return code


def _looks_like_item(
    column: str, item_ids: Sequence[str], stems: set[str]
) -> tuple[str, str | None]:
    """Why an unknown column looks like an item ('' when it does not), and which item."""
    normal = re.sub(r"[\s.\-]+", "_", column.strip()).lower()
    for item_id in item_ids:
        if normal == item_id.lower() or normal.replace("_", "") == item_id.lower().replace("_", ""):
            return f"spelled like item {item_id!r}", item_id
    close = difflib.get_close_matches(normal, list(item_ids), n=1, cutoff=0.85)
    stem = re.sub(r"_?\d+$", "", normal)
    if stem != normal and stem in stems:
        return f"numbered like the items {stem}1, {stem}2, ...", None
    if close and re.search(r"\d$", normal):
        return f"close to item {close[0]!r}", close[0]
    return "", None
