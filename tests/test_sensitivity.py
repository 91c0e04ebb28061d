"""Prior sweeps (bayes_rent.sensitivity): one compile per sweep, shrinkage, store/resume,
Dask and local workers giving the same numbers."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from conftest import POLITICAL_DEMOCRACY

import bayes_rent as br
import bayes_rent.sampling
from bayes_rent.backend import generic

matplotlib.use("Agg")

#: path-prior SDs from tight to wide
SDS = ["0.05", "0.1", "0.3", "1", "3", "10"]
GRID = {"paths": [f"normal(0,{s})" for s in SDS]}
OPTIONS = dict(draws=200, tune=200, chains=2, seed=20261207, progress=False)
MEDIATED = POLITICAL_DEMOCRACY.replace("dem65 ~ ind60 + dem60", "dem65 ~ ind60 + b*dem60") \
    .replace("dem60 ~ ind60", "dem60 ~ a*ind60") + "ab := a*b\n"


@pytest.fixture(scope="module")
def stored_sweep(pd_data, tmp_path_factory):
    store = tmp_path_factory.mktemp("sweep")
    sweep = br.sensitivity.prior_sweep(MEDIATED, pd_data, GRID, executor="inline",
                                       store=store, effects=True, **OPTIONS)
    return sweep, store


def test_six_setting_sweep_compiles_once(stored_sweep):
    sweep, _ = stored_sweep
    # one compile on the PyMC route (none if another test compiled the structure already),
    # none on the generic log density, which compiles nothing per structure
    assert sweep.compiles <= 1
    assert len(set(sweep.densities)) == 1
    assert sweep.skipped == 0
    assert len(sweep.settings) == 6


def test_path_mean_shrinks_monotonically_with_the_prior_sd(stored_sweep):
    sweep, _ = stored_sweep
    table = sweep.summary()
    path = table.query("lhs == 'dem60' and op == '~' and rhs == 'ind60'")
    assert path["paths"].tolist() == GRID["paths"]
    means = path["mean"].abs().to_numpy()
    assert np.all(np.diff(means) > 0), means
    assert means[0] < 0.1 and means[-1] > 1.0


def test_summary_has_settings_defined_and_indirect_rows(stored_sweep):
    sweep, _ = stored_sweep
    table = sweep.summary()
    assert list(table.columns[:5]) == ["paths", "lhs", "op", "rhs", "label"]
    assert set(table.columns) >= {"mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"}
    assert (table["op"] == ":=").sum() == 6
    assert (table["op"] == "ind").sum() >= 6
    posterior = sweep.posterior
    assert posterior["parameters"].sizes["setting"] == 6
    assert posterior["paths"].values.tolist() == GRID["paths"]
    axes = sweep.plot(["dem60 ~ ind60", "ab"])
    assert len(axes) == 2


def test_store_resume_skips_finished_settings(stored_sweep, pd_data):
    sweep, store = stored_sweep
    assert len(list(store.glob("*.nc"))) == 6 and len(list(store.glob("*.csv"))) == 6
    assert not list(store.glob("*.partial"))
    # one setting lost: only it is fitted again
    lost = sorted(store.glob("*.csv"))[0]
    lost.unlink()
    again = br.sensitivity.prior_sweep(MEDIATED, pd_data, GRID, executor="inline",
                                       store=store, effects=True, **OPTIONS)
    assert again.skipped == 5
    assert again.compiles == 0  # the structure is compiled in this process already
    # the whole sweep back from the store: nothing to fit, nothing compiled
    resumed = br.sensitivity.prior_sweep(MEDIATED, pd_data, GRID, executor=None,
                                         store=store, effects=True, **OPTIONS)
    assert resumed.skipped == 6 and resumed.compiles == 0
    np.testing.assert_allclose(resumed.summary()["mean"], sweep.summary()["mean"])
    np.testing.assert_allclose(again.summary()["mean"], sweep.summary()["mean"])


def test_dask_cluster_gives_the_local_numbers(stored_sweep, pd_data):
    pytest.importorskip("distributed")
    sweep, _ = stored_sweep
    executor = br.sensitivity.dask_executor(n_workers=2)
    client = executor.client
    try:
        remote = br.sensitivity.prior_sweep(MEDIATED, pd_data, GRID, executor=executor,
                                            effects=True, **OPTIONS)
    finally:
        client.close()
        client.cluster.close()
    assert remote.compiles <= 2  # at most once in each worker
    np.testing.assert_allclose(remote.summary()["mean"], sweep.summary()["mean"], rtol=1e-10)
    np.testing.assert_allclose(remote.posterior["parameters"], sweep.posterior["parameters"],
                               rtol=1e-10)


@pytest.mark.slow
def test_one_worker_process_fits_and_nothing_compiles_here(pd_data):
    """Three settings in one spawned worker: the fits run there, and nothing is compiled here.

    The scattered answers are sampled on the generic density, which compiles no model per
    structure, in the worker as here (``compiles == 0``). That the PyMC route compiles once per
    sweep is shown in-process by ``test_pymc_route_sweep_compiles_once``; the multi-group
    PyMC route does not yet take its priors as data, so it cannot show it in a worker.
    """
    before = br.sampling.compiled_models()
    scattered = pd_data.mask(np.random.default_rng(1).random(pd_data.shape) < 0.15)
    with br.sensitivity.local_executor(3, max_workers=1) as pool:
        sweep = br.sensitivity.prior_sweep(POLITICAL_DEMOCRACY, scattered,
                                           {"paths": GRID["paths"][:3]}, executor=pool,
                                           **OPTIONS)
    assert set(sweep.densities) == {"generic"}
    assert sweep.compiles == 0
    assert br.sampling.compiled_models() == before


@pytest.mark.slow
def test_pymc_route_sweep_compiles_once(pd_data, monkeypatch):
    """On the PyMC route the six path priors are ``pm.Data`` of one compiled model, so the
    sweep compiles it once. The generic density would serve this model and compile nothing;
    it is declined here, as the benchmarks do to measure the PyMC route."""
    monkeypatch.setattr(generic, "sample_prepared",
                        lambda *args, **kwargs: (None, "the PyMC route, as the test asks"))
    holes = np.random.default_rng(1).random(pd_data.shape) < 0.15
    scattered = pd_data.mask(holes)
    sweep = br.sensitivity.prior_sweep(POLITICAL_DEMOCRACY, scattered, GRID,
                                       executor="inline", **OPTIONS)
    assert set(sweep.densities) != {"generic"}
    assert sweep.compiles == 1
    means = sweep.summary().query("lhs == 'dem60' and op == '~'")["mean"].abs().to_numpy()
    assert np.all(np.diff(means) > 0), means
