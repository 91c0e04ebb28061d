"""The ``bayes-rent`` command line.

``bayes-rent fit MODEL.lav --data FILE`` fits a model and prints the parameter table.
``--data`` takes a CSV / Excel / SPSS file, or the name of a shipped data set
(``political_democracy``, ``holzinger_swineford``, ``cluster_survey``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from bayes_rent.data import datasets
from bayes_rent.data.survey import SurveySchema, read_survey
from bayes_rent.model import Model
from bayes_rent.sampling import DEFAULT_SAMPLER, SAMPLERS
from bayes_rent.spec.syntax import ModelSyntaxError

_READERS = {
    ".csv": pd.read_csv,
    ".xlsx": pd.read_excel,
    ".sav": lambda path: pd.read_spss(path, convert_categoricals=False),
}


def read_data(source: str) -> pd.DataFrame:
    """Read ``--data``: a shipped data set by name, or a CSV, Excel or SPSS file.

    Parameters
    ----------
    source : str
        A name from :data:`bayes_rent.data.datasets.NAMES` or a path.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> read_data("political_democracy").shape
    (75, 11)
    """
    if source in datasets.NAMES:
        return datasets.load(source)
    path = Path(source)
    if not path.exists():
        raise SystemExit(
            f"bayes-rent: --data {source!r} is neither a file nor a shipped data set "
            f"({', '.join(sorted(datasets.NAMES))})"
        )
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise SystemExit(f"bayes-rent: {path}: unknown file type; use .csv, .xlsx or .sav")
    return reader(path)


def _fit(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    if not model_path.exists():
        raise SystemExit(f"bayes-rent: model file {model_path} not found")
    syntax = model_path.read_text(encoding="utf-8")
    try:
        model = Model(syntax, std_lv=args.std_lv)
    except ModelSyntaxError as err:
        raise SystemExit(f"bayes-rent: {model_path}: {err}") from None
    data = read_data(args.data)
    if args.survey:
        # answers checked against the questionnaire map, reverse-keyed items recoded
        survey = read_survey(data, SurveySchema.from_yaml(args.survey), reverse=True,
                             missing_codes=args.missing_codes)
        data = survey.data
    ordered = None
    if args.ordered is not None:
        ordered = True if args.ordered == "all" else [v.strip() for v in args.ordered.split(",")]
    groups = {}
    if args.group:
        groups = dict(group=args.group, pooling=args.pooling,
                      group_equal=[k.strip() for k in args.group_equal.split(",") if k.strip()])
    fit = model.fit(
        data, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
        sampler=args.sampler, progressbar=not args.no_progress, ordered=ordered,
        cluster=args.cluster, **groups,
    )
    summary = fit.summary(hdi_prob=args.hdi_prob)
    with pd.option_context("display.max_rows", None, "display.width", 160,
                           "display.float_format", "{:.3f}".format):
        print(f"\n{fit!r}\n")
        print(summary.to_string(index=False))
        defined = fit.defined(hdi_prob=args.hdi_prob)
        if len(defined):
            print("\nDefined parameters (:=)\n")
            print(defined.to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out / "summary.csv", index=False)
        fit.idata.to_netcdf(out / "posterior.nc")
        print(f"\nwrote {out / 'summary.csv'} and {out / 'posterior.nc'}")
    return 0 if fit.convergence.converged else 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bayes-rent``."""
    parser = argparse.ArgumentParser(
        prog="bayes-rent", description="Bayesian structural equation models in lavaan syntax."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a model and print its parameter table")
    fit.add_argument("model", help="model file in lavaan syntax (.lav)")
    fit.add_argument("--data", required=True,
                     help="CSV/Excel/SPSS file, or a shipped data set name")
    fit.add_argument("--survey", metavar="QUESTIONNAIRE.yaml",
                     help="check the answers against a questionnaire map and recode its "
                          "reverse-keyed items")
    fit.add_argument("--missing-codes", type=float, nargs="*", default=(),
                     help="answer codes that mean 'no answer' (with --survey), e.g. 9 99")
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--draws", type=int, default=None,
                     help="draws per chain (default 1000; 1250 with ordinal items)")
    fit.add_argument("--tune", type=int, default=None,
                     help="warm-up iterations per chain (default 1000; 400 with ordinal items)")
    fit.add_argument("--chains", type=int, default=None,
                     help="chains (default 4; 2 with ordinal items)")
    fit.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER)
    fit.add_argument(
        "--std-lv", action=argparse.BooleanOptionalAction, default=None,
        help="identify factors by unit variance (--no-std-lv: by markers); by default markers, "
             "and unit variances when items are ordinal",
    )
    fit.add_argument("--ordered", nargs="?", const="all", metavar="ITEM,ITEM",
                     help="fit Likert items as ordinal (ordered probit): all indicators, "
                     "or the comma-separated items named")
    fit.add_argument("--group", metavar="COLUMN",
                     help="multi-group model: the column naming each respondent's group")
    fit.add_argument("--group-equal", default="", metavar="KIND,KIND",
                     help="with --group: parameters equal across groups, by lavaan's names "
                          "(loadings, intercepts, means, regressions, residuals, ...)")
    fit.add_argument("--pooling", choices=("none", "partial"), default="none",
                     help="with --group: 'partial' draws the groups' paths from a common "
                          "distribution")
    fit.add_argument("--cluster", metavar="COLUMN",
                     help="firms nested in clusters (random latent means), or the cluster "
                          "column of a two-level model (level: blocks)")
    fit.add_argument("--hdi-prob", type=float, default=0.9)
    fit.add_argument("--out", help="directory for summary.csv and posterior.nc")
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fit.set_defaults(handler=_fit)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 when the fit did not converge)."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
