"""Forest and trace plots (issue 15): ArviZ's plots over labelled draws of the fit's results."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # no display in tests; the library itself never picks a backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import HOLZINGER_SWINEFORD  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import bayes_rent as br  # noqa: E402
from bayes_rent.data.survey import models_dir  # noqa: E402
from bayes_rent.results.plots import (  # noqa: E402
    forest_draws,
    plot_forest,
    plot_trace,
    worst_parameters,
)

# the shipped model files (bayes_rent/models, also the checkout's models/)
MODELS = models_dir()
SMALL_FIT = dict(draws=200, tune=200, chains=2, seed=1, progressbar=False)


@pytest.fixture(scope="session")
def pd_fit(pd_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.sem((MODELS / "political_democracy.lav").read_text(), pd_data,
                      **SMALL_FIT)


@pytest.fixture(scope="session")
def re_fit():
    """Sub-model 1 of the book (second order), on the firms that answered all its items."""
    syntax = (MODELS / "submodel1_re.lav").read_text()
    schema = br.SurveySchema.from_yaml(MODELS / "questionnaire.yaml")
    data = br.read_survey(br.datasets.cluster_survey(), schema, reverse=True).data
    pt = br.Model(syntax).partable
    measured = pt[pt["op"] == "=~"]
    items = sorted(set(measured["rhs"]) - set(measured["lhs"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.sem(syntax, data[items].dropna(), draws=150, tune=150, chains=2, seed=1,
                      progressbar=False)


@pytest.fixture(scope="session")
def group_fit(hs_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.cfa(HOLZINGER_SWINEFORD, hs_data, group="school", **SMALL_FIT)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ticks(fig: Figure) -> list[str]:
    """The forest's y tick labels, top to bottom (ArviZ lists them bottom-up)."""
    return [t.get_text() for t in fig.axes[0].get_yticklabels()][::-1]


def means(draws) -> np.ndarray:
    return draws.mean(("chain", "draw")).values


# ------------------------------------------------------------------ forest
def test_forest_of_paths_has_a_tick_per_regression(pd_fit):
    fig = pd_fit.plot_forest("paths")
    assert isinstance(fig, Figure)
    assert ticks(fig) == ["dem60 ← ind60 (a)", "dem65 ← ind60 (c)", "dem65 ← dem60 (b)"]
    # the drawn values are the standardized solution's
    std = pd_fit.standardized().query("op == '~'")
    np.testing.assert_allclose(means(forest_draws(pd_fit, "paths")), std["mean"], rtol=1e-10)


def test_forest_of_loadings_shows_standardized_loadings(pd_fit):
    fig = plot_forest(pd_fit, "loadings", hdi_prob=0.8)
    std = pd_fit.standardized().query("op == '=~'")
    assert ticks(fig) == [f"{a} → {b}" for a, b in zip(std["lhs"], std["rhs"], strict=True)]
    np.testing.assert_allclose(means(forest_draws(pd_fit, "loadings")), std["mean"],
                               rtol=1e-10)
    # the marker loading is 1 on the raw scale, not on the standardized one
    raw = forest_draws(pd_fit, "loadings", standardized=False).sel(parameter="ind60 → x1")
    assert np.all(raw.values == 1.0)
    assert "80% HDI" in fig.axes[0].get_title()


def test_forest_of_effects_lists_effects_and_defined_parameters(pd_fit):
    fig = pd_fit.plot_forest("effects")
    assert ticks(fig) == [
        "direct ind60 → dem60", "total ind60 → dem60",
        "direct ind60 → dem65", "indirect ind60 → dem60 → dem65", "total ind60 → dem65",
        "direct dem60 → dem65", "total dem60 → dem65",
        "indirect := a*b", "total := c + a*b",
    ]


def test_effect_draws_are_those_of_the_effects_and_defined_tables(pd_fit):
    raw = forest_draws(pd_fit, "effects", standardized=False)
    eff = pd_fit.effects()
    for r in eff.itertuples():
        name = (f"indirect {r[1]} → {r.via.replace(' -> ', ' → ')} → {r.to}"
                if r.kind == "indirect" else f"{r.kind} {r[1]} → {r.to}")
        assert float(raw.sel(parameter=name).mean()) == pytest.approx(r.mean, rel=1e-10)
    defined = pd_fit.defined().set_index("name")
    assert float(raw.sel(parameter="indirect := a*b").mean()) == pytest.approx(
        defined.loc["indirect", "mean"], rel=1e-10)
    # standardized: lavaan's rule for ':=' (at standardized values), the chain's product alike
    std = forest_draws(pd_fit, "effects")
    table = pd_fit.standardized().set_index("lhs")
    assert float(std.sel(parameter="indirect := a*b").mean()) == pytest.approx(
        table.loc["indirect", "mean"], rel=1e-10)
    np.testing.assert_allclose(std.sel(parameter="indirect ind60 → dem60 → dem65").values,
                               std.sel(parameter="indirect := a*b").values, rtol=1e-10)


def test_forest_of_a_second_order_model_keeps_to_the_structural_effects(re_fit):
    """B also holds the construct -> dimension loadings; the effects forest leaves them out."""
    fig = re_fit.plot_forest("effects")
    assert ticks(fig) == [
        "direct RE → KR", "total RE → KR",
        "direct RE → IG", "indirect RE → KR → IG", "total RE → IG",
        "direct KR → IG", "total KR → IG",
        "indirect := a*b", "total := c + a*b",
    ]
    assert ticks(re_fit.plot_forest("paths")) == ["KR ← RE (a)", "IG ← KR (b)", "IG ← RE (c)"]
    loadings = ticks(re_fit.plot_forest("loadings"))
    assert len(loadings) == (re_fit.partable["op"] == "=~").sum() == 36
    assert loadings[:4] == ["RE → re_trust", "RE → re_info", "RE → re_joint", "re_trust → re_tr1"]


def test_forest_draws_into_given_axes(pd_fit):
    fig, ax = plt.subplots()
    out = pd_fit.plot_forest("paths", ax=ax)
    assert out is fig
    assert len(ax.get_yticks()) == 3


def test_forest_refuses_an_unknown_kind(pd_fit):
    with pytest.raises(ValueError, match="kind must be one of"):
        pd_fit.plot_forest("weights")


def test_forest_of_a_model_without_paths_says_so(group_fit):
    with pytest.raises(ValueError, match="no paths to plot"):
        group_fit.plot_forest("paths", block=group_fit.block_names[0])
    with pytest.raises(ValueError, match="no effects or defined parameters"):
        group_fit.plot_forest("effects", block=group_fit.block_names[0])


def test_forest_of_a_group_fit_shows_every_group(group_fit):
    fig = group_fit.plot_forest("loadings")
    labels = ticks(fig)
    assert len(labels) == 2 * 9
    schools = group_fit.block_names
    assert labels[:2] == [f"visual → x1 [{schools[0]}]", f"visual → x2 [{schools[0]}]"]
    assert labels[9] == f"visual → x1 [{schools[1]}]"
    # each group standardized by its own variances
    one = ticks(group_fit.plot_forest("loadings", block=schools[1]))
    assert one == [label.removesuffix(f" [{schools[1]}]") for label in labels[9:]]
    with pytest.raises(ValueError, match="several groups"):
        plot_forest(group_fit, "loadings")


# ------------------------------------------------------------------ trace
def test_worst_parameters_rank_by_r_hat(pd_fit):
    summary = pd_fit.summary()
    summary.index = [f"{a} {o} {b}".strip() if o != "~1" else f"{a} ~1"
                     for a, o, b in summary[["lhs", "op", "rhs"]].itertuples(index=False)]
    expected = summary[summary["free"]].sort_values("r_hat", ascending=False)
    worst = worst_parameters(pd_fit, 5)
    assert worst.index.tolist() == expected.index[:5].tolist()
    np.testing.assert_allclose(worst["r_hat"], expected["r_hat"][:5], rtol=1e-10)
    assert worst["r_hat"].is_monotonic_decreasing


def test_trace_plot_shows_the_worst_parameters(pd_fit):
    fig = pd_fit.plot_trace(worst=3)
    names = worst_parameters(pd_fit, 3).index.tolist()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [n for n in names for _ in range(2)]  # density | trace, worst first
    # the trace panels hold one line per chain with every draw
    lines = fig.axes[1].get_lines()
    assert len(lines) >= 2 and len(lines[0].get_xdata()) == 200


def test_rank_plot_draws_rank_bars(pd_fit):
    fig = plot_trace(pd_fit, worst=2, kind="rank")
    assert len(fig.axes) == 4
    assert len(fig.axes[1].patches) > 0  # ArviZ's rank bars
    assert fig.axes[1].get_title() == worst_parameters(pd_fit, 1).index[0]
    with pytest.raises(ValueError, match="kind must be one of"):
        plot_trace(pd_fit, kind="autocorr")


def test_trace_of_a_group_fit_names_the_group(group_fit):
    fig = group_fit.plot_trace(worst=2)
    assert all(t.get_title().endswith("]") for t in fig.axes)
    assert isinstance(worst_parameters(group_fit, 2), pd.DataFrame)
