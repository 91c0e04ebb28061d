"""Power-scaling sensitivity and simulation-based calibration (bayes_rent.sensitivity)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from conftest import HOLZINGER_SWINEFORD, POLITICAL_DEMOCRACY

import bayes_rent as br

matplotlib.use("Agg")

SBC_SYNTAX = "f =~ x1 + x2 + x3 + x4"
SBC_PRIORS = {"loadings": "normal(1,0.3)", "intercepts": "normal(0,1)",
              "variances": "gamma(10,10)[sd]"}
SBC_OPTIONS = dict(n_respondents=200, draws=200, tune=200, chains=2, thin=2,
                   executor="inline", progress=False)


def test_power_scaling_flags_a_tight_path_prior(pd_data):
    fit = br.sem(POLITICAL_DEMOCRACY, pd_data, priors={"paths": "normal(0,0.05)"}, seed=3,
                 draws=500, tune=500, chains=2, progressbar=False)
    ps = br.sensitivity.power_scaling(fit).set_index("parameter")
    assert {"log_prior", "log_likelihood"} <= set(fit.idata.groups())
    assert fit.idata.log_likelihood["y"].sizes["respondent"] == len(pd_data)
    path = ps.loc["dem60 ~ ind60"]
    assert path["prior"] >= 0.05
    assert path["diagnosis"] != "-"


def test_power_scaling_leaves_a_well_identified_cfa_alone(hs_data):
    fit = br.cfa(HOLZINGER_SWINEFORD, hs_data, seed=3, draws=500, tune=500, chains=2,
                 progressbar=False)
    ps = br.sensitivity.power_scaling(fit)
    loadings = ps.loc[ps["parameter"].str.contains("=~")]
    assert len(loadings) == 6
    assert (loadings["prior"] < 0.05).all()
    assert (loadings["likelihood"] >= 0.05).all()
    assert (loadings["diagnosis"] == "-").all()


def test_log_prior_matches_pymc_logp(hs_data):
    """The joint log prior of a draw is the sum of its groups' prior densities."""
    import pymc as pm

    from bayes_rent.spec.priors import prior_distribution

    fit = br.cfa(HOLZINGER_SWINEFORD, hs_data, seed=4, draws=20, tune=50, chains=1,
                 progressbar=False)
    lp = br.sensitivity.log_prior(fit)
    assert lp.dims == ("chain", "draw")
    post = fit.idata.posterior
    by_hand = sum(
        float(pm.logp(prior_distribution(g.spec), post[g.name].values[0, 3]).eval().sum())
        for g in fit.groups
    )
    np.testing.assert_allclose(float(lp[0, 3]), by_hand)


@pytest.fixture(scope="module")
def calibration():
    return br.sensitivity.calibrate(SBC_SYNTAX, 100, seed=20261207, priors=SBC_PRIORS,
                                    **SBC_OPTIONS)


def test_sbc_of_a_small_cfa_rejects_no_parameter(calibration):
    assert calibration.ranks.sizes == {"sim": 100, "parameter": 12}
    assert calibration.compiles <= 1
    ranks = calibration.ranks.values
    assert ranks.min() >= 0 and ranks.max() <= calibration.n_draws
    tests = calibration.test()
    assert (tests["df"] == 9).all()
    assert (tests["p_value"] >= 0.01).all(), tests
    assert len(calibration.plot_ranks()) and len(calibration.plot_ecdf())


def test_sbc_rejects_a_model_whose_prior_is_not_the_generator():
    wrong = br.sensitivity.calibrate(
        SBC_SYNTAX, 40, seed=20261207, priors=SBC_PRIORS,
        generator_priors={**SBC_PRIORS, "loadings": "normal(1.6,0.3)"}, **SBC_OPTIONS)
    tests = wrong.test().set_index("parameter")
    loadings = tests.loc[tests.index.str.startswith("loadings")]
    assert (loadings["p_value"] < 0.01).all(), tests
