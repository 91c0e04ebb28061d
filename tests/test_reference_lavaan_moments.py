"""Checks against lavaan's own numbers (tests/data/README_lavaan.md says how they were made).

* The one implied-moments module reproduces lavaan's implied covariance and mean of
  PoliticalDemocracy from lavaan's estimated matrices.
* A two-level fit of lavaan's ``Demo.twolevel`` example model gives lavaan's ``std.all``
  loadings at both levels.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_rent as br
from bayes_rent.spec.implied import implied_from_matrices

DATA = Path(__file__).parent / "data"

DEMO_TWOLEVEL = """
level: 1
    fw =~ y1 + y2 + y3
    fw ~ x1 + x2 + x3
level: 2
    fb =~ y1 + y2 + y3
    fb ~ w1 + w2
"""


def _matrix(entry: dict) -> pd.DataFrame:
    return pd.DataFrame(entry["values"], index=entry["rownames"], columns=entry["colnames"])


def test_implied_moments_equal_lavaans_on_political_democracy():
    ref = json.loads((DATA / "PoliticalDemocracy_implied.json").read_text())
    est = ref["est"]
    lam = _matrix(est["lambda"])
    latent = list(lam.columns)
    mats = {
        "Lambda": lam.to_numpy(),
        "B": _matrix(est["beta"]).loc[latent, latent].to_numpy(),
        "Psi": _matrix(est["psi"]).loc[latent, latent].to_numpy(),
        "Theta": _matrix(est["theta"]).loc[lam.index, lam.index].to_numpy(),
        "nu": np.asarray(est["nu"]["values"], dtype=float).ravel(),
        "alpha": np.asarray(est["alpha"]["values"], dtype=float).ravel(),
    }
    implied = implied_from_matrices(mats)
    lavaan = ref["implied"]
    cov = _matrix(lavaan["cov"]).loc[lam.index, lam.index].to_numpy()
    mean = pd.Series(lavaan["mean"]["values"], index=lavaan["mean"]["names"]).loc[lam.index]
    np.testing.assert_allclose(implied.sigma, cov, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(implied.mu, mean.to_numpy(), rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def demo_twolevel():
    data = pd.read_csv(DATA / "Demo_twolevel.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        fit = br.sem(DEMO_TWOLEVEL, data, cluster="cluster", draws=500, tune=500, chains=2,
                     seed=3, progressbar=False)
    return fit


def test_twolevel_standardized_loadings_match_lavaan(demo_twolevel):
    fit = demo_twolevel
    assert fit.convergence.max_r_hat < 1.05  # 2 short chains: a loose check of mixing
    ref = pd.read_csv(DATA / "Demo_twolevel_estimates.csv")
    ref = ref.loc[ref["op"] == "=~"].set_index(["lhs", "rhs", "level"])["std.all"]
    std = fit.standardized().query("op == '=~'").set_index(["lhs", "rhs", "level"])
    assert set(std.index) == set(ref.index)
    # lavaan's ML std.all against the posterior: within 3.5 posterior SDs (N = 2 500 firms in
    # 200 clusters, weak priors: the posterior mean sits near the ML estimate)
    z = (std["mean"] - ref.loc[std.index]) / std["sd"]
    print(pd.DataFrame({"mean": std["mean"], "sd": std["sd"], "lavaan": ref.loc[std.index],
                        "z": z}).round(3))
    assert (z.abs() < 3.5).all(), z.to_dict()


def test_twolevel_fit_has_every_blockwise_result(demo_twolevel):
    fit = demo_twolevel
    assert set(fit.standardized()["level"]) == {1, 2}
    r2 = fit.r2()
    assert {("fw", 1), ("fb", 2)} <= set(zip(r2["variable"], r2["level"], strict=True))
    effects = fit.effects()
    direct = effects.query("kind == 'direct' and level == 2")
    assert {"w1", "w2"} <= set(direct["from"])
    assert set(fit.reliability()["level"]) == {1, 2}
    indices = fit.fit_indices()
    assert not indices["defined"].any() and indices["reason"].str.contains("two-level").all()
    scores = fit.scores()
    assert scores.dims == ("chain", "draw", "cluster", "construct")
    assert fit.matrices["Lambda"].dims[0] == "level"
