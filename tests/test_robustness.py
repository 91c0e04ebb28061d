"""With default settings, 10 seeds each of PoliticalDemocracy and Holzinger–Swineford converge.

Marker-identified SEMs can trap a chain in a degenerate mode (a latent variance collapsing to 0
while its loadings explode); chains start near a penalized ML optimum to avoid it, and a stuck
chain is reported by name. Convergence here means max R-hat ≤ 1.01 and no divergences.
"""

from __future__ import annotations

import pytest
from conftest import HOLZINGER_SWINEFORD, POLITICAL_DEMOCRACY

import bayes_rent as br

SEEDS = range(101, 111)


@pytest.mark.parametrize("name", ["political_democracy", "holzinger_swineford"])
def test_ten_seeds_converge(name, pd_data, hs_data):
    syntax, data = {
        "political_democracy": (POLITICAL_DEMOCRACY, pd_data),
        "holzinger_swineford": (HOLZINGER_SWINEFORD, hs_data),
    }[name]
    model = br.Model(syntax)
    reports = [model.fit(data, seed=s, progressbar=False).convergence for s in SEEDS]
    for seed, r in zip(SEEDS, reports, strict=True):
        print(f"{name} seed {seed}: max R-hat {r.max_r_hat:.4f}, min ESS {r.min_ess_bulk:.0f}, "
              f"divergences {r.divergences}, stuck chains {r.stuck_chains}")
    assert all(r.max_r_hat <= 1.01 for r in reports)
    assert all(r.divergences == 0 for r in reports)
    assert all(not r.stuck_chains for r in reports)
