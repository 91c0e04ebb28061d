"""APA formatting and the Markdown / LaTeX / CSV writers."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from bayes_rent.results.effects import effects_table
from bayes_rent.results.measures import reliability_table, validity_table
from bayes_rent.results.standardized import matrices_from_parameters, r2, standardized_summary
from bayes_rent.results.tables import to_apa, to_csv, to_latex, to_markdown


def pt_frame(rows):
    pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est"])
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["label"] = ""
    return pt


@pytest.fixture(scope="module")
def model():
    rows = [("A", "=~", f"a{i}", v) for i, v in enumerate([1.0, 0.9, 0.8], 1)]
    rows += [("B", "=~", f"b{i}", v) for i, v in enumerate([1.0, 1.1, 0.7], 1)]
    rows += [("B", "~", "A", 0.5), ("A", "~~", "A", 1.0), ("B", "~~", "B", 0.6)]
    rows += [(f"{d}{i}", "~~", f"{d}{i}", 0.4) for d in "ab" for i in (1, 2, 3)]
    pt = pt_frame(rows)
    return pt, matrices_from_parameters(pt)


def effects_frame():
    tab = pd.DataFrame({
        "from": ["X", "X"], "to": ["Y", "Y"], "kind": ["indirect", "total"], "via": ["M", ""],
        "mean": [0.2012, 1.2345], "sd": [0.05, 0.2], "hdi_low": [0.118, 0.9],
        "hdi_high": [0.29, 1.6], "p_direction": [0.9995, 1.0], "p_rope": [0.0004, 0.25],
    })
    tab.attrs.update({"kind": "effects", "hdi_prob": 0.95})
    return tab


def test_to_apa_raw_effects_keep_leading_zero_and_merge_interval():
    out = to_apa(effects_frame())
    assert list(out.columns) == [
        "From", "To", "Effect", "Via", "Estimate", "SD", "95% HDI [LL, UL]", "pd", "P(ROPE)"
    ]
    assert out.iloc[0].tolist() == [
        "X", "Y", "indirect", "M", "0.20", "0.05", "[0.12, 0.29]", "> .999", "< .001"
    ]
    assert out.iloc[1][["Estimate", "95% HDI [LL, UL]", "pd", "P(ROPE)"]].tolist() == [
        "1.23", "[0.90, 1.60]", "1.000", ".250"
    ]
    assert out.attrs["apa"] is True


def test_to_apa_bounded_columns_drop_leading_zero(model):
    pt, mats = model
    std = standardized_summary(mats, pt)
    out = to_apa(std, digits=2)
    assert out.loc[0, "Estimate"].startswith(".")
    assert out["90% HDI [LL, UL]"].iloc[0].startswith("[.")
    # a bounded column with a value beyond 1 keeps its zeros (APA's rule no longer applies)
    tab = pd.DataFrame({"variable": ["y", "z"], "mean": [0.5, 1.2]})
    tab.attrs["kind"] = "standardized"
    assert to_apa(tab)["Estimate"].tolist() == ["0.50", "1.20"]
    # negative values, and no "-0.00"
    tab = pd.DataFrame({"variable": ["y", "z"], "mean": [-0.456, -0.0001]})
    tab.attrs["kind"] = "r2"
    assert to_apa(tab)["Estimate"].tolist() == ["-.46", ".00"]


def test_to_apa_reliability_and_validity_tables(model):
    pt, mats = model
    rel = to_apa(reliability_table(mats, pt))
    assert list(rel.columns) == [
        "Construct", "Level", "k", "\u03b1", "\u03b1 90% HDI [LL, UL]", "CR",
        "CR 90% HDI [LL, UL]", "P(CR \u2265 .70)", "AVE", "AVE 90% HDI [LL, UL]",
        "P(AVE \u2265 .50)",
    ]
    assert rel["k"].tolist() == ["3", "3"]
    assert rel["\u03b1"].tolist() == ["\u2014", "\u2014"]  # no data: em dash
    assert rel["CR"].str.startswith(".").all()
    val = to_apa(validity_table(mats, pt), digits=3)
    assert "P(HTMT < .85)" in val.columns and "r" in val.columns
    assert val["r"].str.match(r"^-?\.\d{3}$").all()


def test_to_apa_options():
    tab = effects_frame()
    out = to_apa(tab, kind="standardized", digits=3, p_digits=2, hdi_prob=0.8, rename=False)
    assert "hdi" in out.columns and "mean" in out.columns
    assert out["mean"].tolist() == ["0.201", "1.234"]  # 1.2345 is beyond 1: zeros kept
    assert out["p_rope"].tolist() == ["< .01", ".25"]
    with pytest.raises(ValueError, match="kind"):
        to_apa(tab, kind="anova")
    tab2 = pd.DataFrame({"score": [0.123]})
    assert to_apa(tab2, bounded=["score"])["score"].tolist() == [".12"]


def test_markdown(model, tmp_path):
    pt, mats = model
    tab = effects_table(mats)
    path = tmp_path / "effects.md"
    text = to_markdown(tab, path)
    lines = text.splitlines()
    assert lines[0].startswith("| From | To | Effect | Via | Estimate |")
    assert lines[1].startswith("|:--|:--|:--|:--|--:|")
    assert len(lines) == 2 + len(tab)
    assert path.read_text(encoding="utf-8") == text
    # an already formatted table is not formatted twice
    assert to_markdown(to_apa(tab)) == text
    raw = to_markdown(tab, apa=False)
    assert "hdi_low" in raw


def test_latex(model, tmp_path):
    pt, mats = model
    rel = reliability_table(mats, pt)
    text = to_latex(rel, caption="Reliability & validity", label="tab:rel",
                    note="CR = composite reliability; 90% HDI.")
    assert text.startswith("\\begin{table}[htbp]")
    assert "\\caption{Reliability \\& validity}" in text and "\\label{tab:rel}" in text
    assert "$\\alpha$" in text and "$\\geq$" in text and "---" in text
    assert "\\toprule" in text and "\\bottomrule" in text and "\\end{table}" in text
    assert "90\\% HDI [LL, UL]" in text
    assert "\\textit{Note.} CR = composite reliability; 90\\% HDI." in text
    eff = to_latex(effects_table(mats), tmp_path / "e.tex")
    assert "\\begin{tabular}{llll" in eff
    assert (tmp_path / "e.tex").read_text(encoding="utf-8") == eff
    tab = pd.DataFrame({"via": ["M1 -> M2"], "x_y": ["a_b"]})
    body = to_latex(tab, apa=False)
    assert "M1 $\\rightarrow$ M2" in body and "x\\_y" in body and "a\\_b" in body


def test_csv(model, tmp_path):
    pt, mats = model
    rr = r2(mats)
    tab = pd.DataFrame({"variable": rr["variable"].values, "mean": rr.values[0, 0]})
    tab.attrs["kind"] = "r2"
    text = to_csv(tab, tmp_path / "r2.csv")
    back = pd.read_csv(io.StringIO(text), dtype=str)
    assert list(back.columns) == ["Variable", "Estimate"]
    assert back["Estimate"].str.startswith(".").all()
    raw = pd.read_csv(io.StringIO(to_csv(tab, apa=False)))
    np.testing.assert_allclose(raw["mean"], tab["mean"])
    assert (tmp_path / "r2.csv").read_text(encoding="utf-8") == text
