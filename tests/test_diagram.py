"""Path diagrams (issue 15): AMOS's grammar, standardized labels, collapsed second-order models.

The diagrams are read back from their DOT source with a small parser (no Graphviz needed);
the SVG tests run when Graphviz's ``dot`` is installed.
"""

from __future__ import annotations

import re
import warnings

import graphviz
import pandas as pd
import pytest
from conftest import HOLZINGER_SWINEFORD

import bayes_rent as br
from bayes_rent.data.survey import models_dir
from bayes_rent.results import diagram as diagram_module
from bayes_rent.results.diagram import diagram_from_table, path_diagram, write_diagram

# the shipped model files (bayes_rent/models, also the checkout's models/)
MODELS = models_dir()
SMALL_FIT = dict(draws=200, tune=200, chains=2, seed=1, progressbar=False)
HAS_DOT = diagram_module.dot_available()


def _quiet_fit(syntax: str, data: pd.DataFrame, **options):
    """A short fit; its convergence warning is expected and beside the point here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.sem(syntax, data, **options)


@pytest.fixture(scope="session")
def pd_fit(pd_data):
    return _quiet_fit((MODELS / "political_democracy.lav").read_text(), pd_data,
                      **SMALL_FIT)


@pytest.fixture(scope="session")
def re_fit():
    """Sub-model 1 of the book (second order) on the shipped survey: structure only.

    The firms that answered all of its items (132 of 320): complete answers take the
    generic density (a few seconds) instead of sampling the missing answers (~20 s).
    """
    syntax = (MODELS / "submodel1_re.lav").read_text()
    schema = br.SurveySchema.from_yaml(MODELS / "questionnaire.yaml")
    data = br.read_survey(br.datasets.cluster_survey(), schema, reverse=True).data
    pt = br.Model(syntax).partable
    measured = pt[pt["op"] == "=~"]
    items = sorted(set(measured["rhs"]) - set(measured["lhs"]))
    return _quiet_fit(syntax, data[items].dropna(), draws=150, tune=150, chains=2, seed=1,
                      progressbar=False)


@pytest.fixture(scope="session")
def group_fit(hs_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.cfa(HOLZINGER_SWINEFORD, hs_data, group="school", **SMALL_FIT)


# ------------------------------------------------------------------ reading DOT back
_ID = r'(?:"(?:[^"\\]|\\.)*"|[\w.]+)'
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def _unquote(text: str) -> str:
    return text[1:-1].replace('\\"', '"') if text.startswith('"') else text


def _attrs(text: str) -> dict[str, str]:
    return {k: _unquote(v) for k, v in _ATTR.findall(text)}


def parse_dot(source: str) -> tuple[dict[str, dict], list[dict]]:
    """Nodes ``{name: attrs}`` and edges ``[{tail, head, **attrs}]`` of a DOT text."""
    nodes: dict[str, dict] = {}
    edges: list[dict] = []
    # an attribute list ends with "]" at the end of a line; labels hold "]" too, never there
    for m in re.finditer(rf"^\s*({_ID})(?: -> ({_ID}))? \[(.*?)\]$", source, re.M | re.S):
        tail, head, attrs = m.group(1), m.group(2), _attrs(m.group(3))
        if tail in ("graph", "node", "edge"):
            continue
        if head is None:
            nodes[_unquote(tail)] = attrs
        else:
            edges.append({"tail": _unquote(tail), "head": _unquote(head), **attrs})
    return nodes, edges


def arrow(edge: dict) -> tuple[str, str]:
    """(from, to) as drawn: an edge written backwards (dir=back) points at its tail."""
    if edge.get("dir") == "back":
        return edge["head"], edge["tail"]
    return edge["tail"], edge["head"]


def by_class(edges: list[dict], kind: str) -> list[dict]:
    return [e for e in edges if e.get("class") == kind]


def printed(row: pd.Series) -> str:
    return f"{row['mean']:.2f} [{row['hdi_low']:.2f}, {row['hdi_high']:.2f}]"


# ------------------------------------------------------------------ political democracy
LATENT = ["ind60", "dem60", "dem65"]
ITEMS = ["x1", "x2", "x3"] + [f"y{i}" for i in range(1, 9)]


def test_first_order_model_draws_latents_as_ellipses_and_items_as_boxes(pd_fit):
    nodes, _ = parse_dot(pd_fit.plot_diagram().source)
    shapes = {n: a.get("shape") for n, a in nodes.items()}
    assert {n: shapes[n] for n in LATENT} == dict.fromkeys(LATENT, "ellipse")
    assert {n: shapes[n] for n in ITEMS} == dict.fromkeys(ITEMS, "box")
    residuals = [n for n, s in shapes.items() if s == "circle"]
    # a residual per item and a disturbance per endogenous construct (dem60, dem65)
    assert len(residuals) == len(ITEMS) + 2
    assert set(shapes) == set(LATENT) | set(ITEMS) | set(residuals)


def test_every_arrow_carries_the_standardized_estimate(pd_fit):
    """One arrow per loading, regression and covariance, labelled as fit.standardized()."""
    _, edges = parse_dot(pd_fit.plot_diagram().source)
    std = pd_fit.standardized()
    rows = std[std["op"].isin(["=~", "~"]) | ((std["op"] == "~~") & (std["lhs"] != std["rhs"]))]
    kinds = {"=~": "loading", "~": "regression", "~~": "covariance"}
    drawn = [e for e in edges if e["class"] in kinds.values()]
    assert len(drawn) == len(rows) == 11 + 3 + 6
    for _, row in rows.iterrows():
        tip = f"{row['lhs']} {row['op']} {row['rhs']}"
        (edge,) = [e for e in drawn if e["tooltip"] == tip]
        assert edge["class"] == kinds[row["op"]]
        assert edge["label"] == printed(row), tip


def test_arrows_point_the_way_amos_draws_them(pd_fit):
    nodes, edges = parse_dot(pd_fit.plot_diagram().source)
    for e in by_class(edges, "loading"):
        lat, _, item = e["tooltip"].split()
        assert arrow(e) == (lat, item)
        assert "dir" not in e or e["dir"] == "back"
    for e in by_class(edges, "regression"):
        lhs, _, rhs = e["tooltip"].split()
        assert arrow(e) == (rhs, lhs)
    # residuals: a circle with an arrow into its variable
    into = {arrow(e)[1]: arrow(e)[0] for e in by_class(edges, "residual")}
    assert set(into) == set(ITEMS) | {"dem60", "dem65"}
    assert all(nodes[r]["shape"] == "circle" for r in into.values())
    # residual covariances: curved double-headed arrows between the two items' residuals
    for e in by_class(edges, "covariance"):
        a, _, b = e["tooltip"].split()
        assert (e["dir"], e["constraint"]) == ("both", "false")
        assert {e["tail"], e["head"]} == {into[a], into[b]}


def test_residual_arrows_carry_the_standardized_residual_variance(pd_fit):
    _, edges = parse_dot(pd_fit.plot_diagram().source)
    std = pd_fit.standardized().set_index(["lhs", "op", "rhs"])
    for e in by_class(edges, "residual"):
        var = e["tooltip"].split()[0]
        assert e["label"] == printed(std.loc[(var, "~~", var)])


def test_collapse_hides_the_items_of_a_first_order_model(pd_fit):
    nodes, edges = parse_dot(pd_fit.plot_diagram(collapse=True).source)
    assert not [n for n, a in nodes.items() if a["shape"] == "box"]
    assert {n for n, a in nodes.items() if a["shape"] == "ellipse"} == set(LATENT)
    assert nodes["dem60"]["label"] == "dem60\n(4 items)"
    assert not by_class(edges, "loading") and not by_class(edges, "covariance")
    assert {e["tooltip"] for e in by_class(edges, "regression")} == {
        "dem60 ~ ind60", "dem65 ~ ind60", "dem65 ~ dem60"}
    assert len(by_class(edges, "residual")) == 2  # the two disturbances


def test_title_and_caption(pd_fit):
    source = pd_fit.plot_diagram(title="Bollen (1989)", hdi_prob=0.8).source
    assert 'label="Bollen (1989)\nstandardized estimates (std.all): posterior mean [80% HDI]"' \
        in source
    bare = pd_fit.plot_diagram(caption=False).source
    assert "labelloc" not in bare and "std.all" not in bare


def test_hdi_prob_changes_the_intervals(pd_fit):
    _, edges = parse_dot(pd_fit.plot_diagram(hdi_prob=0.5).source)
    std = pd_fit.standardized(hdi_prob=0.5).set_index(["lhs", "op", "rhs"])
    (edge,) = [e for e in edges if e["tooltip"] == "dem65 ~ dem60"]
    assert edge["label"] == printed(std.loc[("dem65", "~", "dem60")])


def test_diagram_from_table_needs_an_estimate_per_row():
    pt = pd.DataFrame({"lhs": ["f", "f"], "op": ["=~", "=~"], "rhs": ["y1", "y2"]})
    est = pd.DataFrame({"mean": [1.0], "hdi_low": [1.0], "hdi_high": [1.0]})
    with pytest.raises(ValueError, match="1 estimates for 2 table rows"):
        diagram_from_table(pt, est)


def test_a_fixed_estimate_is_printed_without_an_interval():
    pt = pd.DataFrame({"lhs": ["f", "f"], "op": ["=~", "=~"], "rhs": ["y1", "y2"]})
    est = pd.DataFrame({"mean": [1.0, 0.5], "hdi_low": [1.0, 0.4], "hdi_high": [1.0, 0.6]})
    _, edges = parse_dot(diagram_from_table(pt, est).source)
    assert [e["label"] for e in edges] == ["1.00", "0.50 [0.40, 0.60]"]


# ------------------------------------------------------------------ second order
def test_second_order_model_is_collapsed_to_its_constructs(re_fit):
    nodes, edges = parse_dot(re_fit.plot_diagram().source)
    assert {n for n, a in nodes.items() if a["shape"] == "ellipse"} == {"RE", "KR", "IG"}
    assert not [n for n, a in nodes.items() if a["shape"] == "box"]
    assert nodes["RE"]["label"] == "RE\n(3 dimensions)"
    assert nodes["KR"]["label"] == "KR\n(2 dimensions)"
    paths = by_class(edges, "regression")
    labels = re_fit.partable.set_index(["lhs", "op", "rhs"])["label"]
    assert sorted(labels[tuple(e["tooltip"].split())] for e in paths) == ["a", "b", "c"]
    assert {arrow(e) for e in paths} == {("RE", "KR"), ("KR", "IG"), ("RE", "IG")}
    std = re_fit.standardized().set_index(["lhs", "op", "rhs"])
    for e in paths:
        assert e["label"] == printed(std.loc[tuple(e["tooltip"].split())])
    assert not by_class(edges, "loading")


def test_second_order_model_uncollapsed_draws_dimensions_and_items(re_fit):
    nodes, edges = parse_dot(re_fit.plot_diagram(collapse=False).source)
    pt = re_fit.partable
    latent = set(pt.loc[pt["op"] == "=~", "lhs"])
    items = set(pt.loc[pt["op"] == "=~", "rhs"]) - latent
    assert {n for n, a in nodes.items() if a["shape"] == "ellipse"} == latent
    assert {n for n, a in nodes.items() if a["shape"] == "box"} == items
    assert len(latent) == 10 and len(items) == 29
    assert len(by_class(edges, "loading")) == (pt["op"] == "=~").sum()
    assert nodes["RE"]["label"] == "RE"


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_svg_is_written_with_every_construct(re_fit, tmp_path):
    out = write_diagram(re_fit.plot_diagram(title="Sub-model 1"), tmp_path / "fig" / "sub.v1")
    assert set(out) == {"dot", "svg"}
    assert out["dot"] == tmp_path / "fig" / "sub.v1.dot"
    assert out["dot"].read_text() == re_fit.plot_diagram(title="Sub-model 1").source
    svg = out["svg"].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for name in ("RE", "KR", "IG"):
        assert f">{name}</text>" in svg


def test_without_dot_only_the_dot_source_is_written(pd_fit, tmp_path, monkeypatch):
    monkeypatch.setattr(diagram_module, "dot_available", lambda: False)
    out = write_diagram(pd_fit.plot_diagram(), tmp_path / "pd", formats=("svg", "png"))
    assert out == {"dot": tmp_path / "pd.dot"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pd.dot"]
    assert "ind60 -> dem60" in out["dot"].read_text()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_diagram_displays_as_svg_in_jupyter(pd_fit):
    g = pd_fit.plot_diagram()
    assert isinstance(g, graphviz.Digraph)
    bundle = g._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


# ------------------------------------------------------------------ blocks
def test_a_group_fit_has_one_diagram_per_group(group_fit):
    with pytest.raises(ValueError, match="one diagram per group or level"):
        group_fit.plot_diagram()
    with pytest.raises(ValueError, match="a diagram is drawn per group"):
        path_diagram(group_fit)
    with pytest.raises(ValueError, match="block must be one of"):
        group_fit.plot_diagram(block="Eton")
    for k, school in enumerate(group_fit.block_names):
        _, edges = parse_dot(group_fit.plot_diagram(block=school).source)
        std = group_fit.block_fits[k].standardized().set_index(["lhs", "op", "rhs"])
        (edge,) = [e for e in edges if e["tooltip"] == "visual =~ x2"]
        assert edge["label"] == printed(std.loc[("visual", "=~", "x2")])
    labels = [parse_dot(group_fit.plot_diagram(block=s).source)[1][0]["label"]
              for s in group_fit.block_names]
    assert labels[0] != labels[1]  # each group its own estimates


def test_block_is_refused_for_a_single_group_fit(pd_fit):
    with pytest.raises(ValueError, match="no groups or levels"):
        pd_fit.plot_diagram(block=1)
