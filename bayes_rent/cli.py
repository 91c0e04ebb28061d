"""The ``bayes-rent`` command line.

``bayes-rent fit MODEL.lav --data FILE`` fits a model and prints the parameter table.
``--data`` takes a CSV / Excel / SPSS file, or the name of a shipped data set
(``political_democracy``, ``holzinger_swineford``, ``cluster_survey``).
``bayes-rent study [--quick] [--out DIR]`` runs the book's whole study and writes its report.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from pathlib import Path

import pandas as pd

from bayes_rent import __version__
from bayes_rent.data import datasets
from bayes_rent.data.output import atomic_output_dir, check_output_dir
from bayes_rent.data.survey import Survey, SurveySchema, book_schema, read_survey, read_table
from bayes_rent.errors import BayesRentError, OptionError
from bayes_rent.model import Model
from bayes_rent.report import report
from bayes_rent.results.console import console_report
from bayes_rent.sampling import DEFAULT_SAMPLER, SAMPLERS
from bayes_rent.spec.syntax import ModelSyntaxError
from bayes_rent.study import run_study
from bayes_rent.validation import apply_missing_codes, check_options


def read_data(source: str) -> pd.DataFrame:
    """Read ``--data``: a shipped data set by name, or a CSV, Excel or SPSS file.

    Parameters
    ----------
    source : str
        A name from :data:`bayes_rent.data.datasets.NAMES` or a path.

    Returns
    -------
    pandas.DataFrame
        For a file, indexed by the file's row numbers (through the survey reader, which also
        sniffs a CSV file's separator and decimal mark), so messages point into the file.

    Raises
    ------
    bayes_rent.errors.BayesRentError
        When the file does not exist or cannot be read.

    Examples
    --------
    >>> read_data("political_democracy").shape
    (75, 11)
    """
    if source in datasets.NAMES:
        return datasets.load(source)
    path = Path(source)
    if not path.exists():
        raise OptionError(
            f"--data {source!r} is neither a file nor a shipped data set "
            f"({', '.join(sorted(datasets.NAMES))})"
        )
    return read_table(path)


def _read_model(path: Path, std_lv: bool | None) -> Model:
    if not path.is_file():
        raise OptionError(f"model file {path} not found")
    try:
        syntax = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise OptionError(f"model file {path} cannot be read as UTF-8 text: {err}") from err
    try:
        return Model(syntax, std_lv=std_lv)
    except ModelSyntaxError as err:
        # the file name in front of the located message; the class stays ModelSyntaxError
        err.args = (f"{path}: {err}",)
        raise


def _read_survey(data: str, schema: SurveySchema, missing_codes) -> Survey:
    """``--data`` read through the questionnaire map ``--survey`` (``fit`` and ``study``)."""
    # a file goes to the survey reader itself, so its messages name file rows and columns
    source = data if data in datasets.NAMES else Path(data)
    if isinstance(source, Path) and not source.exists():
        read_data(data)  # raises the "neither a file nor a data set" error
    frame = datasets.load(data) if isinstance(source, str) else source
    # answers checked against the questionnaire map, reverse-keyed items recoded
    return read_survey(frame, schema, reverse=True, missing_codes=missing_codes)


def _read_input(args: argparse.Namespace) -> pd.DataFrame:
    """The data, read and checked before anything is compiled."""
    if args.survey:
        return _read_survey(args.data, SurveySchema.from_yaml(args.survey),
                            args.missing_codes).data
    return apply_missing_codes(read_data(args.data), args.missing_codes)


def _fit(args: argparse.Namespace) -> int:
    # every option is checked before the data are read and long before anything compiles
    check_options(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                  target_accept=args.target_accept, sampler=args.sampler,
                  hdi_prob=args.hdi_prob, pooling=args.pooling)
    if args.out:
        check_output_dir(args.out, args.force)
    model = _read_model(Path(args.model), args.std_lv)
    data = _read_input(args)
    ordered = None
    if args.ordered is not None:
        ordered = True if args.ordered == "all" else [v.strip() for v in args.ordered.split(",")]
    groups = {}
    if args.group:
        groups = dict(group=args.group, pooling=args.pooling,
                      group_equal=[k.strip() for k in args.group_equal.split(",") if k.strip()])
    # Model.fit validates the data and the rest of the request before anything compiles
    fit = model.fit(
        data, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
        target_accept=args.target_accept, sampler=args.sampler,
        progressbar=not args.no_progress, ordered=ordered,
        cluster=args.cluster, missing_codes=args.missing_codes, **groups,
    )
    summary = fit.summary(hdi_prob=args.hdi_prob)
    # the same text as fit.report() in a notebook
    print(console_report(fit, all_rows=args.all_rows, std=args.std, hdi_prob=args.hdi_prob,
                         fit_indices=args.fit_indices,
                         title=f"{Path(args.model).name} on {args.data}"))
    if args.out:
        out = Path(args.out)
        # written to a hidden sibling and renamed when complete: never a half-written folder
        with atomic_output_dir(out, force=args.force) as tmp:
            summary.to_csv(tmp / "summary.csv", index=False)
            fit.idata.to_netcdf(tmp / "posterior.nc")
        print(f"\nwrote {out / 'summary.csv'} and {out / 'posterior.nc'}")
    return 0 if fit.convergence.converged else 2


def _study(args: argparse.Namespace) -> int:
    # options, output folder, questionnaire, data and models are all checked before any fit
    sampling = {k: v for k, v in dict(draws=args.draws, tune=args.tune, chains=args.chains,
                                       target_accept=args.target_accept).items()
                if v is not None}
    if sampling and args.quick:
        raise OptionError("--quick fixes the sampling at 2 chains x (200 + 200) draws; give "
                          "either --quick or --draws/--tune/--chains/--target-accept")
    check_options(seed=args.seed, **sampling)
    out = check_output_dir(args.out, args.force)
    schema = SurveySchema.from_yaml(args.survey) if args.survey else book_schema()
    survey = _read_survey(args.data, schema, args.missing_codes)
    study = run_study(survey, schema, quick=args.quick, seed=args.seed, models=args.models,
                      sampling=sampling or None, progress=not args.no_progress,
                      source=args.data)
    page = report(study, out, force=args.force)
    print(f"wrote {page} (tables/, posterior/, diagrams/ beside it)")
    if not study.converged:
        print(f"not converged: {', '.join(study.unconverged())} (see the report; exit status 2)",
              file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bayes-rent``."""
    parser = argparse.ArgumentParser(
        prog="bayes-rent", description="Bayesian structural equation models in lavaan syntax."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a model and print its parameter table")
    fit.add_argument("model", help="model file in lavaan syntax (.lav)")
    fit.add_argument("--data", required=True,
                     help="CSV/Excel/SPSS file, or a shipped data set name")
    fit.add_argument("--survey", metavar="QUESTIONNAIRE.yaml",
                     help="check the answers against a questionnaire map and recode its "
                          "reverse-keyed items")
    fit.add_argument("--missing-codes", type=float, nargs="*", default=(),
                     help="answer codes that mean 'no answer', e.g. 9 99 -99")
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--draws", type=int, default=None,
                     help="draws per chain (default 1000; 1250 with ordinal items)")
    fit.add_argument("--tune", type=int, default=None,
                     help="warm-up iterations per chain (default 1000; 400 with ordinal items)")
    fit.add_argument("--chains", type=int, default=None,
                     help="chains (default 4; 2 with ordinal items)")
    fit.add_argument("--target-accept", type=float, default=None, metavar="P",
                     help="target acceptance rate of NUTS, in (0, 1); higher means smaller "
                          "steps and fewer divergences (default 0.8; 0.65 with ordinal items)")
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
    fit.add_argument("--all-rows", action="store_true",
                     help="also print the rows fixed at zero (latent intercepts, ...)")
    fit.add_argument("--std", action="store_true",
                     help="add the standardized solution (lavaan's Std.all column)")
    fit.add_argument("--fit-indices", action="store_true",
                     help="add PPP and BRMSEA to the header (one replicate data set per draw)")
    fit.add_argument("--out", help="directory for summary.csv and posterior.nc (written only "
                     "when complete; an existing one is replaced only with --force)")
    fit.add_argument("--force", action="store_true",
                     help="replace an existing --out directory")
    fit.add_argument("--debug", action="store_true",
                     help="show the full traceback of an error instead of one line")
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fit.set_defaults(handler=_fit)

    study = sub.add_parser(
        "study", help="run the book's whole study and write an HTML report",
        description="Run the book's study: descriptive statistics, reliability and validity, "
                    "exploratory factor analysis, the measurement model, sub-models 1-4, the "
                    "full model, the grey coupling of NC and AC by cluster (sub-model 5) and "
                    "a LOO comparison; write report.html with its tables (CSV), posteriors "
                    "(NetCDF) and path diagrams into --out. By default on the shipped "
                    "SIMULATED cluster survey and the book's questionnaire map.",
        epilog="exit status: 0 done; 1 bad input (one line on stderr, nothing written); "
               "2 done, but some model did not converge (the report is written, with the "
               "convergence warnings in it).",
    )
    study.add_argument("--data", default="cluster_survey",
                       help="CSV/Excel/SPSS survey file, or a shipped data set name "
                            "(default: cluster_survey, simulated)")
    study.add_argument("--survey", metavar="QUESTIONNAIRE.yaml",
                       help="questionnaire map the data are checked against (default: the "
                            "book's, shipped with bayes-rent)")
    study.add_argument("--models", metavar="DIR",
                       help="folder with submodel1_re.lav ... submodel4_ac.lav and "
                            "full_model.lav (default: the book's, shipped with bayes-rent)")
    study.add_argument("--missing-codes", type=float, nargs="*", default=(),
                       help="answer codes that mean 'no answer', e.g. 9 99 -99")
    study.add_argument("--quick", action="store_true",
                       help="2 chains x (200 + 200) draws per model: a demonstration run, the "
                            "numbers are not for reporting")
    study.add_argument("--seed", type=int, default=None)
    study.add_argument("--draws", type=int, default=None,
                       help="draws per chain of every fit (default: the package's, 1000)")
    study.add_argument("--tune", type=int, default=None,
                       help="warm-up iterations per chain (default 1000)")
    study.add_argument("--chains", type=int, default=None, help="chains (default 4)")
    study.add_argument("--target-accept", type=float, default=None, metavar="P",
                       help="target acceptance rate of NUTS (default 0.8)")
    study.add_argument("--out", default="bayes-rent-study",
                       help="folder for report.html, tables/, posterior/ and diagrams/ "
                            "(default: bayes-rent-study; written only when complete, an "
                            "existing one is replaced only with --force)")
    study.add_argument("--force", action="store_true",
                       help="replace an existing --out folder")
    study.add_argument("--debug", action="store_true",
                       help="show the full traceback of an error instead of one line")
    study.add_argument("--no-progress", action="store_true",
                       help="hide the progress of the steps")
    study.set_defaults(handler=_study)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 when the fit did not converge).

    An error in the input (any :class:`~bayes_rent.errors.BayesRentError`) ends in a
    ``SystemExit`` whose message, one line, Python prints on stderr with exit status 1;
    ``--debug`` prints the traceback first.
    """
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return args.handler(args)
    except BayesRentError as err:
        if getattr(args, "debug", False):
            traceback.print_exc()
        # SystemExit with a message: Python prints it to stderr and exits with status 1
        raise SystemExit(f"bayes-rent: {one_line(err)}") from None
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def one_line(err: BaseException) -> str:
    """An error message on one line: its first line, and the first item of a list under it.

    Examples
    --------
    >>> one_line(ValueError("2 problem(s) in a.csv:\\n  - row 3: bad\\n  - row 4: bad"))
    '2 problem(s) in a.csv: row 3: bad (and 1 more line; --debug shows all)'
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    text = lines[0]
    rest = lines[1:]
    if text.endswith(":") and rest:
        text = f"{text} {rest.pop(0).lstrip('- ')}"
    if rest and not isinstance(err, ModelSyntaxError):  # a syntax error's rest is a caret
        text += f" (and {len(rest)} more line{'s' if len(rest) > 1 else ''}; --debug shows all)"
    return text


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM as SystemExit, so that a half-written --out folder is removed on the way out
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
