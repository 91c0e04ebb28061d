"""Bad input, refused early and clearly: one table of cases across the API, the command line,
files, the questionnaire reader and the grey functions.

Every case names the error (or warning) class it must end in and a fragment of its message.
API cases must be refused before any model is compiled: the compile and sampling entry points
are replaced by functions that fail the test if they are reached.

:func:`bayes_rent.validation.validate_fit_request` is the first call of
:meth:`bayes_rent.model.Model.fit`; the API cases are also checked against it directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_rent as br
from bayes_rent import grey
from bayes_rent.data.output import atomic_output_dir, remove_stale_siblings
from bayes_rent.data.survey import SurveyError, SurveySchema, read_survey, read_table
from bayes_rent.data.survey.schema import SchemaError
from bayes_rent.errors import (
    BayesRentError,
    DataError,
    DataWarning,
    IdentificationError,
    OptionError,
)
from bayes_rent.spec.partable import build_partable
from bayes_rent.spec.syntax import ModelSyntaxError
from bayes_rent.validation import validate_fit_request

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
MODEL = "f =~ x1 + x2 + x3"


def likert(n: int = 40, seed: int = 0, items: int = 3) -> pd.DataFrame:
    """Correlated 1-5 answers to items x1..x<items>."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    cols = {f"x{j}": np.clip(np.round(3 + f + rng.normal(size=n)), 1, 5) for j in range(1, 4)}
    cols = {k: v for k, v in list(cols.items())[:items]}
    return pd.DataFrame(cols)


def _with(**changes) -> pd.DataFrame:
    d = likert()
    for (column, row), value in changes.items():
        d.loc[row, column] = value
    return d


def _cell(column: str, row: int, value) -> pd.DataFrame:
    d = likert().astype(object) if isinstance(value, str) else likert()
    d.loc[row, column] = value
    return d


def _duplicated() -> pd.DataFrame:
    d = likert()
    return pd.concat([d, d[["x2"]]], axis=1)


# (id, syntax, data, keyword arguments, error class, message fragment, needs wiring)
API_CASES = [
    ("draws negative", MODEL, likert, dict(draws=-5), OptionError, "draws must be", True),
    ("draws zero", MODEL, likert, dict(draws=0), OptionError, "draws must be", True),
    ("draws fraction", MODEL, likert, dict(draws=1.5), OptionError, "draws must be", True),
    ("tune negative", MODEL, likert, dict(tune=-1), OptionError, "tune must be", True),
    ("chains zero", MODEL, likert, dict(chains=0), OptionError, "chains must be", True),
    ("chains text", MODEL, likert, dict(chains="4"), OptionError, "chains must be", True),
    ("seed text", MODEL, likert, dict(seed="abc"), OptionError, "seed must be", True),
    ("seed negative", MODEL, likert, dict(seed=-1), OptionError, "seed must be >= 0", True),
    ("target_accept 1.5", MODEL, likert, dict(target_accept=1.5), OptionError,
     "target_accept must lie", True),
    ("target_accept 0", MODEL, likert, dict(target_accept=0), OptionError,
     "target_accept must lie", True),
    ("unknown sampler", MODEL, likert, dict(sampler="stan"), OptionError,
     "sampler must be one of", True),
    ("unknown pooling", MODEL, likert, dict(pooling="full"), OptionError,
     "pooling must be", True),
    ("unknown group column", MODEL, likert, dict(group="nope"), DataError,
     "group column 'nope'", False),
    ("unknown cluster column", MODEL, likert, dict(cluster="nope"), DataError,
     "cluster column 'nope'", True),
    ("cluster ids of wrong length", MODEL, likert, dict(cluster=[1, 2, 3]), DataError,
     "3 ids given for 40 rows", True),
    ("ordered item not in model", MODEL, likert, dict(ordered=["x9"]), OptionError,
     "not observed variables", True),
    ("infinite value", MODEL, lambda: _cell("x2", 7, np.inf), {}, DataError,
     "column 'x2' holds infinite values at row(s) [7]", True),
    ("minus infinity", MODEL, lambda: _cell("x1", 3, -np.inf), {}, DataError,
     "infinite values", True),
    ("duplicated column names", MODEL, _duplicated, {}, DataError,
     "['x2'] occur more than once", True),
    ("data not a DataFrame", MODEL, lambda: likert().to_numpy().tolist(), {}, DataError,
     "must be a pandas DataFrame", True),
    ("column absent, near miss", MODEL,
     lambda: likert().rename(columns={"x3": "X3"}), {}, DataError, "'x3'", False),
    ("text in a numeric column", MODEL, lambda: _cell("x1", 4, "n/a?"), {}, DataError,
     "not numeric", False),
    ("constant column", MODEL, lambda: likert().assign(x2=3.0), {}, DataError,
     "constant", False),
    ("column without values", MODEL, lambda: likert().assign(x3=np.nan), {}, DataError,
     "has no values", False),
    ("fewer rows than variables", MODEL,
     lambda: pd.DataFrame({"x1": [1, 2, 3], "x2": [2, 1, 3], "x3": [3, 1, 2]}), {}, DataError,
     "respondents", False),
    ("cluster column with a gap", MODEL,
     lambda: likert().assign(k=["a", "b"] * 19 + [None, "a"]), dict(cluster="k"), DataError,
     "cluster column 'k' has missing values in rows [38]", True),
    ("syntax error", "f =~ x1 + x2 +", likert, {}, ModelSyntaxError, "line 1, column", False),
    ("contradictory fixed values", "f =~ x1 + 0.8*x2 + x3\nf =~ 0.5*x2", likert, {},
     ModelSyntaxError, "contradictory fixed value for 'f =~ x2'", False),
    ("restated loading fixes a label", "f =~ x1 + a*x2 + a*x3\nf =~ 0.5*x2", likert, {},
     ModelSyntaxError, "contradictory restatement of 'f =~ x2'", False),
    ("contradictory labels", "f =~ x1 + a*x2 + x3\nf =~ b*x2", likert, {},
     ModelSyntaxError, "contradictory label", False),
    ("factor without a scale", "f =~ NA*x1 + x2 + x3", likert, {}, IdentificationError,
     "'f' has no scale", True),
    ("marker restated as 0", "f =~ x1 + x2 + x3\nf =~ 0*x1", likert, {}, IdentificationError,
     "has no scale", True),
    ("two-indicator factor alone", "f =~ x1 + x2", lambda: likert(items=2), {},
     IdentificationError, "not identified", True),
]

# cases only the validator sees (Model.fit has no such argument)
VALIDATOR_ONLY = [
    ("hdi_prob 7", MODEL, likert, dict(hdi_prob=7), OptionError, "hdi_prob must lie"),
    ("answer outside the declared scale", MODEL, lambda: _cell("x3", 5, 7.0),
     dict(scale=(1, 5)), DataError, "column 'x3' has answers ['7'] outside its 1-5 scale"),
]


@pytest.fixture
def no_compile(monkeypatch):
    """Fail the test if a model is built, compiled or sampled."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built or sampled before the input was refused")

    import pymc

    import bayes_rent.model
    import bayes_rent.sampling

    monkeypatch.setattr(bayes_rent.sampling, "run_sampler", refuse)
    if hasattr(bayes_rent.model, "run_sampler"):
        monkeypatch.setattr(bayes_rent.model, "run_sampler", refuse)
    monkeypatch.setattr(pymc.Model, "__init__", refuse)
    try:
        import nutpie
    except ImportError:  # pragma: no cover
        return
    monkeypatch.setattr(nutpie, "compile_pymc_model", refuse)


def _api_params() -> list:
    return [
        pytest.param(*case[1:-1], id=case[0])
        for case in API_CASES
    ]


@pytest.mark.parametrize(("syntax", "make", "kwargs", "error", "fragment"), _api_params())
def test_api_refuses_before_compiling(no_compile, syntax, make, kwargs, error, fragment):
    data = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error) as info:
            br.sem(syntax, data, progressbar=False, **kwargs)
    assert isinstance(info.value, BayesRentError)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("syntax", "make", "kwargs", "error", "fragment"),
    [pytest.param(*c[1:6], id=c[0]) for c in API_CASES] +
    [pytest.param(*c[1:], id=c[0]) for c in VALIDATOR_ONLY],
)
def test_validator_refuses(syntax, make, kwargs, error, fragment):
    data = make()
    with pytest.raises(error) as info:
        validate_fit_request(build_partable(syntax), data, **kwargs)
    assert isinstance(info.value, BayesRentError)
    assert fragment in str(info.value)


# ----------------------------------------------------------------------------- warnings
@pytest.mark.parametrize(
    ("value", "fragment"),
    [(-99.0, "missing_codes=[-99]"), (999.0, "missing_codes=[999]"), (9.0, "holds 9 at row(s)"),
     (-9.0, "--missing-codes -9")],
    ids=["-99", "999", "9 on a 1-5 item", "-9"],
)
def test_missing_value_codes_are_flagged(value, fragment):
    data = _cell("x2", 11, value)
    with pytest.warns(DataWarning, match="column 'x2'") as caught:
        validate_fit_request(build_partable(MODEL), data)
    assert fragment in str(caught[0].message)
    # declared, the code is not suspicious any more
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        validate_fit_request(build_partable(MODEL), data, missing_codes=[value])


def test_clean_data_give_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        validate_fit_request(build_partable(MODEL), likert())
        validate_fit_request(
            build_partable("ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem60 ~ ind60"),
            br.datasets.political_democracy(),
        )


# ----------------------------------------------------------------------------- files
@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = likert()
    d.to_csv(tmp_path / "good.csv", index=False)
    (tmp_path / "m.lav").write_text(MODEL + "\n")
    (tmp_path / "bad.lav").write_text("f =~ x1 + x2 +\n\ng ~ \n")
    (tmp_path / "noscale.lav").write_text("f =~ NA*x1 + x2 + x3\n")
    (tmp_path / "m4.lav").write_text("f =~ x1 + x2 + x4\n")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / "empty.csv").write_text("\n\n")
    inf = d.astype(object)
    inf.loc[4, "x2"] = "inf"
    inf.to_csv(tmp_path / "inf.csv", index=False)
    dup = pd.concat([d, d[["x1"]]], axis=1)
    dup.to_csv(tmp_path / "dup.csv", index=False)
    d.to_csv(tmp_path / "semi.csv", index=False, sep=";", decimal=",")
    (tmp_path / "noheader.csv").write_text("x1,x2,x3,\n1,2,3,4\n2,3,4,5\n")
    (tmp_path / "out_full").mkdir()
    (tmp_path / "out_full" / "summary.csv").write_text("earlier results\n")
    schema = {"respondent_id": "id", "scale_points": 5,
              "constructs": [{"id": "F", "items": ["x1", "x2", "x3"]}]}
    import yaml

    (tmp_path / "q.yaml").write_text(yaml.safe_dump(schema))
    survey = d.assign(id=range(1, len(d) + 1))
    survey.loc[9, "x3"] = 6
    survey.to_csv(tmp_path / "survey.csv", index=False)
    return tmp_path


# (id, arguments after "fit", message fragment)
CLI_CASES = [
    ("draws negative", ["m.lav", "--data", "good.csv", "--draws", "-5"], "draws must be"),
    ("chains zero", ["m.lav", "--data", "good.csv", "--chains", "0"], "chains must be"),
    ("hdi-prob 7", ["m.lav", "--data", "good.csv", "--hdi-prob", "7"], "hdi_prob must lie"),
    ("target-accept 1.5", ["m.lav", "--data", "good.csv", "--target-accept", "1.5"],
     "target_accept must lie"),
    ("data file missing", ["m.lav", "--data", "nowhere.csv"], "neither a file nor"),
    ("model file missing", ["nowhere.lav", "--data", "good.csv"], "model file"),
    ("syntax error", ["bad.lav", "--data", "good.csv"], "bad.lav: line 3, column"),
    ("not identified", ["noscale.lav", "--data", "good.csv"], "'f' has no scale"),
    ("out exists", ["m.lav", "--data", "good.csv", "--out", "out_full"],
     "already exists; pass --force"),
    ("cluster column unknown", ["m.lav", "--data", "good.csv", "--cluster", "nope"],
     "cluster column 'nope'"),
    ("infinite value in a file", ["m.lav", "--data", "inf.csv"],
     "inf.csv: column 'x2' holds infinite values at row(s) [6]"),
    ("corrupt workbook", ["m.lav", "--data", "broken.xlsx"], "cannot read the workbook"),
    ("unknown file type", ["m.lav", "--data", "data.json"], "unknown file type '.json'"),
    ("empty file", ["m.lav", "--data", "empty.csv"], "the file is empty"),
    ("duplicated column in a file", ["m.lav", "--data", "dup.csv"], "occur more than once"),
    ("answers without a header", ["m.lav", "--data", "noheader.csv"],
     "column D has answers but no header"),
    # read with the sniffed separator: the columns are x1, x2, x3, not one 'x1;x2;x3'
    ("semicolon file, model column absent", ["m4.lav", "--data", "semi.csv"],
     "columns present: ['x1', 'x2', 'x3']"),
    ("survey answer out of scale", ["m.lav", "--data", "survey.csv", "--survey", "q.yaml"],
     "survey.csv, row 11, column 'x3': answer 6 is outside the 1-5 scale"),
    ("questionnaire file missing", ["m.lav", "--data", "good.csv", "--survey", "none.yaml"],
     "cannot read the file"),
]


def run_cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bayes_rent.cli", "fit", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.parametrize(("args", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CLI_CASES])
def test_cli_refuses_in_one_line(files, args, fragment):
    out = files / "out_new"
    extra = [] if "--out" in args else ["--out", str(out)]
    result = run_cli([*args, *extra, "--no-progress"], files)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("bayes-rent: ")
    assert fragment in lines[0]
    assert not out.exists()
    assert (files / "out_full" / "summary.csv").read_text() == "earlier results\n"
    assert not [p for p in files.iterdir() if p.name.endswith(".partial")]


def test_cli_debug_shows_the_traceback(files):
    result = run_cli(["m.lav", "--data", "good.csv", "--draws", "-5", "--debug"], files)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "OptionError" in result.stderr


# ----------------------------------------------------------------------------- readers
READER_CASES = [
    ("corrupt workbook", "broken.xlsx", "cannot read the workbook"),
    ("unknown suffix", "data.json", "unknown file type"),
    ("empty csv", "empty.csv", "the file is empty"),
    ("no such file", "nowhere.csv", "no such file"),
    ("unnamed column", "noheader.csv", "has answers but no header"),
]


@pytest.mark.parametrize(("name", "fragment"), [pytest.param(*c[1:], id=c[0])
                                               for c in READER_CASES])
def test_reader_refuses(files, name, fragment):
    with pytest.raises(SurveyError, match=fragment) as info:
        read_table(files / name)
    assert isinstance(info.value, BayesRentError)


def test_semicolon_csv_with_decimal_commas_is_sniffed(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("x1;x2;x3\n1,5;2;3\n2;3,25;4\n", encoding="utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["x1", "x2", "x3"]
    assert frame["x1"].tolist() == [1.5, 2.0] and frame["x2"].tolist() == [2.0, 3.25]
    assert frame.index.tolist() == [2, 3]  # file rows, header on row 1


QUESTIONNAIRE_CASES = [
    ("answer outside the scale", {"x2": 6}, "answer 6 is outside the 1-5 scale"),
    ("text answer", {"x1": "agree"}, "not a number"),
    ("fractional answer", {"x3": 2.5}, "not a whole scale point"),
]


@pytest.mark.parametrize(("cells", "fragment"), [pytest.param(*c[1:], id=c[0])
                                                for c in QUESTIONNAIRE_CASES])
def test_questionnaire_refuses(tmp_path, cells, fragment):
    schema = SurveySchema.from_dict({"respondent_id": "id",
                                     "constructs": [{"id": "F", "items": ["x1", "x2", "x3"]}]})
    d = likert().astype(object).assign(id=range(1, 41))
    for column, value in cells.items():
        d.loc[4, column] = value
    d.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(SurveyError) as info:
        read_survey(tmp_path / "s.csv", schema)
    assert "s.csv, row 6" in str(info.value)  # file row: header row 1, data from row 2
    assert fragment in str(info.value)


def test_questionnaire_map_errors_are_bayes_rent_errors():
    with pytest.raises(SchemaError) as info:
        SurveySchema.from_dict({"constructs": []})
    assert isinstance(info.value, BayesRentError)


# ----------------------------------------------------------------------------- grey
GREY_CASES = [
    ("weights not summing to 1", lambda: grey.user_weights([0.3, 0.3, 0.3]), grey.GreyWarning,
     "they were rescaled"),
    ("subsystem weights rescaled",
     lambda: grey.subsystem_index(pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 0.0]}),
                                  {"a": 3, "b": 1}),
     grey.GreyWarning, "sum to 4, not 1"),
    ("all-zero subsystem scores",
     lambda: grey.coupling_coordination(pd.DataFrame({"s1": [0.0, 0.3], "s2": [0.0, 0.5]},
                                                     index=["firm_a", "firm_b"])),
     grey.GreyWarning, "(firm_a)"),
    ("one firm in grey coupling",
     lambda: grey.grey_coupling(pd.DataFrame({"a": [1.0], "b": [2.0]}, index=["firm_a"]),
                                pd.DataFrame({"c": [1.5]}, index=["firm_a"])),
     ValueError, "firm_a"),
    ("one firm, z-scores",
     lambda: grey.normalize(pd.DataFrame({"a": [1.0], "b": [2.0]}), "zscore"), ValueError,
     "at least 2 samples"),
    ("system weights rescaled",
     lambda: grey.coupling_coordination([0.2, 0.4], weights=[2, 2]), grey.GreyWarning,
     "rescaled"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), [pytest.param(*c[1:], id=c[0])
                                                         for c in GREY_CASES])
def test_grey_says_what_it_did(call, error, fragment):
    if issubclass(error, Warning):
        with pytest.warns(error) as caught:
            call()
        assert any(fragment in str(w.message) for w in caught), [str(w.message) for w in caught]
    else:
        with pytest.raises(error) as info:
            call()
        assert fragment in str(info.value)


def test_grey_weights_summing_to_one_are_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error", grey.GreyWarning)
        grey.user_weights([0.5, 0.25, 0.25])
        grey.coupling_coordination([0.2, 0.4], weights=[0.5, 0.5])


# ----------------------------------------------------------------------------- --out
WRITER = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from bayes_rent.cli import _terminate
    from bayes_rent.data.output import atomic_output_dir

    signal.signal(signal.SIGTERM, _terminate)
    with atomic_output_dir(sys.argv[1], force=True) as tmp:
        (tmp / "summary.csv").write_text("new, half written")
        print("writing", flush=True)
        time.sleep(60)
        (tmp / "posterior.nc").write_text("never reached")
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_writer_leaves_the_old_output(tmp_path, sig):
    out = tmp_path / "results"
    out.mkdir()
    (out / "summary.csv").write_text("earlier results")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv"]
    assert (out / "summary.csv").read_text() == "earlier results"
    if sig == signal.SIGTERM:  # a catchable signal also removes the temporary sibling
        assert [p.name for p in tmp_path.iterdir()] == ["results"]
    else:  # SIGKILL cannot be caught: the sibling stays until the next write to the folder
        left = [p.name for p in tmp_path.iterdir() if p.name != "results"]
        assert len(left) == 1 and left[0].endswith(".partial"), left
        with atomic_output_dir(out, force=True) as tmp:
            (tmp / "summary.csv").write_text("new results")
        assert [p.name for p in tmp_path.iterdir()] == ["results"]
        assert (out / "summary.csv").read_text() == "new results"


def test_a_live_writers_sibling_is_left_alone(tmp_path):
    out = tmp_path / "results"
    live = tmp_path / f".results.{os.getpid()}.abcd1234.partial"
    dead = tmp_path / ".results.999999999.abcd1234.partial"  # above any Linux pid_max
    other = tmp_path / ".results.v2.999999999.abcd1234.partial"  # another folder's
    for folder in (live, dead, other):
        folder.mkdir()
    assert remove_stale_siblings(out) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_completed_output_replaces_the_old_one_only_with_force(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "old.csv").write_text("old")
    with pytest.raises(OptionError, match="already exists"):
        with atomic_output_dir(out):
            pass
    with atomic_output_dir(out, force=True) as tmp:
        (tmp / "new.csv").write_text("new")
        assert (out / "old.csv").exists()  # the old output stays until the new one is done
    assert sorted(p.name for p in out.iterdir()) == ["new.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_case_table_is_large_enough():
    n = (len(API_CASES) + len(VALIDATOR_ONLY) + len(CLI_CASES) + len(READER_CASES)
         + len(QUESTIONNAIRE_CASES) + len(GREY_CASES) + 4)  # + the missing-code warnings
    assert n >= 50, n
