"""Tests for the parameter table, checked against lavaan's and semopy's own parameter lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import HOLZINGER_SWINEFORD, POLITICAL_DEMOCRACY

from bayes_rent.spec.partable import (
    PARTABLE_COLUMNS,
    build_partable,
    endogenous,
    evaluate_defined,
    exogenous,
    exogenous_covariates,
    latent_variables,
    n_free,
    observed_variables,
    structural_observed,
)
from bayes_rent.spec.syntax import ModelSyntaxError, parse

DATA = Path(__file__).parent / "data"



def key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    """Parameter identity: a ~~ b is b ~~ a; intercepts have an empty rhs."""
    rhs = "" if pd.isna(rhs) else str(rhs)
    if op == "~~" and rhs < lhs:
        return (rhs, op, lhs)
    return (lhs, op, rhs)


def rows(pt: pd.DataFrame) -> dict[tuple[str, str, str], pd.Series]:
    return {key(r.lhs, r.op, r.rhs): r for r in pt.itertuples(index=False)}


def free_set(pt: pd.DataFrame) -> set[tuple[str, str, str]]:
    return {k for k, r in rows(pt).items() if r.free}


def row(pt: pd.DataFrame, lhs: str, op: str, rhs: str = ""):
    return rows(pt)[key(lhs, op, rhs)]


# --------------------------------------------------------------------------------------------
# shape of the table
# --------------------------------------------------------------------------------------------


def test_columns_and_dtypes():
    pt = build_partable(HOLZINGER_SWINEFORD)
    assert list(pt.columns) == PARTABLE_COLUMNS
    assert pt["id"].tolist() == list(range(1, len(pt) + 1))
    assert pt["id"].dtype == np.int64 and pt["group"].dtype == np.int64
    assert pt["free"].dtype == bool and pt["user"].dtype == bool
    assert pt["value"].dtype == np.float64 and pt["start"].dtype == np.float64
    for col in ("lhs", "op", "rhs", "label", "prior"):
        assert all(isinstance(v, str) for v in pt[col]), col
    assert set(pt["group"]) == {1}
    # fixed rows carry their value, free rows NaN
    assert pt.loc[~pt["free"], "value"].notna().all()
    assert pt.loc[pt["free"], "value"].isna().all()


def test_user_rows_first_then_automatic_rows():
    pt = build_partable(HOLZINGER_SWINEFORD)
    n_user = int(pt["user"].sum())
    assert pt["user"].tolist() == [True] * n_user + [False] * (len(pt) - n_user)
    auto = list(zip(pt["lhs"], pt["op"], pt["rhs"], strict=True))[n_user:]
    assert auto == (
        [(f"x{i}", "~~", f"x{i}") for i in range(1, 10)]
        + [("visual", "~~", "visual"), ("textual", "~~", "textual"), ("speed", "~~", "speed")]
        + [("visual", "~~", "textual"), ("visual", "~~", "speed"), ("textual", "~~", "speed")]
        + [(f"x{i}", "~1", "") for i in range(1, 10)]
        + [("visual", "~1", ""), ("textual", "~1", ""), ("speed", "~1", "")]
    )


def test_accepts_parsed_statements():
    a = build_partable(POLITICAL_DEMOCRACY)
    b = build_partable(parse(POLITICAL_DEMOCRACY))
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------------------------
# the external references: lavaan's estimates and npar
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("syntax", "csv", "fit_json"),
    [
        (
            POLITICAL_DEMOCRACY,
            "PoliticalDemocracy_sem_estimates.csv",
            "PoliticalDemocracy_sem_fit.json",
        ),
        (HOLZINGER_SWINEFORD, "HS_cfa_estimates.csv", "HS_cfa_fit.json"),
    ],
    ids=["PoliticalDemocracy", "HolzingerSwineford"],
)
def test_rows_match_lavaan(syntax, csv, fit_json):
    """lavaan's sem()/cfa() tables (no mean structure): same rows, same free/fixed status."""
    lavaan = pd.read_csv(DATA / csv, keep_default_na=False, na_values=[""])
    npar = json.loads((DATA / fit_json).read_text())["fit"]["npar"]
    pt = build_partable(syntax, meanstructure=False)
    ours = rows(pt)
    theirs = {key(r.lhs, r.op, r.rhs): bool(r.se > 0) for r in lavaan.itertuples(index=False)}
    for k, free in theirs.items():
        assert k in ours, f"lavaan row {k} missing"
        assert bool(ours[k].free) == free, k
    assert set(ours) == set(theirs)
    assert n_free(pt) == npar


def test_political_democracy_has_31_free_parameters():
    pt = build_partable(POLITICAL_DEMOCRACY, meanstructure=False)
    assert n_free(pt) == 31
    assert len(pt) == 34  # 31 free + 3 marker loadings
    markers = pt[(pt["op"] == "=~") & ~pt["free"]]
    assert list(zip(markers["lhs"], markers["rhs"], strict=True)) == [
        ("ind60", "x1"),
        ("dem60", "y1"),
        ("dem65", "y5"),
    ]
    # dem60 is a predictor and dem65 the only pure outcome: no automatic covariances
    auto_cov = pt[(pt["op"] == "~~") & (pt["lhs"] != pt["rhs"]) & ~pt["user"]]
    assert auto_cov.empty


def test_holzinger_swineford_npar_with_and_without_means():
    assert n_free(build_partable(HOLZINGER_SWINEFORD, meanstructure=False)) == 21
    pt = build_partable(HOLZINGER_SWINEFORD)
    assert n_free(pt) == 30
    means = pt[pt["op"] == "~1"]
    assert means.loc[means["lhs"].str.startswith("x"), "free"].all()
    latent_means = means[~means["lhs"].str.startswith("x")]
    assert (~latent_means["free"]).all() and (latent_means["value"] == 0).all()


# --------------------------------------------------------------------------------------------
# semopy's article model
# --------------------------------------------------------------------------------------------


def semopy_article():
    example_article = pytest.importorskip("semopy.examples.example_article")
    return example_article.get_model(), example_article.get_params()


def semopy_keys(params: pd.DataFrame, pt: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """semopy's rows in our notation: ``y ~ eta`` for an indicator is ``eta =~ y``."""
    loadings = {(r.lhs, r.rhs) for r in pt.itertuples() if r.op == "=~"}
    out = {}
    for r in params.itertuples(index=False):
        lhs, op, rhs = r.lval, r.op, str(r.rval)
        if op == "~" and rhs == "1":
            k = key(lhs, "~1", "")
        elif op == "~" and (rhs, lhs) in loadings:
            k = key(rhs, "=~", lhs)
        else:
            k = key(lhs, op, rhs)
        out[k] = float(r.Estimate)
    return out


def test_semopy_article_model():
    """Every parameter semopy has for its article model is in our table.

    Ours has a few more free rows, all from conventions, none from the model:

    * ``eta3 ~~ y7``: lavaan's ``auto_cov_y`` frees the residual covariance of the two pure
      outcomes (eta3 and y7 are lhs of ``~`` and predict nothing); semopy adds none.
    * ``x1 ~~ x1``, ``x1 ~~ x6``, ``x6 ~~ x6``, ``x1 ~1``, ``x6 ~1``: x1 and x6 are exogenous
      observed covariates. bayes-rent's default ``fixed_x=False`` models them jointly (free
      moments); semopy, like lavaan's ``fixed.x=TRUE``, takes them as given and lists nothing.
      x2 is a regressor too, but ``x2 ~~ eta2`` makes it an ordinary variable (lavaan's ov.x
      correction), so both programs give it a variance and an intercept.

    Latent means (``eta ~1``, fixed to 0) are fixed rows, not parameters, in both programs.
    With ``fixed_x=True, auto_cov_y=False`` the free rows are exactly semopy's estimated ones,
    and semopy's loadings of 1.0 are exactly our marker loadings.
    """
    syntax, params = semopy_article()
    pt = build_partable(syntax)
    theirs = semopy_keys(params, pt)
    ours = rows(pt)
    missing = set(theirs) - set(ours)
    assert not missing
    extra = free_set(pt) - set(theirs)
    assert extra == {
        ("eta3", "~~", "y7"),
        ("x1", "~~", "x1"),
        ("x1", "~~", "x6"),
        ("x6", "~~", "x6"),
        ("x1", "~1", ""),
        ("x6", "~1", ""),
    }

    strict = build_partable(syntax, fixed_x=True, auto_cov_y=False)
    fixed_in_semopy = {k for k, v in theirs.items() if k[1] == "=~" and v == 1.0}
    assert free_set(strict) == set(theirs) - fixed_in_semopy
    assert {k for k, r in rows(strict).items() if r.op == "=~" and not r.free} == fixed_in_semopy


def test_semopy_article_variable_types():
    syntax, _ = semopy_article()
    pt = build_partable(syntax)
    assert latent_variables(pt) == ["eta1", "eta2", "eta3", "eta4"]
    assert observed_variables(pt) == [
        "y1", "y2", "y3", "y4", "y5", "y6", "x3", "x4", "y7", "x2", "x1", "x6",
    ]
    assert exogenous_covariates(pt) == ["x1", "x6"]
    assert structural_observed(pt) == ["x3", "x4", "y7", "x2", "x1", "x6"]
    assert exogenous(pt) == ["eta1", "eta2", "x2", "x1", "x6"]
    assert endogenous(pt) == [
        "eta3", "eta4", "y1", "y2", "y3", "y4", "y5", "y6", "x3", "x4", "y7",
    ]
    assert row(pt, "eta1", "~~", "eta2").free and not row(pt, "eta1", "~~", "eta2").user


# --------------------------------------------------------------------------------------------
# modifiers: labels, NA, fixed values, prior, start
# --------------------------------------------------------------------------------------------


def test_labels_constrain_equal_and_count_once():
    pt = build_partable(
        """
        dem60 =~ y1 + a*y2 + b*y3 + c*y4
        dem65 =~ y5 + a*y6 + b*y7 + c*y8
        """,
        meanstructure=False,
    )
    assert row(pt, "dem60", "=~", "y2").label == "a"
    assert row(pt, "dem65", "=~", "y6").label == "a"
    assert int(pt["free"].sum()) == 6 + 8 + 2 + 1
    assert n_free(pt) == 3 + 8 + 2 + 1


def test_label_alone_keeps_the_marker_fixed_and_fixes_its_partners():
    pt = build_partable("f =~ a*x1 + a*x2 + x3", meanstructure=False)
    r1, r2 = row(pt, "f", "=~", "x1"), row(pt, "f", "=~", "x2")
    assert (r1.free, r1.value, r1.label) == (False, 1.0, "a")
    # lavaan: a label shared with a fixed parameter fixes them all to its value
    assert (r2.free, r2.value) == (False, 1.0)


def test_label_equality_with_different_fixed_values_is_an_error():
    with pytest.raises(ModelSyntaxError, match="fixed to different values") as info:
        build_partable("f =~ a*x1 + x2\ng =~ x3 + 2*a*x4")
    assert (info.value.line, info.value.column) == (2, 15)


def test_na_frees_the_marker_and_fixed_values_are_kept():
    pt = build_partable("f =~ NA*x1 + x2 + 0.5*x3\nf ~~ 1*f", meanstructure=False)
    assert row(pt, "f", "=~", "x1").free
    assert row(pt, "f", "=~", "x2").free  # the marker does not move to the next indicator
    r3 = row(pt, "f", "=~", "x3")
    assert (r3.free, r3.value) == (False, 0.5)
    rf = row(pt, "f", "~~", "f")
    assert (rf.free, rf.value, rf.user) == (False, 1.0, True)
    # a fixed value on the first indicator replaces the marker value
    pt = build_partable("f =~ -1*x1 + x2")
    assert row(pt, "f", "=~", "x1").value == -1.0


def test_prior_and_start_columns():
    pt = build_partable(
        'f =~ x1 + start(0.8)*x2 + prior("normal(1,0.5)")*x3\n'
        'x1 ~~ prior("gamma(1,0.5)[sd]")*x1\n'
        "f ~~ start(2)*f"
    )
    assert row(pt, "f", "=~", "x3").prior == "normal(1,0.5)"
    assert row(pt, "f", "=~", "x2").start == 0.8
    assert row(pt, "x1", "~~", "x1").prior == "gamma(1,0.5)[sd]"
    assert row(pt, "x1", "~~", "x1").user
    assert row(pt, "f", "~~", "f").start == 2.0
    assert (pt["prior"] == "").sum() == len(pt) - 2
    assert pt["start"].notna().sum() == 2


def test_chained_modifiers():
    pt = build_partable('f =~ x1 + a*prior("normal(1,0.5)")*x2 + NA*start(1)*b*x3')
    r2, r3 = row(pt, "f", "=~", "x2"), row(pt, "f", "=~", "x3")
    assert (r2.label, r2.prior, r2.free) == ("a", "normal(1,0.5)", True)
    assert (r3.label, r3.start, r3.free) == ("b", 1.0, True)


# --------------------------------------------------------------------------------------------
# repeated statements
# --------------------------------------------------------------------------------------------


def test_repeated_statements_merge():
    pt = build_partable(
        "f =~ x1 + x2 + x3\nf =~ a*x2\ny1 ~~ y2\ny2 ~~ prior('normal(0,1)')*y1\ny1 ~ f\ny2 ~ f"
    )
    assert (pt["op"] == "=~").sum() == 3
    assert row(pt, "f", "=~", "x2").label == "a"
    cov = pt[(pt["op"] == "~~") & (pt["lhs"] != pt["rhs"])]
    assert len(cov) == 1  # also not repeated by auto_cov_y
    assert (cov["lhs"].iloc[0], cov["rhs"].iloc[0]) == ("y1", "y2")  # first spelling is kept
    assert cov["prior"].iloc[0] == "normal(0,1)"
    assert cov["user"].iloc[0]


@pytest.mark.parametrize(
    ("syntax", "line", "column", "what"),
    [
        ("f =~ x1 + x2\ny1 ~~ 1*y2\ny2 ~~ NA*y1", 3, 10, "fixed value"),
        ("f =~ x1 + a*x2\nf =~ b*x2", 2, 8, "label"),
        ("y ~ prior('normal(0,1)')*x\ny ~ prior('normal(0,2)')*x", 2, 26, "prior"),
        ("y ~ 1*x\ny ~ 2*x", 2, 7, "fixed value"),
    ],
)
def test_contradictory_repeats_are_errors(syntax, line, column, what):
    with pytest.raises(ModelSyntaxError, match=f"contradictory {what}") as info:
        build_partable(syntax)
    assert (info.value.line, info.value.column) == (line, column)


# --------------------------------------------------------------------------------------------
# automatic parameters
# --------------------------------------------------------------------------------------------


def test_second_order_model():
    pt = build_partable(
        """
        vision       =~ v1 + v2 + v3
        construction =~ c1 + c2 + c3
        management   =~ m1 + m2 + m3
        NC =~ vision + construction + management
        KR =~ k1 + k2 + k3
        KR ~ NC
        """,
        meanstructure=False,
    )
    assert latent_variables(pt) == ["vision", "construction", "management", "NC", "KR"]
    assert not row(pt, "NC", "=~", "vision").free  # marker of the second-order factor
    assert row(pt, "NC", "=~", "construction").free
    # first-order factors are indicators: residual variances, no covariances among them
    for f in ("vision", "construction", "management"):
        assert row(pt, f, "~~", f).free
    off_diag = pt[(pt["op"] == "~~") & (pt["lhs"] != pt["rhs"])]
    assert off_diag.empty  # NC is the only exogenous latent, KR the only pure outcome
    assert exogenous(pt) == ["NC"]
    # 3*2 + 2 + 2 first-order loadings and second-order loadings, 1 path,
    # 12 residual variances, 5 latent (residual) variances
    assert n_free(pt) == 6 + 2 + 2 + 1 + 12 + 5


def test_std_lv():
    pt = build_partable(HOLZINGER_SWINEFORD, std_lv=True, meanstructure=False)
    assert pt.loc[pt["op"] == "=~", "free"].all()
    factors = ["visual", "textual", "speed"]
    lv_var = pt[(pt["op"] == "~~") & (pt["lhs"] == pt["rhs"]) & pt["lhs"].isin(factors)]
    assert (~lv_var["free"]).all() and (lv_var["value"] == 1.0).all()
    cors = pt[(pt["op"] == "~~") & (pt["lhs"] != pt["rhs"])]
    assert len(cors) == 3 and cors["free"].all()
    assert n_free(pt) == 21

    # endogenous latents: their residual variances are fixed too; user-fixed loadings stay
    pt = build_partable(
        "f =~ 1*x1 + x2 + x3\ng =~ y1 + y2 + y3\ng ~ f\nh =~ z1 + z2\nh ~~ NA*h",
        std_lv=True,
    )
    assert not row(pt, "f", "=~", "x1").free
    assert row(pt, "g", "=~", "y1").free
    assert not row(pt, "g", "~~", "g").free and row(pt, "g", "~~", "g").value == 1.0
    assert row(pt, "h", "~~", "h").free  # NA* overrides std_lv


def test_fixed_x():
    syntax = "y ~ x1 + x2\nf =~ u1 + u2 + u3\nf ~ x1"
    joint = build_partable(syntax)
    moments = [
        ("x1", "~~", "x1"),
        ("x1", "~~", "x2"),
        ("x2", "~~", "x2"),
        ("x1", "~1", ""),
        ("x2", "~1", ""),
    ]
    for k in moments:
        assert row(joint, *k).free and not row(joint, *k).user
    assert exogenous_covariates(joint) == ["x1", "x2"]

    conditional = build_partable(syntax, fixed_x=True)
    assert not set(moments) & set(rows(conditional))
    assert set(rows(joint)) - set(rows(conditional)) == set(moments)
    assert n_free(joint) - n_free(conditional) == 5


def test_user_moment_of_a_covariate_makes_it_an_ordinary_variable():
    pt = build_partable("y ~ x1 + x2\nx1 ~~ x2")
    assert exogenous_covariates(pt) == []
    assert row(pt, "x1", "~~", "x1").free and row(pt, "x2", "~~", "x2").free
    assert (pt["op"] == "~~").sum() == 4  # y, x1, x2 variances + the user's covariance


def auto_covariances(pt: pd.DataFrame) -> list[tuple[str, str]]:
    auto = pt[(pt["op"] == "~~") & (pt["lhs"] != pt["rhs"]) & ~pt["user"]]
    return list(zip(auto["lhs"], auto["rhs"], strict=True))


def test_auto_cov_y():
    # two pure outcomes (lhs of ~, predicting nothing): their residuals covary
    pt = build_partable("y1 ~ x\ny2 ~ x", fixed_x=True)
    assert auto_covariances(pt) == [("y1", "y2")]
    assert row(pt, "y1", "~~", "y2").free
    assert auto_covariances(build_partable("y1 ~ x\ny2 ~ x", fixed_x=True, auto_cov_y=False)) == []
    # a mediator is not a pure outcome
    assert auto_covariances(build_partable("m ~ x\ny ~ m", fixed_x=True)) == []
    # an indicator is not one either
    assert auto_covariances(build_partable("f =~ y1 + y2 + y3\ny1 ~ x", fixed_x=True)) == []
    # latent pure outcomes covary too: lavaan's lv.y + ov.y, latent first
    pt = build_partable("f =~ a1 + a2 + a3\ng =~ b1 + b2 + b3\nf ~ x\ng ~ x\ny ~ x", fixed_x=True)
    assert auto_covariances(pt) == [("f", "g"), ("f", "y"), ("g", "y")]


def test_auto_cov_lv_x_off():
    pt = build_partable(HOLZINGER_SWINEFORD, auto_cov_lv_x=False, meanstructure=False)
    assert not ((pt["op"] == "~~") & (pt["lhs"] != pt["rhs"])).any()
    assert n_free(pt) == 18


def test_single_indicator_has_zero_residual_variance():
    pt = build_partable("f =~ y1\ng =~ z1 + z2 + z3\ng ~ f")
    r = row(pt, "y1", "~~", "y1")
    assert (r.free, r.value) == (False, 0.0)
    assert row(pt, "f", "~~", "f").free


def test_mean_structure():
    pt = build_partable("f =~ x1 + x2 + x3\ny ~ f\nf ~ 1")
    assert row(pt, "f", "~1").free and row(pt, "f", "~1").user  # the user freed the mean
    assert row(pt, "y", "~1").free and row(pt, "x1", "~1").free
    # an intercept in the syntax switches the mean structure on, as in lavaan
    pt = build_partable("f =~ x1 + x2 + x3\nx1 ~ 1", meanstructure=False)
    assert (pt["op"] == "~1").sum() == 4
    assert not row(pt, "f", "~1").free


def test_intercept_plus_regression_and_multiple_lhs():
    pt = build_partable("y1 + y2 ~ 1 + x", meanstructure=False)
    assert list(zip(pt["lhs"], pt["op"], pt["rhs"], strict=True))[:4] == [
        ("y1", "~1", ""),
        ("y1", "~", "x"),
        ("y2", "~1", ""),
        ("y2", "~", "x"),
    ]
    assert pt.loc[pt["op"] == "~1", "user"].tolist()[:2] == [True, True]


def test_thresholds_only_where_written():
    pt = build_partable("f =~ u1 + u2 + u3\nu1 | t1 + a*t2 + t3")
    th = pt[pt["op"] == "|"]
    assert th["rhs"].tolist() == ["t1", "t2", "t3"]
    assert th["free"].all() and th["label"].tolist() == ["", "a", ""]
    # ordinal variable: intercept 0 and unit residual variance (delta parameterization)
    assert (row(pt, "u1", "~1").free, row(pt, "u1", "~1").value) == (False, 0.0)
    assert (row(pt, "u1", "~~", "u1").free, row(pt, "u1", "~~", "u1").value) == (False, 1.0)
    assert row(pt, "u2", "~1").free


def test_structural_observed_and_accessors():
    pt = build_partable(POLITICAL_DEMOCRACY)
    assert latent_variables(pt) == ["ind60", "dem60", "dem65"]
    assert observed_variables(pt) == [f"x{i}" for i in range(1, 4)] + [f"y{i}" for i in range(1, 9)]
    assert structural_observed(pt) == []
    assert exogenous(pt) == ["ind60"]
    assert endogenous(pt)[:2] == ["dem60", "dem65"]

    pt = build_partable("f =~ y1 + y2 + y3\nf ~ x1\ny4 ~ f\ny4 ~~ y1\nz ~~ f")
    # x1, y4 are in regressions, z covaries with a latent, y1 covaries with phantom y4
    assert structural_observed(pt) == ["y1", "y4", "x1", "z"]


def test_observed_order_follows_lavaan():
    pt = build_partable("y ~ f + z\nf =~ x1 + x2 + x3\nw ~~ x1\nv ~ 1")
    assert observed_variables(pt) == ["x1", "x2", "x3", "y", "z", "w", "v"]


# --------------------------------------------------------------------------------------------
# defined parameters
# --------------------------------------------------------------------------------------------

MEDIATION = """
m ~ a*x
y ~ b*m + c*x
ab := a*b
total := ab + c
ratio := ab / total
"""


def test_defined_rows():
    pt = build_partable(MEDIATION)
    defined = pt[pt["op"] == ":="]
    assert defined["lhs"].tolist() == ["ab", "total", "ratio"]
    assert defined["rhs"].tolist() == ["a*b", "ab + c", "ab / total"]
    assert defined.index.tolist() == list(range(len(pt) - 3, len(pt)))  # last, as in lavaan
    assert (~defined["free"]).all() and defined["value"].isna().all()
    assert defined["label"].tolist() == ["ab", "total", "ratio"]
    assert defined["group"].tolist() == [0, 0, 0]
    assert n_free(pt) == n_free(build_partable(MEDIATION.split("ab :=")[0]))


@pytest.mark.parametrize(
    ("syntax", "line", "column", "message"),
    [
        ("m ~ a*x\ny ~ b*m\nab := a*d", 3, 9, "'d' in ':=' is neither a label"),
        ("m ~ a*x\ny ~ b*m\nab := a*later\nlater := b", 3, 9, "'later' in ':='"),
        ("m ~ a*x\ny ~ b*m\na := b", 3, 1, "has the name of a label"),
        ("m ~ a*x\ny ~ b*m\nm := a*b", 3, 1, "has the name of a variable"),
        ("m ~ a*x\nab := a\nab := 2*a", 3, 1, "earlier ':='"),
    ],
)
def test_defined_errors(syntax, line, column, message):
    with pytest.raises(ModelSyntaxError, match=message) as info:
        build_partable(syntax)
    assert (info.value.line, info.value.column) == (line, column)


def test_evaluate_defined_numpy_and_xarray():
    pt = build_partable(MEDIATION)
    values = {"a": np.array([0.5, 1.0]), "b": np.array([2.0, 3.0]), "c": np.array([0.0, 1.0])}
    out = evaluate_defined(pt, values)
    np.testing.assert_allclose(out["ab"], [1.0, 3.0])
    np.testing.assert_allclose(out["total"], [1.0, 4.0])
    np.testing.assert_allclose(out["ratio"], [1.0, 0.75])

    draws = {k: xr.DataArray(v.reshape(1, 2), dims=("chain", "draw")) for k, v in values.items()}
    out = evaluate_defined(pt, draws)
    assert out["ratio"].dims == ("chain", "draw")
    np.testing.assert_allclose(out["ratio"].values, [[1.0, 0.75]])


# --------------------------------------------------------------------------------------------
# other located errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("syntax", "line", "column"),
    [
        ("f =~ x1 + f", 1, 11),
        ("f =~ x1 + x2\ny ~ y", 2, 5),
        ("f =~ x1 + x2\nf | t1", 2, 1),
    ],
)
def test_model_errors_are_located(syntax, line, column):
    with pytest.raises(ModelSyntaxError) as info:
        build_partable(syntax)
    assert (info.value.line, info.value.column) == (line, column)
    assert "^" in str(info.value)


def test_syntax_errors_propagate():
    with pytest.raises(ModelSyntaxError) as info:
        build_partable("f =~ x1 +\n")
    assert (info.value.line, info.value.column) == (1, 10)
