"""A SIMULATED survey of 320 firms in 8 industrial clusters around Suzhou.

THESE DATA ARE SIMULATED. They are not the book's data: He Wenliang's (2018) survey of Suzhou
cluster firms has never been published. They stand in for it so that every model of the book can
be run, and every estimate checked against the value that generated it.

The generating model is :func:`bayes_rent.data.simulation.simulate_cluster_survey` (documented in
:mod:`bayes_rent.data.simulation`), run once on the shipped questionnaire map
(``models/questionnaire.yaml``) with seed ``20180501`` (:data:`bayes_rent.data.simulation.SEED`),
320 firms and the 8 clusters of :data:`bayes_rent.data.simulation.SUZHOU_CLUSTERS`. The files
it wrote are shipped, so the data stay the same whatever numpy does in future; a test checks that
regenerating reproduces them exactly. To regenerate, from the repository root::

    python -m bayes_rent.data.datasets.cluster_survey

Files (in ``bayes_rent/datasets/data/``):

``cluster_survey.csv``
    One row per firm: ``firm_id``, ``cluster``, ``industry``, ``firm_size`` (employee band
    1-4), ``firm_age`` (years), ``export_share`` (% of sales), then the 69 five-point items in
    questionnaire order, as answered (reverse-keyed items *not* yet recoded); blank = missing
    (about 3%, missing at random given firm size).
``cluster_survey_truth.csv``
    The generating values as a lavaan-style parameter table (``lhs, op, rhs, level, cluster,
    label, value``); see :func:`cluster_survey_truth`.
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pandas as pd

__all__ = [
    "DATA_DIR",
    "cluster_survey",
    "cluster_survey_path",
    "cluster_survey_truth",
    "regenerate",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_FILE = "cluster_survey.csv"
TRUTH_FILE = "cluster_survey_truth.csv"
N_FIRMS = 320
_TEXT_COLUMNS = ("firm_id", "cluster", "industry")


def cluster_survey_path() -> Path:
    """Path of the shipped CSV, for :func:`bayes_rent.data.survey.read_survey`.

    Examples
    --------
    >>> from bayes_rent.data.survey import book_schema, read_survey
    >>> survey = read_survey(cluster_survey_path(), book_schema(), reverse=True)
    >>> survey.data.shape
    (320, 75)
    """
    return DATA_DIR / DATA_FILE


def cluster_survey() -> pd.DataFrame:
    """The SIMULATED Suzhou cluster-firm survey (320 firms, 8 clusters, 69 items).

    These are not the book's data (which are not public): they were drawn from the documented
    generating model :func:`bayes_rent.data.simulation.simulate_cluster_survey` with seed
    ``20180501`` and shipped. Regenerate them with
    ``python -m bayes_rent.data.datasets.cluster_survey``.

    Returns
    -------
    pandas.DataFrame
        320 rows. Text columns ``firm_id``, ``cluster``, ``industry``; ``float64`` columns
        ``firm_size``, ``firm_age``, ``export_share`` and the items (answers 1-5 as recorded,
        reverse-keyed items not recoded, NaN where missing). The same frame as
        ``read_survey(cluster_survey_path(), book_schema()).data``.

    Examples
    --------
    >>> data = cluster_survey()
    >>> data.shape
    (320, 75)
    >>> data["cluster"].nunique()
    8
    """
    path = cluster_survey_path()
    frame = pd.read_csv(path, dtype={c: "str" for c in _TEXT_COLUMNS}, encoding="utf-8")
    numeric = [c for c in frame.columns if c not in _TEXT_COLUMNS]
    return frame.astype({c: "float64" for c in numeric})


def cluster_survey_truth() -> pd.DataFrame:
    """The values that generated :func:`cluster_survey` (SIMULATED data, seed ``20180501``).

    Returns
    -------
    pandas.DataFrame
        A lavaan-style parameter table with columns ``lhs, op, rhs, level, cluster, label,
        value``: loadings (``=~``, latent-response scale, second-order and item loadings),
        structural paths (``~``, labels ``a_re``... ``b``, ``c_re``... as in
        ``models/full_model.lav``), covariate effects on IG, (co)variances (``~~``),
        thresholds (``|``), the cluster-intercept variances (level ``cluster``) with their SDs
        (``sd_cl_*`` rows), the drawn intercept of each cluster, and indirect and total
        effects (``:=``). Rows of reverse-keyed items describe them after reverse recoding.

    Examples
    --------
    >>> truth = cluster_survey_truth()
    >>> truth.query("op == '~' and rhs == 'KR'")[["lhs", "label", "value"]].values.tolist()
    [['IG', 'b', 0.4]]
    """
    truth = pd.read_csv(
        DATA_DIR / TRUTH_FILE,
        dtype={c: "str" for c in ("lhs", "op", "rhs", "level", "cluster", "label")},
        keep_default_na=False,
        encoding="utf-8",
    )
    return truth.astype({"value": "float64"})


def survey_csv_text(frame: pd.DataFrame) -> str:
    """CSV text of a survey frame: whole-number columns without ``.0``, blanks for missing.

    Examples
    --------
    >>> survey_csv_text(pd.DataFrame({"id": ["a", "b"], "x": [1.0, float("nan")]}))
    'id,x\\na,1\\nb,\\n'
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values.dtype):
            filled = values.dropna()
            if (filled == filled.round()).all():
                out[column] = values.astype("Int64")
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def regenerate(directory: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Run the generating model with the shipped seed and write the two CSV files.

    Parameters
    ----------
    directory : str or path-like, optional
        Where to write (default: the package's ``datasets/data``, overwriting the shipped
        files).

    Returns
    -------
    (Path, Path)
        The data file and the truth file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     data_path, truth_path = regenerate(tmp)
    ...     data_path.read_bytes() == cluster_survey_path().read_bytes()
    True
    """
    from bayes_rent.data.simulation import SEED, SUZHOU_CLUSTERS, simulate_cluster_survey
    from bayes_rent.data.survey.schema import book_schema

    target = Path(directory) if directory is not None else DATA_DIR
    target.mkdir(parents=True, exist_ok=True)
    data, truth = simulate_cluster_survey(
        book_schema(), n_firms=N_FIRMS, clusters=SUZHOU_CLUSTERS, seed=SEED, missing_rate=0.03
    )
    data_path, truth_path = target / DATA_FILE, target / TRUTH_FILE
    data_path.write_text(survey_csv_text(data), encoding="utf-8", newline="")
    buffer = io.StringIO()
    truth.to_csv(buffer, index=False, lineterminator="\n")
    truth_path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return data_path, truth_path


def main(argv: list[str] | None = None) -> None:
    """Command line: regenerate the shipped files (or write them elsewhere)."""
    parser = argparse.ArgumentParser(
        prog="python -m bayes_rent.data.datasets.cluster_survey",
        description="Regenerate the SIMULATED cluster survey from its generating model.",
    )
    parser.add_argument("--out", default=None, help="directory to write to (default: shipped)")
    args = parser.parse_args(argv)
    for path in regenerate(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
