"""Tests for the questionnaire map (schema), checked survey reading, and the book's model files."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from bayes_rent.data.survey import (
    SchemaError,
    Survey,
    SurveyError,
    SurveySchema,
    book_schema,
    models_dir,
    read_survey,
)
from bayes_rent.spec.syntax import parse

ANCHORS_ZH = ["完全不同意", "不同意", "一般", "同意", "完全同意"]

SMALL_MAP = {
    "name": "small",
    "scale_points": 5,
    "anchors": {"zh": ANCHORS_ZH},
    "respondent_id": "firm_id",
    "cluster": "cluster",
    "covariates": [
        {"id": "firm_age", "type": "numeric", "min": 0, "max": 150},
        {"id": "firm_size", "type": "ordinal", "labels": {1: "small", 2: "medium", 3: "large"}},
        {"id": "industry", "type": "categorical", "levels": ["electronics", "textiles"]},
    ],
    "constructs": [
        {
            "id": "RE",
            "zh": "关系性嵌入",
            "en": "Relational embeddedness",
            "dimensions": [
                {
                    "id": "re_trust",
                    "items": ["re_tr1", "re_tr2", {"id": "re_tr3", "reverse": True}],
                },
                {"id": "re_info", "items": ["re_in1", "re_in2", "re_in3"]},
            ],
        },
        {
            "id": "IG",
            "items": ["ig_1", "ig_2", {"id": "ig_3", "scale_points": 7, "reverse": True}],
        },
    ],
}
ITEMS = ["re_tr1", "re_tr2", "re_tr3", "re_in1", "re_in2", "re_in3", "ig_1", "ig_2", "ig_3"]


@pytest.fixture
def schema() -> SurveySchema:
    return SurveySchema.from_dict(SMALL_MAP)


@pytest.fixture
def frame() -> pd.DataFrame:
    """Twelve firms in three clusters, with a few missing answers; clean against SMALL_MAP."""
    rng = np.random.default_rng(7)
    n = 12
    out = pd.DataFrame(
        {
            "firm_id": pd.Series([f"F{i:02d}" for i in range(1, n + 1)], dtype="str"),
            "cluster": pd.Series(
                ["苏州工业园区"] * 5 + ["Kunshan IT"] * 4 + ["吴江"] * 3, dtype="str"
            ),
            "firm_age": rng.integers(1, 40, n).astype(float),
            "firm_size": rng.integers(1, 4, n).astype(float),
            "industry": pd.Series(["electronics"] * 9 + ["textiles"] * 3, dtype="str"),
        }
    )
    for item in ITEMS:
        out[item] = rng.integers(1, 8 if item == "ig_3" else 6, n).astype(float)
    out.loc[2, "re_tr2"] = np.nan
    out.loc[5, "ig_1"] = np.nan
    out["note"] = pd.Series(["ok"] * n, dtype="str")
    return out


def write(frame: pd.DataFrame, path, **sav_options) -> None:
    """Write a frame as the file type its suffix names."""
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".sav":
        pyreadstat.write_sav(frame, str(path), **sav_options)
    else:  # pragma: no cover
        raise ValueError(suffix)


def problems_of(excinfo) -> list:
    return excinfo.value.problems


# ---------------------------------------------------------------------- the book's map
def test_book_schema_has_the_books_constructs_and_dimensions():
    schema = book_schema()
    dims = {c.id: [d.id for d in c.dimensions] for c in schema.constructs}
    assert dims == {
        "RE": ["re_trust", "re_info", "re_joint"],
        "SE": ["se_size", "se_central", "se_hetero"],
        "AC": ["ac_acquisition", "ac_assimilation", "ac_transformation", "ac_exploitation"],
        "NC": ["nc_vision", "nc_construction", "nc_relmgmt", "nc_portfolio"],
        "KR": ["kr_tech", "kr_market"],
        "IG": ["ig_perf", "ig_expansion"],
    }
    assert all(3 <= len(d.items) <= 5 for d in schema.dimensions)
    assert len(schema.items) == 69
    assert schema.reverse_keyed == ["re_tr4", "se_ce4", "ac_as3", "nc_rm4", "kr_ma4"]
    assert (schema.respondent_id, schema.cluster) == ("firm_id", "cluster")
    assert {c.id for c in schema.covariates} == {
        "industry",
        "firm_size",
        "firm_age",
        "export_share",
    }
    assert all(item.zh and item.en and item.scale_points == 5 for item in schema.items)
    names = [c.id for c in schema.constructs] + [d.id for d in schema.dimensions] + schema.item_ids
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) for name in names)
    assert all(c.sources for c in schema.constructs)


def test_book_map_says_its_wordings_are_paraphrases():
    head = (models_dir() / "questionnaire.yaml").read_text(encoding="utf-8")[:1500]
    assert "not public" in head and "PARAPHRASES" in head


def test_models_dir_honours_the_environment(tmp_path, monkeypatch):
    (tmp_path / "questionnaire.yaml").write_text(
        "respondent_id: id\nconstructs:\n  - {id: F, items: [a1, a2, a3]}\n", encoding="utf-8"
    )
    monkeypatch.setenv("BAYES_RENT_MODELS", str(tmp_path))
    assert models_dir() == tmp_path
    assert book_schema().item_ids == ["a1", "a2", "a3"]


def test_schema_round_trips_through_to_dict(schema):
    assert SurveySchema.from_dict(schema.to_dict()) == schema
    assert SurveySchema.from_dict(book_schema().to_dict()) == book_schema()


def test_schema_lookups(schema):
    assert schema.item_ids == ITEMS
    assert schema.reverse_keyed == ["re_tr3", "ig_3"]
    assert schema.locate("re_in2") == ("RE", "re_info")
    assert schema.locate("ig_2") == ("IG", None)
    assert schema.item("ig_3").scale_points == 7
    assert schema.construct("IG").second_order is False
    with pytest.raises(KeyError, match="constructs: RE, IG"):
        schema.construct("KR")


# ---------------------------------------------------------------------- schema errors
def write_yaml(tmp_path, text: str):
    path = tmp_path / "map.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_schema_errors_are_all_listed_with_their_place_and_line(tmp_path):
    path = write_yaml(
        tmp_path,
        """\
        respondent_id: firm_id
        scale_points: 5
        constructs:
          - id: RE
            dimensions:
              - id: re_trust
                items:
                  - {id: re_tr1, revers: true}
                  - {id: re tr2}
                  - {id: re_tr1}
          - id: KR
            items: [kr_1]
            dimensions: []
          - id: IG
            items:
              - {id: ig_1, scale_points: 1}
              - {id: ig_2, reverse: "yes please"}
        """,
    )
    with pytest.raises(SchemaError) as excinfo:
        SurveySchema.from_yaml(path)
    problems = excinfo.value.problems
    text = str(excinfo.value)
    assert "map.yaml" in text
    assert len(problems) == 6, problems
    expected = [
        ("line 8", "items[0] 're_tr1'", "unknown key 'revers' (did you mean 'reverse'?)"),
        ("line 9", "items[1] 're tr2'", "is not a valid variable name"),
        ("line 10", "items[2] 're_tr1'", "used twice"),
        ("line 11", "constructs[1] 'KR'", "either 'dimensions' or 'items' (not both)"),
        ("line 16", "items[0] 'ig_1'", "scale_points must be a whole number of at least 2"),
        ("line 17", "items[1] 'ig_2'", "reverse must be true or false"),
    ]
    for line, place, message in expected:
        assert any(line in p and place in p and message in p for p in problems), (line, problems)


def test_schema_top_level_problems(tmp_path):
    path = write_yaml(
        tmp_path,
        """\
        respondent_id: RE
        cluster: 7
        anchors: {zh: [a, b, c]}
        covariates:
          - {id: size, type: ratio}
        constructs:
          - id: RE
            items: [x1, x2]
        """,
    )
    with pytest.raises(SchemaError) as excinfo:
        SurveySchema.from_yaml(path)
    text = "\n".join(excinfo.value.problems)
    assert "cluster must name a column" in text
    assert "3 anchor labels for a 5-point scale" in text
    assert "type 'ratio' is not one of numeric, ordinal, categorical" in text
    assert "id 'RE' is used twice" in text


def test_schema_rejects_broken_yaml_and_missing_constructs(tmp_path):
    with pytest.raises(SchemaError, match="not valid YAML"):
        SurveySchema.from_yaml(write_yaml(tmp_path, "constructs: [\n  - id: RE\n"))
    with pytest.raises(SchemaError, match="no 'constructs'"):
        SurveySchema.from_dict({"respondent_id": "id"})
    with pytest.raises(SchemaError, match="must be a mapping"):
        SurveySchema.from_dict(["not", "a", "map"])
    with pytest.raises(SchemaError, match="cannot read the file"):
        SurveySchema.from_yaml(tmp_path / "absent.yaml")


# ---------------------------------------------------------------------- measurement syntax
def statements(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.lhs, s.op, tuple(t.name for t in s.terms)) for s in parse(text)]


def test_to_lavaan_second_order_parses(schema):
    text = schema.to_lavaan()
    assert statements(text) == [
        ("RE", "=~", ("re_trust", "re_info")),
        ("re_trust", "=~", ("re_tr1", "re_tr2", "re_tr3")),
        ("re_info", "=~", ("re_in1", "re_in2", "re_in3")),
        ("IG", "=~", ("ig_1", "ig_2", "ig_3")),
    ]
    assert text.splitlines()[0] == "# RE: Relational embeddedness / 关系性嵌入"


def test_to_lavaan_first_order_and_subset_parse():
    schema = book_schema()
    flat = statements(schema.to_lavaan(second_order=False, constructs=["NC", "KR"]))
    assert [s[0] for s in flat] == ["NC", "KR"]
    assert flat[0][2] == tuple(i.id for i in schema.construct("NC").items)
    full = parse(schema.to_lavaan())
    assert len(full) == 6 + len(schema.dimensions)


LAV_FILES = {
    "submodel1_re.lav": "RE",
    "submodel2_se.lav": "SE",
    "submodel3_nc.lav": "NC",
    "submodel4_ac.lav": "AC",
}


def labelled(stmt) -> dict[str, str | None]:
    return {t.name: t.modifiers.label for t in stmt.terms}


@pytest.mark.parametrize("name, x", LAV_FILES.items())
def test_submodel_files_parse_and_match_the_map(name, x):
    text = (models_dir() / name).read_text(encoding="utf-8")
    assert text.startswith("# Sub-model")
    parsed = parse(text)
    measurement = [s for s in parsed if s.op == "=~"]
    expected = parse(book_schema().to_lavaan(constructs=[x, "KR", "IG"]))
    assert statements_of(measurement) == statements_of(expected)
    regressions = {s.lhs: labelled(s) for s in parsed if s.op == "~"}
    assert regressions == {"KR": {x: "a"}, "IG": {"KR": "b", x: "c"}}
    defined = {s.lhs: s.expression.replace(" ", "") for s in parsed if s.op == ":="}
    assert defined == {"indirect": "a*b", "total": "c+a*b"}


def statements_of(parsed) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.lhs, s.op, tuple(t.name for t in s.terms)) for s in parsed]


def test_full_model_file():
    text = (models_dir() / "full_model.lav").read_text(encoding="utf-8")
    parsed = parse(text)
    measurement = [s for s in parsed if s.op == "=~"]
    assert statements_of(measurement) == statements_of(
        parse(book_schema().to_lavaan(constructs=["RE", "SE", "NC", "AC", "KR", "IG"]))
    )
    regressions = {s.lhs: labelled(s) for s in parsed if s.op == "~"}
    xs = ["RE", "SE", "NC", "AC"]
    assert regressions == {
        "KR": {x: f"a_{x.lower()}" for x in xs},
        "IG": {"KR": "b"} | {x: f"c_{x.lower()}" for x in xs},
    }
    defined = {s.lhs: s.expression.replace(" ", "") for s in parsed if s.op == ":="}
    for x in ("re", "se", "nc", "ac"):
        assert defined[f"ind_{x}"] == f"a_{x}*b"
        assert defined[f"total_{x}"] == f"c_{x}+a_{x}*b"
    assert {s.op for s in parsed} <= {"=~", "~", "~~", ":="}


# ---------------------------------------------------------------------- reading: round trip
def test_csv_xlsx_and_sav_read_back_identically(schema, frame, tmp_path):
    labels = {item: {float(k): a for k, a in enumerate(ANCHORS_ZH, 1)} for item in ITEMS}
    surveys = {}
    for suffix in (".csv", ".xlsx", ".sav"):
        path = tmp_path / f"survey{suffix}"
        write(frame, path, variable_value_labels=labels)
        surveys[suffix] = read_survey(path, schema)
    for suffix, survey in surveys.items():
        assert isinstance(survey, Survey)
        pd.testing.assert_frame_equal(survey.data, frame, check_dtype=True, obj=suffix)
        assert survey.file == f"survey{suffix}"
    assert surveys[".sav"].value_labels["re_tr1"] == labels["re_tr1"]
    assert surveys[".csv"].value_labels == {}
    for column in ITEMS + ["firm_age", "firm_size"]:
        assert surveys[".csv"].data[column].dtype == np.float64
    for column in ["firm_id", "cluster", "industry", "note"]:
        assert pd.api.types.is_string_dtype(surveys[".csv"].data[column].dtype)
    np.testing.assert_array_equal(surveys[".csv"].file_rows, np.arange(2, 14))
    np.testing.assert_array_equal(surveys[".sav"].file_rows, np.arange(1, 13))


def test_numeric_ids_read_alike_from_every_format(schema, frame, tmp_path):
    frame = frame.assign(firm_id=np.arange(101, 113).astype(float))
    reads = []
    for suffix in (".csv", ".xlsx", ".sav"):
        path = tmp_path / f"ids{suffix}"
        write(frame, path)
        reads.append(read_survey(path, schema).data["firm_id"].tolist())
    assert reads[0] == reads[1] == reads[2] == [str(i) for i in range(101, 113)]


def test_dataframe_input_names_rows_by_index(schema, frame):
    frame.index = [f"r{i}" for i in range(len(frame))]
    frame.loc["r4", "re_in1"] = 0
    with pytest.raises(SurveyError) as excinfo:
        read_survey(frame, schema)
    assert str(excinfo.value.problems[0]) == (
        "<DataFrame>, index r4, column 're_in1': answer 0 is outside the 1-5 scale"
    )


# ---------------------------------------------------------------------- reading: bad input
def corrupt(kind: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, int | None, str]:
    """A frame with one problem of ``kind``: (frame, 0-based frame row or None, column)."""
    frame = frame.copy()
    if kind == "out_of_range":
        frame.loc[3, "re_tr2"] = 6
        return frame, 3, "re_tr2"
    if kind == "not_integer":
        frame.loc[4, "re_in3"] = 2.5
        return frame, 4, "re_in3"
    if kind == "not_numeric":
        frame["ig_2"] = frame["ig_2"].astype(object)
        frame.loc[7, "ig_2"] = "同意"
        return frame, 7, "ig_2"
    if kind == "duplicate_id":
        frame.loc[9, "firm_id"] = frame.loc[1, "firm_id"]
        return frame, 9, "firm_id"
    if kind == "single_firm_cluster":
        frame.loc[11, "cluster"] = "Zhenhu embroidery"
        return frame, 11, "cluster"
    if kind == "missing_cluster":
        frame.loc[6, "cluster"] = None
        return frame, 6, "cluster"
    if kind == "missing_column":
        return frame.drop(columns="re_in2"), None, "re_in2"
    if kind == "unknown_column":
        frame["re_tr4"] = 3.0
        return frame, "header", "re_tr4"
    raise AssertionError(kind)


TEXT_KINDS = [
    "out_of_range",
    "not_integer",
    "not_numeric",
    "duplicate_id",
    "single_firm_cluster",
    "missing_cluster",
    "missing_column",
    "unknown_column",
]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_bad_spreadsheet_names_file_row_and_column(kind, suffix, schema, frame, tmp_path):
    bad, at, column = corrupt(kind, frame)
    path = tmp_path / f"bad{suffix}"
    write(bad, path)
    with pytest.raises(SurveyError) as excinfo:
        read_survey(path, schema)
    kinds = [p.kind for p in problems_of(excinfo)]
    if kind == "duplicate_id":  # both rows that share the id are named
        assert kinds == ["duplicate_id", "duplicate_id"]
        assert [p.row for p in problems_of(excinfo)] == [3, 11]
    else:
        assert kinds == [kind]
    problem = problems_of(excinfo)[-1]
    assert problem.file == f"bad{suffix}" and problem.column == column
    expected_row = {None: None, "header": 1}.get(at, at + 2 if isinstance(at, int) else None)
    assert problem.row == expected_row
    message = str(excinfo.value)
    assert f"bad{suffix}" in message and repr(column) in message
    if expected_row is not None:
        assert f"row {expected_row}," in message


@pytest.mark.parametrize(
    "kind", ["out_of_range", "not_integer", "duplicate_id", "single_firm_cluster", "missing_column"]
)
def test_bad_spss_file_names_case_and_column(kind, schema, frame, tmp_path):
    bad, at, column = corrupt(kind, frame)
    path = tmp_path / "bad.sav"
    write(bad, path)
    with pytest.raises(SurveyError) as excinfo:
        read_survey(path, schema)
    problem = problems_of(excinfo)[-1]
    assert problem.kind == kind and problem.column == column
    if at is None:
        assert problem.row is None
    else:
        assert (problem.row_label, problem.row) == ("case", at + 1)
        assert f"bad.sav, case {at + 1}, column {column!r}" in str(excinfo.value)


def test_every_problem_is_listed_in_row_order(schema, frame, tmp_path):
    bad = frame.copy().astype({"re_tr1": object})
    bad.loc[8, "re_tr1"] = "n/a?"
    bad.loc[1, "ig_3"] = 8  # a 7-point item
    bad.loc[4, "re_in1"] = 1.5
    bad.loc[2, "firm_age"] = 200
    bad.loc[3, "firm_size"] = 4
    bad.loc[5, "industry"] = "chemicals"
    bad = bad.rename(columns={"re_in2": "RE_IN2"})
    path = tmp_path / "many.csv"
    write(bad, path)
    with pytest.raises(SurveyError) as excinfo:
        read_survey(path, schema)
    got = [(p.kind, p.row, p.column) for p in problems_of(excinfo)]
    assert got == [
        ("unknown_column", 1, "RE_IN2"),
        ("missing_column", None, "re_in2"),
        ("out_of_range", 3, "ig_3"),
        ("out_of_range", 4, "firm_age"),
        ("out_of_range", 5, "firm_size"),
        ("not_integer", 6, "re_in1"),
        ("unknown_level", 7, "industry"),
        ("not_numeric", 10, "re_tr1"),
    ]
    message = str(excinfo.value)
    assert message.startswith("8 problem(s) in many.csv")
    assert "is it column 'RE_IN2'?" in message
    assert "answer 8 is outside the 1-7 scale" in message
    frame_of_problems = excinfo.value.to_frame()
    assert list(frame_of_problems.columns) == [
        "file",
        "row_label",
        "row",
        "column",
        "kind",
        "message",
    ]
    assert len(frame_of_problems) == 8


def test_item_like_columns_are_refused_but_other_columns_pass(schema, frame, tmp_path):
    frame = frame.assign(re_tr9=1.0, remarks="x", re_in_1=2.0)
    path = tmp_path / "extra.csv"
    write(frame, path)
    with pytest.raises(SurveyError) as excinfo:
        read_survey(path, schema)
    assert {p.column for p in problems_of(excinfo)} == {"re_tr9", "re_in_1"}
    ok = tmp_path / "ok.csv"
    write(frame.drop(columns=["re_tr9", "re_in_1"]), ok)
    survey = read_survey(ok, schema)
    assert survey.report().other_columns == ["note", "remarks"]
    assert survey.data["remarks"].tolist() == ["x"] * 12


def test_label_text_gets_a_hint(schema, frame, tmp_path):
    bad, _, _ = corrupt("not_numeric", frame)
    path = tmp_path / "label.csv"
    write(bad, path)
    with pytest.raises(SurveyError, match="label of scale point 4; enter the number"):
        read_survey(path, schema)


def test_duplicated_and_unnamed_columns(schema, frame, tmp_path):
    path = tmp_path / "dup.csv"
    text = frame.to_csv(index=False).splitlines()
    text[0] = text[0].replace("re_in1", "re_tr1")  # two re_tr1 columns, no re_in1
    text = [line + ",5" for line in text]  # an extra column with answers and no header
    text[0] = text[0][:-2] + ","
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(SurveyError) as excinfo:
        read_survey(path, schema)
    got = {(p.kind, p.column) for p in problems_of(excinfo)}
    assert ("duplicate_column", "re_tr1") in got
    assert ("missing_column", "re_in1") in got
    assert any(kind == "unnamed_column" for kind, _ in got)


def test_unreadable_inputs(schema, frame, tmp_path):
    with pytest.raises(SurveyError, match="no such file"):
        read_survey(tmp_path / "absent.csv", schema)
    (tmp_path / "survey.json").write_text("{}")
    with pytest.raises(SurveyError, match="unknown file type '.json'"):
        read_survey(tmp_path / "survey.json", schema)
    write(frame, tmp_path / "s.xlsx")
    with pytest.raises(SurveyError, match="no sheet 'Answers'"):
        read_survey(tmp_path / "s.xlsx", schema, sheet="Answers")
    write(frame, tmp_path / "s.csv")
    with pytest.raises(SurveyError, match="Excel files only"):
        read_survey(tmp_path / "s.csv", schema, sheet=0)


# ---------------------------------------------------------------------- missing codes, reverse
def test_missing_codes_become_nan_and_are_counted(schema, frame, tmp_path):
    coded = frame.copy().astype({"re_in1": object})
    coded.loc[0, "re_tr1"] = 9
    coded.loc[1, "re_tr1"] = 99
    coded.loc[2, "ig_3"] = 99
    coded.loc[3, "re_in1"] = "refused"
    path = tmp_path / "coded.csv"
    write(coded, path)
    with pytest.raises(SurveyError) as excinfo:  # without the codes they are errors
        read_survey(path, schema)
    assert [p.kind for p in problems_of(excinfo)] == ["out_of_range"] * 3 + ["not_numeric"]

    survey = read_survey(path, schema, missing_codes=[9, 99, "refused"])
    data = survey.data
    assert data.loc[[0, 1], "re_tr1"].isna().all() and np.isnan(data.loc[2, "ig_3"])
    assert np.isnan(data.loc[3, "re_in1"])
    report = survey.report()
    assert report.codes_turned_missing == {9: 1, 99: 2, "refused": 1}
    assert report.items.loc["re_tr1", "from_codes"] == 2
    assert report.items.loc["re_tr2", ["missing", "blank", "from_codes"]].tolist() == [1, 1, 0]
    text = str(report)
    assert "code 99 turned missing: 2" in text and "respondents: 12" in text
    assert "from missing codes: 4" in text


def test_a_missing_code_inside_the_scale_is_refused(schema, frame, tmp_path):
    write(frame, tmp_path / "s.csv")
    with pytest.raises(ValueError, match="missing code 7 is a valid answer on the 7-point scale"):
        read_survey(tmp_path / "s.csv", schema, missing_codes=[7])


def test_spss_user_missing_values_are_counted_not_hidden(schema, frame, tmp_path):
    coded = frame.copy()
    coded.loc[4, "re_in3"] = 9
    path = tmp_path / "declared.sav"
    write(coded, path, missing_ranges={"re_in3": [9]})
    survey = read_survey(path, schema)
    assert np.isnan(survey.data.loc[4, "re_in3"])
    assert survey.report().items.loc["re_in3", "declared_missing"] == 1
    assert "declared missing in the file: 1" in str(survey.report())


def test_reverse_recodes_only_reverse_keyed_items(schema, frame, tmp_path):
    write(frame, tmp_path / "s.csv")
    plain = read_survey(tmp_path / "s.csv", schema).data
    flipped = read_survey(tmp_path / "s.csv", schema, reverse=True)
    pd.testing.assert_series_equal(flipped.data["re_tr3"], 6 - plain["re_tr3"])
    pd.testing.assert_series_equal(flipped.data["ig_3"], 8 - plain["ig_3"])  # 7-point item
    others = [c for c in plain.columns if c not in ("re_tr3", "ig_3")]
    pd.testing.assert_frame_equal(flipped.data[others], plain[others])
    assert flipped.reversed and flipped.report().items["reversed"].sum() == 2
    assert np.isnan(flipped.data.loc[2, "re_tr2"])  # missing stays missing


# ---------------------------------------------------------------------- files as people make them
def test_blank_rows_are_skipped_and_rows_keep_their_numbers(schema, frame, tmp_path):
    lines = frame.to_csv(index=False).splitlines()
    lines.insert(3, "," * (frame.shape[1] - 1))  # an empty row (as Excel exports it) as row 4
    path = tmp_path / "blank.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    survey = read_survey(path, schema)
    assert len(survey.data) == 12 and survey.report().blank_rows == 1
    bad = frame.copy()
    bad.loc[4, "re_tr1"] = 0
    lines = bad.to_csv(index=False).splitlines()
    lines.insert(3, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SurveyError) as excinfo:
        read_survey(path, schema)
    assert problems_of(excinfo)[0].row == 7  # frame row 4 -> file row 6, +1 for the blank row


def test_gb18030_csv_from_a_chinese_excel(schema, frame, tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes(frame.to_csv(index=False).encode("gb18030"))
    survey = read_survey(path, schema)
    assert survey.report().encoding == "gb18030"
    assert survey.data["cluster"].iloc[0] == "苏州工业园区"


def test_excel_sheet_by_name_and_header_below_blank_rows(schema, frame, tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"说明": ["问卷数据"]}).to_excel(writer, sheet_name="readme", index=False)
        frame.to_excel(writer, sheet_name="answers", index=False, startrow=2)
    survey = read_survey(path, schema, sheet="answers")
    pd.testing.assert_frame_equal(survey.data, frame)
    assert survey.report().sheet == "answers"
    np.testing.assert_array_equal(survey.file_rows, np.arange(4, 16))


def test_report_lists_clusters_and_missing(schema, frame, tmp_path):
    write(frame, tmp_path / "s.csv")
    report = read_survey(tmp_path / "s.csv", schema).report()
    assert report.n_rows == 12
    assert report.cluster_sizes.to_dict() == {"苏州工业园区": 5, "Kunshan IT": 4, "吴江": 3}
    assert report.items["missing"].sum() == 2
    assert report.items.loc["ig_1", "construct"] == "IG"
    assert report.items.loc["re_in1", "dimension"] == "re_info"
    assert report.items["out_of_range"].sum() == 0
    assert "missing per item: re_tr2 1, ig_1 1" in str(report)
