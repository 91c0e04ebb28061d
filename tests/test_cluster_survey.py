"""Tests for the generating model and the shipped (simulated) cluster survey."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from bayes_rent.data import simulation
from bayes_rent.data.simulation import (
    BOOK_PATHS,
    SEED,
    SUZHOU_CLUSTERS,
    allocate_clusters,
    simulate_cluster_survey,
)
from bayes_rent.data.survey import SurveySchema, book_schema, models_dir, read_survey
from bayes_rent.spec.syntax import parse

# The module, not the function of the same name that bayes_rent.data.datasets exports.
shipped = importlib.import_module("bayes_rent.data.datasets.cluster_survey")


@pytest.fixture(scope="module")
def schema() -> SurveySchema:
    return book_schema()


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return shipped.cluster_survey()


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return shipped.cluster_survey_truth()


# ---------------------------------------------------------------------- the shipped files
def test_regenerating_with_the_seed_reproduces_the_shipped_files(tmp_path):
    data_path, truth_path = shipped.regenerate(tmp_path)
    assert data_path.read_bytes() == shipped.cluster_survey_path().read_bytes()
    assert truth_path.read_bytes() == (shipped.DATA_DIR / shipped.TRUTH_FILE).read_bytes()


def test_the_command_line_writes_where_it_is_told(tmp_path, capsys):
    shipped.main(["--out", str(tmp_path)])
    assert "cluster_survey.csv" in capsys.readouterr().out
    assert (tmp_path / "cluster_survey_truth.csv").is_file()


def test_shipped_data_pass_the_questionnaire_map(schema, data):
    survey = read_survey(shipped.cluster_survey_path(), schema)
    pd.testing.assert_frame_equal(survey.data, data)
    report = survey.report()
    assert report.n_rows == 320
    assert report.cluster_sizes.to_dict() == SUZHOU_CLUSTERS
    assert report.items["from_codes"].sum() == 0
    recoded = read_survey(shipped.cluster_survey_path(), schema, reverse=True).data
    assert (recoded["re_tr4"] + data["re_tr4"]).dropna().eq(6).all()


def test_shipped_data_look_like_the_book_study(schema, data):
    assert list(data.columns) == schema.columns
    sizes = data["cluster"].value_counts()
    assert len(sizes) == 8 and sizes.min() >= 15 and sizes.sum() == 320
    assert len(set(sizes)) > 4  # unequal sizes
    items = data[schema.item_ids]
    assert 0.02 < items.isna().to_numpy().mean() < 0.04
    answers = items.stack().dropna()
    assert set(answers.unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.0 < answers.mean() < 4.0
    covariates = data[["industry", "firm_size", "firm_age", "export_share"]]
    assert not covariates.isna().any().any()
    assert data["export_share"].between(0, 100).all()


def test_reverse_keyed_items_run_against_their_dimension(schema, data):
    for item_id in schema.reverse_keyed:
        _, dimension = schema.locate(item_id)
        partners = [
            i.id
            for i in next(d for d in schema.dimensions if d.id == dimension).items
            if i.id != item_id
        ]
        r = data[partners].mean(axis=1).corr(data[item_id])
        assert r < -0.2, (item_id, r)


def test_knowledge_rent_relates_to_international_growth(schema, data):
    recoded = read_survey(data, schema, reverse=True).data
    score = {c.id: recoded[[i.id for i in c.items]].mean(axis=1) for c in schema.constructs}
    assert score["KR"].corr(score["IG"]) > 0.25
    assert score["NC"].corr(score["KR"]) > 0.15
    by_cluster = pd.DataFrame(score).groupby(data["cluster"]).mean()
    assert by_cluster["IG"].std() > 0.05  # the cluster intercepts show


def test_the_docstrings_say_the_data_are_simulated():
    for text in (
        shipped.__doc__,
        shipped.cluster_survey.__doc__,
        shipped.cluster_survey_truth.__doc__,
    ):
        assert "SIMULATED" in text and "20180501" in text
    assert "python -m bayes_rent.data.datasets.cluster_survey" in shipped.__doc__
    assert "python -m bayes_rent.data.datasets.cluster_survey" in shipped.cluster_survey.__doc__
    assert SEED == 20180501


# ---------------------------------------------------------------------- the truth table
def test_truth_has_the_partable_shape(truth, schema):
    assert list(truth.columns) == ["lhs", "op", "rhs", "level", "cluster", "label", "value"]
    assert set(truth["op"]) == {"=~", "~", "~1", "~~", "|", ":="}
    loadings = truth.query("op == '=~'")
    assert len(loadings) == len(schema.items) + len(schema.dimensions)
    assert loadings["value"].between(0.65, 0.9).all()
    residual = truth.query("op == '~~' and lhs == rhs and level == 'within'").set_index("lhs")
    for _, row in loadings.iterrows():
        assert residual.loc[row["rhs"], "value"] == pytest.approx(1 - row["value"] ** 2)
    thresholds = truth.query("op == '|'")
    assert len(thresholds) == 4 * len(schema.items)
    for _, taus in thresholds.groupby("lhs"):
        assert np.all(np.diff(taus["value"].to_numpy()) > 0)


def test_truth_paths_and_labels_match_the_full_model(truth):
    paths = truth.query("op == '~' and rhs in ['RE', 'SE', 'NC', 'AC', 'KR']")
    got = {(r.lhs, r.rhs): r.value for r in paths.itertuples()}
    assert got == BOOK_PATHS
    text = (models_dir() / "full_model.lav").read_text(encoding="utf-8")
    labels = {
        (s.lhs, t.name): t.modifiers.label for s in parse(text) if s.op == "~" for t in s.terms
    }
    assert {(r.lhs, r.rhs): r.label for r in paths.itertuples()} == labels
    defined = truth.query("op == ':=' and level == 'within'").set_index("lhs")["value"]
    assert defined["ind_nc"] == pytest.approx(0.25 * 0.40)
    assert defined["total_ac"] == pytest.approx(0.10 + 0.30 * 0.40)


def test_truth_holds_the_cluster_level(truth, data):
    variances = truth.query("level == 'cluster' and op == '~~'")
    assert set(variances["lhs"]) == {"RE", "SE", "AC", "NC", "KR", "IG"}
    assert np.allclose(variances["value"], 0.35**2)
    sds = truth.query("op == ':=' and lhs.str.startswith('sd_cl_')")
    assert np.allclose(sds["value"], 0.35) and len(sds) == 6
    intercepts = truth.query("op == '~1' and level == 'cluster'")
    assert len(intercepts) == 6 * 8
    assert set(intercepts["cluster"]) == set(data["cluster"])


# ---------------------------------------------------------------------- the generating model
def test_same_seed_same_data_other_seed_other_data(schema):
    a, ta = simulate_cluster_survey(schema, n_firms=40, seed=3)
    b, tb = simulate_cluster_survey(schema, n_firms=40, seed=3)
    c, _ = simulate_cluster_survey(schema, n_firms=40, seed=4)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(ta, tb)
    assert not a[schema.item_ids].equals(c[schema.item_ids])


def test_parameters_do_not_depend_on_the_number_of_firms(schema):
    _, small = simulate_cluster_survey(schema, n_firms=40, seed=3)
    _, large = simulate_cluster_survey(schema, n_firms=200, seed=3)
    fixed = "level == 'within'"
    pd.testing.assert_frame_equal(
        small.query(fixed).reset_index(drop=True), large.query(fixed).reset_index(drop=True)
    )


def test_cluster_sizes_are_allocated_in_proportion():
    assert allocate_clusters(SUZHOU_CLUSTERS, 320) == SUZHOU_CLUSTERS
    sizes = allocate_clusters(SUZHOU_CLUSTERS, 100)
    assert sum(sizes.values()) == 100 and min(sizes.values()) >= 2
    assert list(sizes) == list(SUZHOU_CLUSTERS)
    with pytest.raises(ValueError, match="cannot fill"):
        allocate_clusters({"a": 1, "b": 1}, 3)


def test_a_seven_point_questionnaire_and_own_clusters():
    schema = SurveySchema.from_dict(
        {
            "respondent_id": "id",
            "cluster": "park",
            "scale_points": 7,
            "constructs": [
                {"id": "X", "items": ["x1", "x2", {"id": "x3", "reverse": True}]},
                {"id": "M", "items": ["m1", "m2", "m3"]},
                {"id": "Y", "items": ["y1", "y2", "y3"]},
            ],
        }
    )
    data, truth = simulate_cluster_survey(
        schema,
        n_firms=90,
        clusters={"north": 40, "south": 30, "east": 20},
        paths={("M", "X"): 0.5, ("Y", "M"): 0.4, ("Y", "X"): 0.1},
        cluster_sd={"X": 0.2, "M": 0.0, "Y": 0.3},
        missing_rate=0.0,
    )
    assert data["park"].value_counts().to_dict() == {"north": 40, "south": 30, "east": 20}
    assert data[schema.item_ids].isna().sum().sum() == 0
    assert data[schema.item_ids].max().max() <= 7
    assert len(truth.query("op == '|'")) == 6 * 9
    read_survey(data, schema)  # the simulated data pass their own map
    defined = truth.query("op == ':='").set_index("lhs")["value"]
    assert defined["ind_x"] == pytest.approx(0.2) and defined["total_x"] == pytest.approx(0.3)


def test_bad_generating_models_are_refused(schema):
    with pytest.raises(ValueError, match="does not have"):
        simulate_cluster_survey(schema, paths={("KR", "XX"): 0.3})
    with pytest.raises(ValueError, match="cycle"):
        simulate_cluster_survey(schema, paths={("KR", "IG"): 0.3, ("IG", "KR"): 0.3})
    with pytest.raises(ValueError, match="positive definite"):
        simulate_cluster_survey(schema, exogenous_correlations={("RE", "SE"): 1.5})
    with pytest.raises(ValueError, match="missing_rate"):
        simulate_cluster_survey(schema, missing_rate=1.2)


def test_base_thresholds_lean_towards_agreement():
    taus = simulation.base_thresholds(5)
    assert np.all(np.diff(taus) > 0) and taus.mean() < 0
    assert len(simulation.base_thresholds(7)) == 6
