"""A worked comparison of full against partial mediation, as the book's sub-models pose it.

Sub-models 1–4 ask whether knowledge-rent acquisition (KR) fully mediates an antecedent's
effect on international growth (IG), or whether a direct path remains. With data generated
with a direct path, LOO prefers the partial-mediation model by more than 4 (the usual bound for a
small difference in elpd) and by more than two standard errors of the difference. With data
generated without one, the extra path predicts nothing: the difference is small, below 4,
whichever model ranks first. For a null path the difference is about (χ²(1) − 2)/2, which
exceeds 4 with probability 0.002, while full mediation ranks first only with probability 0.84,
so the rank is not asked. The simpler full-mediation model is the one to report, and the direct
path's interval covers zero.
"""

from __future__ import annotations

import bayes_rent as br
from bayes_rent.data.population import simulate_data

MEASUREMENT = """
NC =~ 1*nc1 + 0.9*nc2 + 0.8*nc3
KR =~ 1*kr1 + 0.9*kr2 + 0.8*kr3
IG =~ 1*ig1 + 0.9*ig2 + 0.8*ig3
KR ~~ 0.6*KR
IG ~~ 0.5*IG
"""
FULL = "NC =~ nc1 + nc2 + nc3\nKR =~ kr1 + kr2 + kr3\nIG =~ ig1 + ig2 + ig3\nKR ~ a*NC\n" \
       "IG ~ b*KR\nindirect := a*b\n"
PARTIAL = FULL.replace("IG ~ b*KR", "IG ~ b*KR + c*NC")


def compare_on(population: str, seed: int):
    data = simulate_data(MEASUREMENT + population, 300, seed=seed)
    fits = {
        "full mediation": br.sem(FULL, data, seed=seed, progressbar=False),
        "partial mediation": br.sem(PARTIAL, data, seed=seed, progressbar=False),
    }
    table = br.compare(fits)
    print(table[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "weight"]].to_string())
    return table, fits


def test_direct_path_present_partial_mediation_wins():
    table, fits = compare_on("KR ~ 0.5*NC\nIG ~ 0.4*KR + 0.5*NC", seed=31)
    assert table.index[0] == "partial mediation"
    assert table.loc["full mediation", "elpd_diff"] > 2 * table.loc["full mediation", "dse"]
    assert table.loc["full mediation", "elpd_diff"] > 4
    defined = fits["partial mediation"].defined().set_index("name")
    assert defined.loc["indirect", "hdi_low"] > 0


def test_no_direct_path_the_models_are_indistinguishable():
    table, fits = compare_on("KR ~ 0.5*NC\nIG ~ 0.4*KR", seed=32)
    assert table["elpd_diff"].max() < 4
    direct = fits["partial mediation"].summary().query("label == 'c'").iloc[0]
    assert direct["hdi_low"] < 0 < direct["hdi_high"]
