"""Parameter recovery on data simulated from a six-construct model shaped like the book's.

RE, SE, NC, AC → KR → IG with direct paths to IG, 4–5 indicators each, N = 300, 20 replicates.
The nine structural paths' 90 % HDIs should cover the true values at a rate consistent with
90 %: the check is that the coverage count lies in the central 99 % binomial interval.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import bayes_rent as br
from bayes_rent.data.population import population_values, simulate_data

POPULATION = """
RE =~ 1*re1 + 0.9*re2 + 0.8*re3 + 1.1*re4
SE =~ 1*se1 + 0.8*se2 + 0.9*se3 + 0.7*se4
NC =~ 1*nc1 + 1.2*nc2 + 0.9*nc3 + 0.8*nc4 + 1.0*nc5
AC =~ 1*ac1 + 0.9*ac2 + 1.1*ac3 + 0.8*ac4 + 0.9*ac5
KR =~ 1*kr1 + 0.8*kr2 + 0.9*kr3 + 1.1*kr4
IG =~ 1*ig1 + 0.9*ig2 + 0.8*ig3 + 1.0*ig4
KR ~ 0.30*RE + 0.20*SE + 0.25*NC + 0.35*AC
IG ~ 0.40*KR + 0.10*RE + 0.05*SE + 0.15*NC + 0.10*AC
RE ~~ 0.3*SE + 0.3*NC + 0.3*AC
SE ~~ 0.3*NC + 0.3*AC
NC ~~ 0.4*AC
KR ~~ 0.5*KR
IG ~~ 0.5*IG
"""

# the analysis model: the same structure with every value free (markers fixed to 1)
ANALYSIS = """
RE =~ re1 + re2 + re3 + re4
SE =~ se1 + se2 + se3 + se4
NC =~ nc1 + nc2 + nc3 + nc4 + nc5
AC =~ ac1 + ac2 + ac3 + ac4 + ac5
KR =~ kr1 + kr2 + kr3 + kr4
IG =~ ig1 + ig2 + ig3 + ig4
KR ~ RE + SE + NC + AC
IG ~ KR + RE + SE + NC + AC
"""

REPLICATES = 20


def test_structural_paths_cover_truth_at_nominal_rate():
    truth = population_values(POPULATION).query("op == '~'").set_index(["lhs", "rhs"])["value"]
    model = br.Model(ANALYSIS)
    hits = []
    for rep in range(REPLICATES):
        data = simulate_data(POPULATION, 300, seed=1000 + rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", br.ConvergenceWarning)
            fit = model.fit(data, seed=rep, draws=500, tune=500, progressbar=False)
        assert fit.convergence.max_r_hat < 1.02, fit.convergence.message()
        paths = fit.summary().query("op == '~'").set_index(["lhs", "rhs"])
        inside = (paths["hdi_low"] <= truth) & (truth <= paths["hdi_high"])
        hits.append(inside.to_numpy())
    hits = np.array(hits)
    n, covered = hits.size, int(hits.sum())
    low, high = stats.binom.interval(0.99, n, 0.9)
    print(f"coverage of 90% HDIs: {covered}/{n} = {covered / n:.3f}; "
          f"99% binomial interval for nominal 90%: [{low:.0f}, {high:.0f}]")
    print("per path:", dict(zip(truth.index, hits.mean(axis=0).round(2), strict=True)))
    assert low <= covered <= high


@pytest.mark.parametrize("rate", [0.05])
def test_recovery_with_missing_answers(rate):
    """Full-information fit with 5 % of answers missing: paths still near the truth."""
    truth = population_values(POPULATION).query("op == '~'").set_index(["lhs", "rhs"])["value"]
    data = simulate_data(POPULATION, 300, seed=77, missing_rate=rate)
    fit = br.Model(ANALYSIS).fit(data, seed=1, progressbar=False)
    assert fit.moments.n_total == 300
    paths = fit.summary().query("op == '~'").set_index(["lhs", "rhs"])
    z = ((paths["mean"] - truth) / paths["sd"]).abs()
    print(z.round(2).to_dict())
    assert (z < 3).all()
